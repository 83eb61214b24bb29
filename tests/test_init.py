"""hutch-init, pid 1 of the sandbox, and the launcher around it
(src/init.c, src/monitor.c)."""

import os
import random
import select
import signal
import subprocess
import time

import pytest

from conftest import HUTCH, ok

DEADLINE = 10.0  # seconds; generous, only there so a bug cannot hang CI


def test_pid_1_is_hutch_init(sh):
    r = ok(sh("cat /proc/1/comm"))
    assert r.stdout == "hutch-init\n"


def test_pid_1_cmdline_is_only_the_inits_name(run, userns, tmp_path):
    # /proc/PID/cmdline takes no access right; the init is a copy of the
    # launcher, whose command line holds host paths (here a bind's source)
    # and every option. Inside, pid 1 shows its own name and nothing else.
    src = tmp_path / "host-secret-dir"
    src.mkdir()
    r = ok(run("run", "--ro-bind", f"{src}:/data", "--setenv", "X=launcher-arg",
               "--", "cat", "/proc/1/cmdline"))
    assert r.stdout == "hutch-init\0", repr(r.stdout)


def test_command_is_pid_2(sh):
    r = ok(sh("echo $$; cut -d' ' -f4 /proc/$$/stat"))
    pid, ppid = r.stdout.split()
    assert (pid, ppid) == ("2", "1")


def test_orphans_are_reaped(sh):
    # The inner shell leaves a short sleep behind and exits; the sleep is
    # reparented to pid 1, which must reap it when it ends. A zombie keeps
    # its /proc entry, so wait (bounded) until the entry goes away.
    script = r"""
    sh -c 'sleep 0.2 & echo $! > /tmp/orphan; exit 0'
    orphan=$(cat /tmp/orphan)
    i=0
    while [ -e /proc/$orphan ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    if [ -e /proc/$orphan ]; then
        echo "not reaped: $(grep State /proc/$orphan/status)"
    fi
    grep -l '^State:.*Z' /proc/[0-9]*/status || true
    """
    r = ok(sh(script))
    assert r.stdout == "", r.stdout


def test_many_orphans_are_reaped(sh):
    script = r"""
    for i in 1 2 3 4 5 6 7 8; do sh -c 'sleep 0.1 & exit 0'; done
    sleep 1
    grep -l '^State:.*Z' /proc/[0-9]*/status || true
    """
    r = ok(sh(script))
    assert r.stdout == "", r.stdout


def test_exit_status_of_command_not_of_orphans(sh):
    """The sandbox ends with the command's status, even if an orphan it
    left exits differently afterwards."""
    r = sh("sh -c 'sleep 0.3; exit 9' & exit 4")
    assert r.returncode == 4


def test_nothing_runs_once_hutch_returned(sh, tmp_path):
    """hutch returns as soon as the init reports the command's exit
    (src/monitor.c, may_return_early): by then every other process of the
    sandbox must be gone. A background writer that ignores SIGTERM and
    SIGHUP, appending to a bound host file as fast as it can, must have
    stopped when hutch returns: the file may not grow afterwards."""
    out = tmp_path / "ticks"
    out.write_text("")
    r = sh("trap '' TERM HUP; (while :; do echo x >> /w/ticks; done) & "
           "while [ ! -s /w/ticks ]; do :; done; exit 5",
           "--bind", f"{tmp_path}:/w")
    assert r.returncode == 5, r.stderr
    size = out.stat().st_size
    assert size > 0
    time.sleep(0.3)
    assert out.stat().st_size == size, "a process of the sandbox still ran"


def wait_for_line(proc, want, deadline=DEADLINE):
    """Read proc.stdout (a pipe) until a line equal to WANT arrives."""
    fd = proc.stdout.fileno()
    buf = b""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        if want.encode() + b"\n" in buf:
            return buf
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"never saw {want!r}: stdout {buf + out!r}, stderr {err!r}")


@pytest.mark.parametrize("sig", ["TERM", "INT", "HUP", "USR1", "USR2",
                                 "QUIT", "WINCH"])
def test_signals_are_forwarded(hutch_bin, userns, sig):
    script = (f'trap "echo got-{sig}; exit 3" {sig}; echo ready; '
              "while :; do sleep 0.05; done")
    proc = subprocess.Popen([HUTCH, "run", "--", "sh", "-c", script],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        seen = wait_for_line(proc, "ready")
        proc.send_signal(getattr(signal, f"SIG{sig}"))
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = seen + out
    assert f"got-{sig}".encode() in out, (out, err)
    assert proc.returncode == 3, (proc.returncode, out, err)


def test_signal_death_is_reported(hutch_bin, userns):
    """A command killed by a forwarded signal: 128+N."""
    proc = subprocess.Popen([HUTCH, "run", "--", "sh", "-c",
                             "echo ready; exec sleep 1000"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for_line(proc, "ready")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM


def pids_with_cmdline(argv):
    want = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() == want:
                    found.append(int(entry))
        except OSError:
            pass
    return found


def wait_until(cond, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.parametrize("script", [
    "exec sleep {n}",
    # The command ignores every signal it can and has children of its own.
    "trap '' TERM HUP INT QUIT USR1 USR2; sleep {n} & sleep {n}; wait",
], ids=["plain", "ignoring-signals"])
def test_killing_launcher_kills_sandbox(hutch_bin, userns, script):
    n = str(random.randint(10**6, 10**7))
    marker = ["sleep", n]
    proc = subprocess.Popen([HUTCH, "run", "--", "sh", "-c",
                             script.format(n=n)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: pids_with_cmdline(marker)), (
            "the sandboxed sleep never started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=DEADLINE)
        gone = wait_until(lambda: not pids_with_cmdline(marker))
        left = pids_with_cmdline(marker)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids_with_cmdline(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert gone, f"sandbox processes survived the launcher: {left}"
