"""OCI runtime mode (issue 8): what `exec` gives the process it starts (the
container command's confinement, the launcher's signals, its exit status),
what `ps` lists, and the ids a container gets inside an engine's user
namespace."""

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HUTCH, TIMEOUT
from test_oci import (bundle, oci, podman, spec, status,  # noqa: F401
                      wait_status)


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    return max(libc.syscall(444, None, 0, 1), 0)


def exec_sleeper(oci, tmp_path, cid):
    """`exec --detach` a sleep into container CID; its host pid."""
    proc = tmp_path / "p.json"
    proc.write_text(json.dumps({"args": ["sleep", "25"], "cwd": "/",
                                "env": ["PATH=/bin"]}))
    oci("exec", "--process", str(proc), "--detach", "--pid-file",
        str(tmp_path / "x.pid"), cid, check=0)
    return int((tmp_path / "x.pid").read_text())


def started(oci, bundle, cid, cfg=None):
    oci("create", "--bundle", str(bundle(cfg or spec(["sleep", "30"]))), cid,
        check=0)
    oci("start", cid, check=0)
    return wait_status(oci, cid, "running")


def test_exec_is_confined_like_the_command(oci, bundle, tmp_path):
    """Landlock reaches the exec'd process: with the host's network shared
    (no network namespace in config.json), an abstract unix socket on the
    host is out of its reach, as it is for the container's command. Stray
    fds of the launcher are closed; caps, no_new_privs, seccomp as before.
    The host's /usr is bound in for python3."""
    if landlock_abi() < 6:
        pytest.skip("Landlock ABI 6 (abstract unix socket scoping) is not "
                    "available on this kernel")
    root = bundle.path / "rootfs"
    (root / "usr").mkdir()
    (root / "lib").symlink_to("usr/lib")
    (root / "lib64").symlink_to("usr/lib64")
    name = f"hutch-oci-exec-{os.getpid()}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind("\0" + name)
    srv.listen(4)
    probe = ("import socket; s = socket.socket(socket.AF_UNIX); "
             f"s.connect('\\0{name}'); print('connected')")
    cfg = spec(["sh", "-c", f"python3 -c \"{probe}\" 2>&1; exec sleep 30"])
    cfg["process"]["env"][0] = "PATH=/usr/bin:/bin"
    cfg["linux"]["namespaces"] = [{"type": t} for t in
                                  ("pid", "ipc", "uts", "mount", "user")]
    cfg["mounts"].append({"destination": "/usr", "type": "bind",
                          "source": "/usr", "options": ["rbind", "ro"]})
    started(oci, bundle, "x1", cfg)
    r = oci("exec", "x1", "python3", "-c", probe)
    assert r.returncode != 0 and "PermissionError" in r.stderr, r.stdout
    assert "connected" not in r.stdout
    for _ in range(100):  # the command got the same answer
        if "Error" in oci.out.read_text():
            break
        time.sleep(0.02)
    assert "PermissionError" in oci.out.read_text()
    # the control: from outside the sandbox the socket is reachable
    c = socket.socket(socket.AF_UNIX)
    c.connect("\0" + name)
    c.close()

    # fds: only 0, 1, 2 (and ls's own directory) reach the process
    with open("/etc/hostname") as leak:
        fd = leak.fileno()
        r = subprocess.run([HUTCH, "--root", str(oci.root), "exec", "x1",
                            "ls", "/proc/self/fd"], capture_output=True,
                           text=True, timeout=TIMEOUT, pass_fds=(fd,))
    assert r.returncode == 0, r.stderr
    assert str(fd) not in r.stdout.split()
    r = oci("exec", "x1", "grep", "-E", "^(NoNewPrivs|CapEff|Seccomp):",
            "/proc/self/status", check=0)
    assert "NoNewPrivs:\t1" in r.stdout and "Seccomp:\t2" in r.stdout
    assert "CapEff:\t0000000000000000" in r.stdout


def test_exec_may_signal_the_container(oci, bundle):
    """Landlock's signal scope is left out for exec (the pid namespace
    already stops signals at the container's edge): `kill 1` reaches the
    container's pid 1, which passes SIGTERM to the command."""
    started(oci, bundle, "x2")
    r = oci("exec", "x2", "sh", "-c", "kill -TERM 1")
    # 137: the container ended (and took the exec'd sh with it) first
    assert r.returncode in (0, 137) and "kill" not in r.stderr, r.stderr
    wait_status(oci, "x2", "stopped")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGHUP])
