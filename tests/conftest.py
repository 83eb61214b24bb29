"""Shared fixtures for the hutch test suite.

Every test runs the real binary on the real kernel (real user namespaces,
real newuidmap/newgidmap); nothing is mocked. Tests skip, with the reason,
when the host does not allow what they need.

The binary is $HUTCH_BIN, or <repo>/build/hutch.
"""

import functools
import os
import pwd
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HUTCH = os.environ.get("HUTCH_BIN") or str(REPO / "build" / "hutch")
# seconds; a hang is a failure, never a wait for CI's limit. The VMs of tests/vm/ (TCG, several
# times slower) raise it with HUTCH_TEST_TIMEOUT: a bound on a hang, not a timing assertion.
TIMEOUT = int(os.environ.get("HUTCH_TEST_TIMEOUT", "30"))


# --------------------------------------------------------------------------
# Facts about the host and the user running the tests


def user_name():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None


def subid_ranges(kind="uid"):
    """The caller's subordinate ranges from /etc/subuid or /etc/subgid, as
    (start, count) pairs. Entries may name the user or its numeric id."""
    path = "/etc/subuid" if kind == "uid" else "/etc/subgid"
    keys = {user_name(), str(os.getuid())}
    ranges = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) != 3 or parts[0] not in keys:
                    continue
                try:
                    ranges.append((int(parts[1]), int(parts[2])))
                except ValueError:
                    continue
    except OSError:
        pass
    return ranges


@functools.lru_cache(maxsize=None)
def userns_problem():
    """None when this user can create a user namespace, else why not."""
    try:
        r = subprocess.run(["unshare", "-Ur", "true"], capture_output=True,
                           text=True, timeout=TIMEOUT)
    except FileNotFoundError:
        return "unshare (util-linux) is not installed, cannot probe user namespaces"
    if r.returncode != 0:
        return ("this host does not let this user create user namespaces "
                f"(`unshare -Ur true` failed: {r.stderr.strip()})")
    return None


def have_newuidmap():
    return all(os.access(p, os.X_OK)
               for p in ("/usr/bin/newuidmap", "/usr/bin/newgidmap"))


def skip_without_userns():
    reason = userns_problem()
    if reason:
        pytest.skip(reason)


def skip_without_subids():
    """Skip unless the full subordinate mapping is possible for this user."""
    if not subid_ranges("uid") or not subid_ranges("gid"):
        who = user_name() or f"uid {os.getuid()}"
        pytest.skip(f"user {who} has no range in /etc/subuid and /etc/subgid "
                    "(run tests/setup-host as root to create one)")
    if not have_newuidmap():
        pytest.skip("newuidmap/newgidmap are missing (package uidmap)")


# --------------------------------------------------------------------------
# Running hutch


def run_hutch(*args, timeout=TIMEOUT, input=None, stdin=None, env=None,
              **kw):
    """Run hutch with ARGS; return the CompletedProcess (text output).

    stdin is /dev/null unless INPUT or STDIN is given, so hutch never sees
    the terminal pytest may have been started from."""
    if input is None and stdin is None:
        stdin = subprocess.DEVNULL
    return subprocess.run([HUTCH, *map(str, args)], input=input, stdin=stdin,
                          capture_output=True, text=True, timeout=timeout,
                          env=env, **kw)


def error_lines(stderr):
    """hutch's own error lines: every 'hutch:' line but the notices."""
    return [l for l in stderr.splitlines()
            if l.startswith("hutch:") and not l.startswith("hutch: notice:")]


def proc_status_fields(text):
    """Parse /proc/PID/status text into a dict."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


def mountinfo(text):
    """Parse /proc/PID/mountinfo text into dicts with mountpoint, opts
    (per-mount options, a set), fstype and superopts."""
    mounts = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        f = pre.split()
        p = post.split()
        mounts.append({
            "root": unescape_mount(f[3]),
            "mountpoint": unescape_mount(f[4]),
            "opts": set(f[5].split(",")),
            "fstype": p[0],
            "superopts": set(p[2].split(",")) if len(p) > 2 else set(),
        })
    return mounts


def unescape_mount(s):
    return (s.replace("\\040", " ").replace("\\011", "\t")
            .replace("\\012", "\n").replace("\\134", "\\"))


def top_mount(mounts, path):
    """The mount visible at exactly PATH (the last one mounted there)."""
    found = [m for m in mounts if m["mountpoint"] == path]
    return found[-1] if found else None


@pytest.fixture(scope="session")
def hutch_bin():
    if not (os.path.isfile(HUTCH) and os.access(HUTCH, os.X_OK)):
        pytest.fail(f"hutch binary {HUTCH} is missing: build it with "
                    "`meson setup build && meson compile -C build`, or set "
                    "HUTCH_BIN", pytrace=False)
    return HUTCH


@pytest.fixture
def run(hutch_bin):
    """run(*args, **kw): hutch ARGS, as a CompletedProcess."""
    return run_hutch


@pytest.fixture
def userns():
    skip_without_userns()


@pytest.fixture
def subids(userns):
    skip_without_subids()


@pytest.fixture
def sandbox(hutch_bin, userns):
    """sandbox(*cmd, opts=(), **kw): `hutch run OPTS -- CMD`."""
    def _sandbox(*cmd, opts=(), **kw):
        return run_hutch("run", *opts, "--", *cmd, **kw)
    return _sandbox


@pytest.fixture
def sh(sandbox):
    """sh(script, *opts, **kw): `hutch run OPTS -- sh -c SCRIPT`."""
    def _sh(script, *opts, **kw):
        return sandbox("sh", "-c", script, opts=opts, **kw)
    return _sh


def ok(r):
    """Assert a run succeeded; show its output otherwise."""
    assert r.returncode == 0, (
        f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r
