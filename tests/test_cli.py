"""The command line: help, version, option errors, and the man page that
documents every option (src/options.c, man/hutch.1)."""

import re

import pytest

from conftest import REPO, error_lines, ok

SPEC_OPTIONS = ["--uid", "--gid", "--share-net", "--hostname", "--bind",
                "--ro-bind", "--tmpfs", "--chdir", "--setenv", "--unsetenv",
                "--keep-env", "--pass-fd", "--cap-add", "--verbose", "--help"]


def long_options(text):
    return sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)))


def man_text():
    path = REPO / "man" / "hutch.1"
    assert path.is_file(), f"{path} is missing"
    text = path.read_text()
    # troff: "\-" is a dash, "\fB" and friends switch fonts, "\&" is empty.
    text = text.replace("\\-", "-").replace("\\&", "")
    text = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", text)
    return text


def test_version(run):
    r = ok(run("--version"))
    assert r.stdout == "hutch 0.1.0\n"


@pytest.mark.parametrize("args", [["--help"], ["-h"]])
def test_top_help(run, args):
    r = ok(run(*args))
    assert "run" in r.stdout
    assert "--version" in r.stdout


@pytest.mark.parametrize("args", [["run", "--help"], ["run", "-h"]])
def test_run_help_lists_every_option(run, args):
    r = ok(run(*args))
    opts = long_options(r.stdout)
    missing = [o for o in SPEC_OPTIONS if o not in opts]
    assert missing == [], f"`hutch run --help` lacks {missing}"
    assert "-v" in r.stdout.split() or "-v," in r.stdout


def test_man_page_documents_every_option(run):
    opts = long_options(ok(run("run", "--help")).stdout)
    assert opts, "no options found in `hutch run --help`"
    man = man_text()
    undocumented = [o for o in opts if not re.search(
        rf"(?<![\w-]){re.escape(o)}(?![\w-])", man)]
    assert undocumented == [], f"man/hutch.1 does not document {undocumented}"
    assert ".SH EXIT STATUS" in man


@pytest.mark.parametrize("args", [
    ["run", "--no-such-option", "--", "true"],
    ["--no-such-option"],
    ["frobnicate"],
    ["run"],
    ["run", "--"],
    ["run", "--uid"],
    ["run", "--share-net=yes", "--", "true"],
], ids=["unknown-run-option", "unknown-top-option", "unknown-command",
        "no-command", "no-command-after-dashes", "missing-argument",
        "argument-to-flag"])
def test_usage_errors(run, args):
    r = run(*args)
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines()
             if not l.startswith("hutch: notice:")]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("hutch: "), r.stderr
    assert r.stdout == ""


def test_unknown_option_is_named(run):
    r = run("run", "--no-such-option", "--", "true")
    assert "--no-such-option" in error_lines(r.stderr)[0]


def test_no_arguments_prints_usage(run):
    r = run()
    assert r.returncode == 125
    assert "hutch run" in r.stderr and r.stdout == "", r.stderr


def test_option_equals_form(sh):
    r = ok(sh("uname -n; id -u", "--hostname=eqform", "--uid=0"))
    assert r.stdout.split() == ["eqform", "0"]


def test_options_stop_at_command(run, userns):
    """Words after the command belong to it, even ones that look like
    hutch's options."""
    r = ok(run("run", "echo", "--uid", "0", "--help"))
    assert r.stdout == "--uid 0 --help\n"


def test_verbose(run, userns):
    r = run("run", "-v", "--", "true")
    assert r.returncode == 0, r.stderr
    steps = [l for l in r.stderr.splitlines()
             if l.startswith("hutch: ") and not l.startswith("hutch: notice:")]
    assert len(steps) >= 2, r.stderr
    quiet = run("run", "--", "true")
    assert error_lines(quiet.stderr) == [], quiet.stderr