def test_exec_forwards_signals_and_exit_status(oci, bundle, tmp_path, sig):
    started(oci, bundle, "x3")
    out = tmp_path / "exec-out"
    script = (f"trap 'echo got; exit 7' {sig.name[3:]}; echo ready; "
              "while :; do sleep 0.05; done")
    with open(out, "w") as f:
        p = subprocess.Popen([HUTCH, "--root", str(oci.root), "exec", "x3",
                              "sh", "-c", script], stdout=f,
                             stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while "ready" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "ready" in out.read_text()
        p.send_signal(sig)
        assert p.wait(timeout=10) == 7
        assert "got" in out.read_text()
    finally:
        p.kill()
        p.wait()
    # killed by a signal it does not catch: 128 + the signal
    p = subprocess.Popen([HUTCH, "--root", str(oci.root), "exec", "x3",
                          "sleep", "20"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 128 + signal.SIGTERM


def test_ps_lists_every_process_init_included(oci, bundle, tmp_path):
    s = started(oci, bundle, "p1")
    extra = exec_sleeper(oci, tmp_path, "p1")
    pids = json.loads(oci("ps", "--format", "json", "p1", check=0).stdout)
    command = int(Path(f"/proc/{s['pid']}/task/{s['pid']}/children")
                  .read_text().split()[0])
    # the init (pid 1 inside), the command and the exec'd process; not
    # hutch's monitor outside
    assert s["pid"] in pids and command in pids and extra in pids
    monitor = int(Path(f"/proc/{s['pid']}/stat").read_text()
                  .rsplit(")", 1)[1].split()[1])
    assert monitor not in pids and len(pids) == 3
    # the table: ps -ef's header and the same rows; ps arguments pass on
    r = oci("ps", "p1", check=0)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"]
    assert sorted(int(l.split()[1]) for l in lines[1:]) == sorted(pids)
    r = oci("ps", "p1", "-o", "pid,comm", check=0)
    assert r.stdout.splitlines()[0].split() == ["PID", "COMMAND"]
    assert {int(l.split()[0]) for l in r.stdout.splitlines()[1:]} == set(pids)
    oci("kill", "p1", "KILL", check=0)
    wait_status(oci, "p1", "stopped")
    r = oci("ps", "p1")
    assert r.returncode == 1 and "is not running" in r.stderr


def test_podman_container_gets_podmans_whole_range(podman):
    """Inside rootless podman's user namespace hutch is root with
    CAP_SETUID there: the container maps every id podman has, so an image's
    non-root user works."""
    r = podman("run", "--rm", "--network", "none", "--user", "1000:1000",
               "localhost/hutch-oci-test", "/bin/sh", "-c",
               "id -u; id -g; cat /proc/self/uid_map")
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    assert out[0] == "1000" and out[1] == "1000"
    assert sum(int(l.split()[2]) for l in out[2:] if l.strip()) > 1
    # podman stop: SIGTERM reaches a command that became another user
    cid = podman("run", "-d", "--network", "none", "--user", "1000",
                 "localhost/hutch-oci-test", "/bin/sleep", "100").stdout.strip()
    try:
        assert podman("stop", "-t", "5", cid).returncode == 0
        r = podman("inspect", "--format", "{{.State.ExitCode}}", cid)
        assert r.stdout.strip() == "143"
    finally:
        podman("rm", "-f", cid)


def test_exec_joins_the_containers_cgroup(oci, bundle, tmp_path):
    """With limits the container has a cgroup of hutch's own; an exec'd
    process is moved into it (in every hierarchy) before it can fork, so the
    limits count it and the container's end kills it. Its pid is told (the
    --pid-file, --detach returning) only once it is there: `exec` runs on
    one CPU, where the new process would run last, after exec and its
    launcher have exited (it failed once under ASan, timing alone)."""
    from cgtools import need_delegation
    need_delegation("--pids=16")
    cfg = spec(["sleep", "30"])
    cfg["linux"]["resources"] = {"pids": {"limit": 16}}
    s = started(oci, bundle, "g1", cfg)
    want = Path(f"/proc/{s['pid']}/cgroup").read_text()
    assert "/sandbox" in want  # hutch's own leaf
    proc = tmp_path / "p.json"
    proc.write_text(json.dumps({"args": ["sleep", "25"], "cwd": "/",
                                "env": ["PATH=/bin"]}))
    cpu = min(os.sched_getaffinity(0))
    for i in range(10):
        pidfile = tmp_path / f"x{i}.pid"
        subprocess.run([HUTCH, "--root", str(oci.root), "exec", "--process",
                        str(proc), "--detach", "--pid-file", str(pidfile),
                        "g1"], check=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
        pid = int(pidfile.read_text())
        assert Path(f"/proc/{pid}/cgroup").read_text() == want, i


def test_exec_runs_nothing_outside_the_containers_cgroup(oci, bundle):
    """The exec'd command's own first look at its cgroups already finds it
    where the init is: the launcher moves it and checks it is there before
    it lets it run. In the container's cgroup namespace (rooted where the
    init is, in every hierarchy) that is "/" on each line; a hierarchy it
    was not moved into shows a path above the root."""
    from cgtools import need_delegation
    need_delegation("--pids=16")
    cfg = spec(["sleep", "30"])
    cfg["linux"]["resources"] = {"pids": {"limit": 16}}
    started(oci, bundle, "g2", cfg)
    for i in range(5):
        r = oci("exec", "g2", "cat", "/proc/self/cgroup")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines and all(line.endswith(":/") for line in lines), \
            (i, r.stdout)


def test_kill_all_reaches_every_process(oci, bundle, tmp_path):
    """kill --all: the signal goes to every process of the container (as
    ps lists them), not only to its command."""
    cfg = spec(["sh", "-c", "trap 'echo usr1' USR1; "
                "while :; do sleep 0.05; done"])
    started(oci, bundle, "k1", cfg)
    extra = exec_sleeper(oci, tmp_path, "k1")

    def gone(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] \
                == "Z"
        except OSError:
            return True
    oci("kill", "k1", "USR1", check=0)  # the command only
    time.sleep(0.3)
    assert not gone(extra)
    oci("kill", "--all", "k1", "USR1", check=0)
    deadline = time.monotonic() + 5
    while not gone(extra) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(extra)
    assert status(oci, "k1")["status"] == "running"  # the trap held
    assert "usr1" in oci.out.read_text()
