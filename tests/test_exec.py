"""Starting the command: exit status, environment, file descriptors and
working directory (src/command.c, src/env.c)."""

import os
import signal
import subprocess

import pytest

from conftest import HUTCH, error_lines, ok


# ---- exit status

def test_exit_code_is_the_commands(sh):
    assert sh("exit 7").returncode == 7
    assert sh("exit 0").returncode == 0
    assert sh("exit 255").returncode == 255


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM,
                                 signal.SIGSEGV])
def test_killed_by_signal_is_128_plus_n(sh, sig):
    r = sh(f"kill -{int(sig)} $$")
    assert r.returncode == 128 + sig, r.stderr


def test_not_executable_is_126(sandbox):
    r = sandbox("/etc/passwd")
    assert r.returncode == 126, r.stderr
    assert "/etc/passwd" in r.stderr


def test_directory_as_command_is_126(sandbox):
    r = sandbox("/usr")
    assert r.returncode == 126, r.stderr


def test_missing_path_is_127(sandbox):
    r = sandbox("/nonexistent")
    assert r.returncode == 127, r.stderr
    assert "/nonexistent" in r.stderr


def test_missing_command_is_127(sandbox):
    r = sandbox("nonexistent-cmd-xyz")
    assert r.returncode == 127, r.stderr
    assert "nonexistent-cmd-xyz" in r.stderr


def test_command_found_through_path(sandbox):
    r = ok(sandbox("uname", "-s"))
    assert r.stdout == "Linux\n"


def test_command_arguments_pass_unchanged(sandbox):
    args = ["a b", "", "--uid", "-x", "$HOME", "*"]
    r = ok(sandbox("python3", "-c", "import sys; print(sys.argv[1:])", *args))
    assert r.stdout.strip() == repr(args)


def test_stdio_passes_through(sandbox):
    r = sandbox("sh", "-c", "cat; echo err >&2; exit 0", input="in-data\n")
    assert r.returncode == 0
    assert r.stdout == "in-data\n"
    assert r.stderr.splitlines()[-1] == "err"


# ---- environment

BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_TIME": "C",
    "TZ": "UTC",
    "TERM": "xterm-test",
    "FOO_SECRET": "1",
    "SSH_AUTH_SOCK": "/tmp/fake-agent.sock",
    "DISPLAY": ":99",
}


def caller_env(**extra):
    env = dict(BASE_ENV)
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    env.update(extra)
    return env


def env_inside(sandbox, *opts, env=None):
    r = ok(sandbox("env", opts=opts, env=env or caller_env()))
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out


def inside_home():
    return "/root" if os.getuid() == 0 else os.environ.get("HOME")


def test_env_is_cleared_to_safe_set(sandbox):
    env = env_inside(sandbox)
    assert "FOO_SECRET" not in env
    assert "SSH_AUTH_SOCK" not in env
    assert "DISPLAY" not in env
    for k in env:
        assert (k in ("PATH", "TERM", "LANG", "TZ", "HOME")
                or k.startswith("LC_")), f"{k} leaked into the sandbox"


def test_env_keeps_safe_variables(sandbox):
    env = env_inside(sandbox)
    for k in ("PATH", "LANG", "LC_TIME", "TZ", "TERM"):
        assert env.get(k) == BASE_ENV[k], k


def test_home_points_inside(sandbox):
    env = env_inside(sandbox)
    assert env["HOME"] == inside_home()
    env = env_inside(sandbox, "--uid", "0")
    assert env["HOME"] == "/root"


def test_setenv(sandbox):
    env = env_inside(sandbox, "--setenv", "A=B", "--setenv", "EMPTY=",
                     "--setenv", "EQ=x=y")
    assert (env["A"], env["EMPTY"], env["EQ"]) == ("B", "", "x=y")


def test_setenv_overrides_kept_variable(sandbox):
    env = env_inside(sandbox, "--setenv", "LANG=fr_FR.UTF-8")
    assert env["LANG"] == "fr_FR.UTF-8"


