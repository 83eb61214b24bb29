"""Helpers for the cgroup, limit and report tests (test_cgroup.py,
test_limits.py, test_report.py).

A test that needs a delegated cgroup asks hutch itself: a run with a limit
either works or exits 125 saying what is missing, and that message becomes
the skip reason. tests/run sets HUTCH_REQUIRE_CGROUPS=1 for the user it has
delegated cgroups to, so there a missing delegation fails instead of
skipping."""

import functools
import json
import os
import subprocess

import pytest

from cgpaths import cgroup_dirs_of
from conftest import HUTCH, TIMEOUT, error_lines


@functools.lru_cache(maxsize=None)
def delegation_problem(option="--memory=64M"):
    r = subprocess.run([HUTCH, "run", option, "--", "true"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=TIMEOUT)
    if r.returncode == 0:
        return None
    return "; ".join(error_lines(r.stderr)) or f"exit {r.returncode}"


def skip_unless_required(problem, required_by, fail_text, skip_text):
    """Skip with SKIP_TEXT when the host lacks something (PROBLEM); but where the
    environment variable REQUIRED_BY is 1 (tests/run prepared it), fail."""
    if problem is None:
        return
    if os.environ.get(required_by) == "1":
        pytest.fail(fail_text, pytrace=False)
    pytest.skip(skip_text)


def need_delegation(option="--memory=64M"):
    problem = delegation_problem(option)
    skip_unless_required(problem, "HUTCH_REQUIRE_CGROUPS",
                         f"no usable cgroup delegation: {problem}",
                         f"no cgroup delegated to this user ({problem}); "
                         "tests/setup-host delegates one to hutch-test")


def report_of(path):
    with open(path) as f:
        return json.load(f)


def own_cgroup_dirs():
    """Our own cgroup directory in each mounted hierarchy: {mountpoint: dir}."""
    return cgroup_dirs_of("self")


def cgroups_of(report):
    return list(report.get("cgroups", {}).values())
