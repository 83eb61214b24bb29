"""Failures: one clear line, exit 125, and nothing left behind on the host
(src/errors.c and every step of the setup)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import HUTCH, error_lines

# Runs hutch as the child of a subreaper, so that anything hutch leaves
# running (or leaves to die later) is reparented to the reaper and found
# there, whatever namespace or uid it ended up in. Output goes to files: a
# leftover holding a pipe open must not make the test wait for it.
REAPER = r"""
import ctypes, json, os, signal, subprocess, sys, tempfile, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # CHILD_SUBREAPER
out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=out,
                     stderr=err)
rc = p.wait(timeout=30)

def children():
    found = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat") as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        name = st[st.index("(") + 1:st.rindex(")")]
        # The id keeper outlives runs by design (src/keeper.h): not a leak.
        if rest[1] == str(os.getpid()) and rest[0] != "Z" and name != "hutch-keeper":
            found[int(e)] = name
    return found

def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return

# Something already dying gets a moment; a leak stays.
end = time.monotonic() + 5
while True:
    reap()
    left = children()
    if not left or time.monotonic() > end:
        break
    time.sleep(0.05)
for pid in left:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
time.sleep(0.1)
reap()
out.seek(0), err.seek(0)
print(json.dumps({"rc": rc, "stdout": out.read().decode(errors="replace"),
                  "stderr": err.read().decode(errors="replace"),
                  "left": left}))
"""


def run_reaped(*args):
    """hutch ARGS under a subreaper: (CompletedProcess, leftover processes)."""
    r = subprocess.run([sys.executable, "-c", REAPER, HUTCH, *args],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    done = subprocess.CompletedProcess([HUTCH, *args], res["rc"],
                                       res["stdout"], res["stderr"])
    return done, res["left"]


def host_mount_lines():
    with open("/proc/self/mountinfo") as f:
        return set(f.read().splitlines())


def hutch_tmp_entries():
    found = set()
    for d in ("/tmp", "/var/tmp", os.environ.get("XDG_RUNTIME_DIR")):
        if d and os.path.isdir(d):
            found |= {os.path.join(d, n) for n in os.listdir(d)
                      if n.startswith("hutch")}
    return found


class Snapshot:
    def __init__(self):
        self.mounts = host_mount_lines()
        self.tmp = hutch_tmp_entries()

    def assert_nothing_left(self, leftovers):
        assert leftovers == {}, f"processes left behind: {leftovers}"
        assert host_mount_lines() - self.mounts == set(), "new host mounts"
        assert hutch_tmp_entries() - self.tmp == set(), "temp files left"


def assert_one_error_line(r, *mentions):
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines()
             if not l.startswith("hutch: notice:")]
    assert len(lines) == 1, f"want one error line, got: {r.stderr!r}"
    assert lines[0].startswith("hutch: "), lines[0]
    for m in mentions:
        assert m in lines[0], f"{m!r} not named in {lines[0]!r}"
    return lines[0]


def failing_cases(tmp):
    missing = f"{tmp}/no-such-source"
    return {
        "missing-bind-source": (["--bind", f"{missing}:/x"], [missing]),
        "missing-ro-bind-source": (["--ro-bind", missing], [missing]),
        "bad-tmpfs-size": (["--tmpfs", "/x:lots"], ["lots"]),
        "negative-tmpfs-size": (["--tmpfs", "/x:-1M"], ["-1M"]),
        "relative-tmpfs-destination": (["--tmpfs", "x/y"], ["x/y"]),
        "bad-uid": (["--uid", "abc"], ["--uid", "abc"]),
        "uid-out-of-range": (["--uid", "4294967295"], ["--uid"]),
        "bad-gid": (["--gid", "-5"], ["--gid"]),
        "hostname-too-long": (["--hostname", "h" * 65], ["--hostname"]),
        "missing-chdir": (["--chdir", "/no-such-dir"], ["/no-such-dir"]),
        "destination-under-read-only-usr":
            (["--bind", f"{tmp}:/usr/hutch-no-such-dir"],
             ["/usr/hutch-no-such-dir"]),
        "setenv-without-equals": (["--setenv", "NOEQUALS"], ["NOEQUALS"]),
    }


CASES = sorted(failing_cases("T"))


@pytest.mark.parametrize("case", CASES)
def test_failure_is_one_line_and_leaves_nothing(hutch_bin, userns, tmp_path,
                                                case):
    opts, mentions = failing_cases(tmp_path)[case]
    snap = Snapshot()
    r, left = run_reaped("run", *opts, "--", "sh", "-c", "echo command-ran")
    assert "command-ran" not in r.stdout
    assert_one_error_line(r, *mentions)
    snap.assert_nothing_left(left)


def test_success_leaves_nothing(hutch_bin, userns, tmp_path):
    snap = Snapshot()
    r, left = run_reaped("run", "--bind", f"{tmp_path}:/w", "--tmpfs",
                         "/scratch", "--", "sh", "-c", "sleep 100 & exit 0")
    assert r.returncode == 0, r.stderr
    snap.assert_nothing_left(left)


def test_user_namespaces_disabled(hutch_bin, userns):
    # user.max_user_namespaces is per user namespace: lower it to 0 inside
    # one of our own, where we may, and run hutch there.
    script = ("echo 0 > /proc/sys/user/max_user_namespaces || exit 99; "
              f'exec "{HUTCH}" run -- true')
    r = subprocess.run(["unshare", "-Ur", "sh", "-c", script],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    if r.returncode == 99:
        pytest.skip("cannot lower user.max_user_namespaces in a user "
                    f"namespace here: {r.stderr.strip()}")
    err = error_lines(r.stderr)
    assert r.returncode == 125, r.stderr
    assert len(err) == 1, r.stderr
    assert "max_user_namespaces" in err[0], err[0]