def test_unsetenv(sandbox):
    env = env_inside(sandbox, "--unsetenv", "LANG")
    assert "LANG" not in env
    assert env["PATH"] == BASE_ENV["PATH"]


def test_keep_env(sandbox):
    env = env_inside(sandbox, "--keep-env")
    assert env["FOO_SECRET"] == "1"
    assert env["DISPLAY"] == ":99"
    assert env["HOME"] == inside_home()


def test_keep_env_with_unsetenv(sandbox):
    env = env_inside(sandbox, "--keep-env", "--unsetenv", "FOO_SECRET")
    assert "FOO_SECRET" not in env
    assert env["DISPLAY"] == ":99"


# ---- file descriptors

def list_fds(*opts, pass_fds=()):
    r = subprocess.run([HUTCH, "run", *opts, "--", "sh", "-c",
                        "ls /proc/$$/fd"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30, pass_fds=pass_fds)
    ok(r)
    return sorted(int(x) for x in r.stdout.split())


def test_only_stdio_fds_arrive(hutch_bin, userns, tmp_path):
    extra = os.open(tmp_path / "leak", os.O_RDWR | os.O_CREAT, 0o600)
    high = os.dup2(extra, 37, inheritable=True)
    try:
        assert list_fds(pass_fds=(extra, high)) == [0, 1, 2]
    finally:
        os.close(extra)
        os.close(high)


def test_pass_fd(hutch_bin, userns, tmp_path):
    (tmp_path / "data").write_text("through-the-fd\n")
    fd = os.open(tmp_path / "data", os.O_RDONLY)
    other = os.open(tmp_path / "data", os.O_RDONLY)
    try:
        assert list_fds("--pass-fd", str(fd), pass_fds=(fd, other)) == \
            [0, 1, 2, fd]
        r = subprocess.run([HUTCH, "run", "--pass-fd", str(fd), "--", "sh",
                            "-c", f"cat /proc/self/fd/{fd}"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30, pass_fds=(fd,))
        assert ok(r).stdout == "through-the-fd\n"
    finally:
        os.close(fd)
        os.close(other)


def test_pass_fd_not_open_is_an_error(run, userns):
    r = run("run", "--pass-fd", "77", "--", "true")
    assert r.returncode == 125
    assert len(error_lines(r.stderr)) == 1 and "77" in r.stderr, r.stderr


# ---- working directory

def test_chdir_option(sh, tmp_path):
    r = ok(sh("pwd", "--chdir", "/tmp"))
    assert r.stdout.strip() == "/tmp"
    (tmp_path / "f").write_text("")
    r = ok(sh("pwd; ls", "--bind", f"{tmp_path}:/w", "--chdir", "/w"))
    assert r.stdout.split() == ["/w", "f"]


def test_default_cwd_is_callers_when_visible(sh, tmp_path):
    (tmp_path / "here").write_text("")
    r = ok(sh("pwd; ls", "--bind", str(tmp_path), cwd=tmp_path))
    assert r.stdout.split() == [str(tmp_path), "here"]


def test_default_cwd_falls_back_to_home(sh, tmp_path):
    # tmp_path is not inside the sandbox (its /tmp is empty).
    r = ok(sh('pwd; echo "$HOME"', cwd=tmp_path))
    pwd, home = r.stdout.splitlines()
    assert pwd == home and pwd != str(tmp_path)


def test_cwd_is_inside_new_root(sh, tmp_path):
    """Even when the caller's directory is not visible, the command's
    directory is a real path inside the sandbox, not a leftover handle on
    the host's tree."""
    (tmp_path / "marker").write_text("")
    r = ok(sh("readlink /proc/self/cwd; ls -A .", cwd=tmp_path))
    assert not r.stdout.startswith("(unreachable)")
    assert "marker" not in r.stdout
