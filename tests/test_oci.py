"""OCI runtime mode (issue 8): the runtime-spec command line that podman,
containerd and CRI-O drive, on bundles the tests write: a busybox-static root
and a config.json. Real kernel, real processes; the state lives under a
per-test --root."""

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import HUTCH, TIMEOUT

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def spec(args, **over):
    cfg = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0},
                    "args": args, "cwd": "/",
                    "env": ["PATH=/bin", "OCI_TEST=yes"]},
        "root": {"path": "rootfs"},
        "hostname": "ocitest",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": t} for t in
                                 ("pid", "network", "ipc", "uts", "mount",
                                  "user", "cgroup")]},
        "annotations": {"org.example": "kept"},
    }
    cfg.update(over)
    return cfg


@pytest.fixture
def bundle(tmp_path, userns):
    if not os.access(BUSYBOX, os.X_OK):
        pytest.skip("busybox-static is not installed")
    b = tmp_path / "bundle"
    (b / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, b / "rootfs" / "bin" / "busybox")
    for name in ("sh", "sleep", "true", "echo", "cat", "id", "hostname"):
        (b / "rootfs" / "bin" / name).symlink_to("busybox")

    def write(cfg):
        (b / "config.json").write_text(json.dumps(cfg))
        return b
    write.path = b
    return write


@pytest.fixture
def oci(tmp_path, hutch_bin):
    root = tmp_path / "state"
    calls = []

    def call(*args, check=None):
        # create leaves a monitor holding stdout/stderr: never a pipe here;
        # each call its own file, so the container's output stays readable
        out = tmp_path / f"out{len(calls)}"
        calls.append(out)
        if "create" in args:
            call.out = out
        with open(out, "w") as f, open(tmp_path / "err", "w+") as err:
            r = subprocess.run([HUTCH, "--root", str(root), *args],
                               stdin=subprocess.DEVNULL, stdout=f, stderr=err,
                               timeout=TIMEOUT)
            err.seek(0)
            r.stderr = err.read()
        r.stdout = out.read_text()
        if check is not None:
            assert r.returncode == check, r.stderr
        return r
    call.root = root
    yield call
    # never leave a container behind, whatever the test did
    if root.exists():
        for d in root.iterdir():
            subprocess.run([HUTCH, "--root", str(root), "delete", "--force",
                            d.name], capture_output=True, timeout=TIMEOUT)


def status(oci, cid):
    return json.loads(oci("state", cid, check=0).stdout)


def wait_status(oci, cid, want):
    for _ in range(500):
        s = status(oci, cid)
        if s["status"] == want:
            return s
        time.sleep(0.02)
    raise AssertionError(f"{cid} never became {want}: {s}")


def test_lifecycle(oci, bundle, tmp_path):
    b = bundle(spec(["sh", "-c", "echo started $(hostname) $OCI_TEST; "
                     "exec sleep 30"]))
    pidfile = tmp_path / "pid"
    oci("create", "--bundle", str(b), "--pid-file", str(pidfile), "c1",
        check=0)
    s = status(oci, "c1")
    assert s["status"] == "created"
    assert s["id"] == "c1" and s["bundle"] == str(b)
    assert s["annotations"] == {"org.example": "kept"}
    assert s["created"].endswith("Z") and "T" in s["created"]
    # state's pid is the container's init, alive and waiting; the pid file
    # names its parent, hutch's monitor, which exits with the container's
    # status (what conmon waits for)
    stat = Path(f"/proc/{s['pid']}/stat").read_text()
    assert int(stat.rsplit(")", 1)[1].split()[1]) == int(pidfile.read_text())
    assert "started" not in oci.out.read_text()  # not before start

    oci("start", "c1", check=0)
    assert wait_status(oci, "c1", "running")["pid"] == s["pid"]
    for _ in range(100):
        if "started" in oci.out.read_text():
            break
        time.sleep(0.02)
    assert "started ocitest yes" in oci.out.read_text()
    # a running container is not deleted without --force
    assert oci("delete", "c1").returncode != 0
    assert oci("start", "c1").returncode != 0  # not twice

    oci("kill", "c1", "KILL", check=0)
    assert wait_status(oci, "c1", "stopped")["pid"] == 0
    oci("delete", "c1", check=0)
    assert oci("state", "c1").returncode != 0
    assert not (oci.root / "c1").exists()


def test_pid_1_cmdline_shows_no_bundle_path(oci, bundle):
    # the init is a copy of `hutch --root STATE create --bundle HOSTPATH ID`
    b = bundle(spec(["cat", "/proc/1/cmdline"]))
    oci("create", "--bundle", str(b), "cmdline", check=0)
    oci("start", "cmdline", check=0)
    wait_status(oci, "cmdline", "stopped")
    assert oci.out.read_bytes() == b"hutch-init\0"
    oci("delete", "cmdline", check=0)


def test_created_command_shows_no_launcher_cmdline(oci, bundle):
    # between create and start the command (pid 2) waits, a fork of the init
    oci("create", "--bundle", str(bundle(spec(["sleep", "30"]))), "waiting",
        check=0)
    init = status(oci, "waiting")["pid"]
    children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
    assert len(children) == 1, children
    assert Path(f"/proc/{children[0]}/cmdline").read_bytes() == b"hutch-init\0"
    oci("delete", "--force", "waiting", check=0)


def test_kill_sigterm_in_created_state_and_delete(oci, bundle):
    oci("create", "--bundle", str(bundle(spec(["sleep", "30"]))), "c2",
        check=0)
    pid = status(oci, "c2")["pid"]
    oci("kill", "c2", "15", check=0)
    wait_status(oci, "c2", "stopped")
    assert not Path(f"/proc/{pid}/stat").exists() or \
        Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    oci("delete", "c2", check=0)


def test_delete_created_container_kills_it(oci, bundle):
    oci("create", "--bundle", str(bundle(spec(["sleep", "30"]))), "c3",
        check=0)
    pid = status(oci, "c3")["pid"]
    oci("delete", "c3", check=0)
    assert not (oci.root / "c3").exists()
    assert not Path(f"/proc/{pid}").exists()


def test_list(oci, bundle):
    oci("create", "--bundle", str(bundle(spec(["sleep", "30"]))), "l1",
        check=0)
    r = oci("list", "--format", "json", check=0)
    assert [c["id"] for c in json.loads(r.stdout)] == ["l1"]
    assert json.loads(r.stdout)[0]["status"] == "created"


def test_duplicate_id_refused(oci, bundle):
    b = bundle(spec(["sleep", "30"]))
    oci("create", "--bundle", str(b), "dup", check=0)
    pid = status(oci, "dup")["pid"]
    r = oci("create", "--bundle", str(b), "dup")
    assert r.returncode != 0 and "exists" in r.stderr
    assert status(oci, "dup")["pid"] == pid  # the first one is untouched


@pytest.mark.parametrize("cid", ["a/b", "..", ".", ""])
def test_bad_ids_refused(oci, bundle, cid):
    r = oci("create", "--bundle", str(bundle(spec(["true"]))), cid)
    assert r.returncode != 0 and "invalid container id" in r.stderr
    assert not oci.root.exists() or list(oci.root.iterdir()) == []


def bad_config_case(name, b):
    if name == "malformed":
        (b.path / "config.json").write_text('{"process": ')
        return "not valid JSON"
    if name == "no-rootfs":
        shutil.rmtree(b.path / "rootfs")
        b(spec(["true"]))
        return "No such file or directory"
    if name == "namespace":
        cfg = spec(["true"])
        cfg["linux"]["namespaces"].append({"type": "bogus"})
        b(cfg)
        return "unknown namespace type 'bogus'"
    if name == "join":
        cfg = spec(["true"])
        cfg["linux"]["namespaces"][0]["path"] = "/proc/1/ns/pid"
        b(cfg)
        return "pid namespace /proc/1/ns/pid"
    if name == "no-args":
        b(spec([]))
        return "process.args"


@pytest.mark.parametrize("case", ["malformed", "no-rootfs", "namespace",
                                  "join", "no-args"])
def test_bad_config_leaves_nothing(oci, bundle, case):
    bundle(spec(["true"]))
    want = bad_config_case(case, bundle)
    r = oci("create", "--bundle", str(bundle.path), "bad")
    assert r.returncode != 0
    assert want in r.stderr
    assert [l for l in r.stderr.splitlines() if "warning" not in l]
    assert not (oci.root / "bad").exists()


def test_log_file_gets_errors_as_json(oci, bundle, tmp_path):
    log = tmp_path / "log.json"
    r = subprocess.run([HUTCH, "--root", str(oci.root), "--log", str(log),
                        "--log-format", "json", "--systemd-cgroup", "state",
                        "nosuch"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode != 0
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"]


def test_limits_reach_the_plan(oci, bundle):
    """resources go through the same setters as hutch run's --memory/--pids:
    a nonsense value is refused with hutch run's own wording."""
    cfg = spec(["true"])
    cfg["linux"]["resources"] = {"pids": {"limit": 1}}
    r = oci("create", "--bundle", str(bundle(cfg)), "lim")
    assert r.returncode != 0 and "--pids" in r.stderr
    assert not (oci.root / "lim").exists()


def test_spec_and_features(tmp_path, hutch_bin):
    r = subprocess.run([HUTCH, "spec", "--bundle", str(tmp_path)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["root"]["path"] == "rootfs" and cfg["process"]["args"]
    r = subprocess.run([HUTCH, "spec", "--bundle", str(tmp_path)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0  # never overwrites
    r = subprocess.run([HUTCH, "features"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert json.loads(r.stdout)["ociVersionMax"] == "1.0.2"


# --------------------------------------------------------------------------
# A real engine: rootless podman with hutch as its runtime


@pytest.fixture
def podman(tmp_path, hutch_bin, userns):
    exe = shutil.which("podman")
    if not exe:
        pytest.skip("podman is not installed")
    if not os.access(BUSYBOX, os.X_OK):
        pytest.skip("busybox-static is not installed")
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(xdg))
    # storage of its own, so that nothing is shared with other runs; podman
    # wants a runroot path under 50 characters
    runroot = tempfile.mkdtemp(prefix="hutch-oci-", dir="/tmp")
    base = [exe, "--root", str(tmp_path / "storage"), "--runroot",
            runroot, "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--runtime", HUTCH]

    def call(*args, timeout=60, **kw):
        return subprocess.run([*base, *args], env=env, capture_output=True,
                              text=True, timeout=timeout, **kw)
    root = tmp_path / "img"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for name in ("sh", "true", "echo", "id", "cat", "hostname", "sleep"):
        (root / "bin" / name).symlink_to("busybox")
    subprocess.run(["tar", "-C", str(root), "-cf", str(tmp_path / "bb.tar"),
                    "."], check=True)
    r = call("import", str(tmp_path / "bb.tar"), "localhost/hutch-oci-test")
    if r.returncode != 0:
        pytest.skip(f"podman cannot import an image here: {r.stderr.strip()}")
    yield call
    call("rmi", "-af")
    call("unshare", "rm", "-rf", str(tmp_path / "storage"), runroot)
    shutil.rmtree(runroot, ignore_errors=True)
    # rootless podman leaves a pause process per XDG_RUNTIME_DIR: ours
    pause = xdg / "libpod" / "tmp" / "pause.pid"
    if pause.exists():
        try:
            os.kill(int(pause.read_text()), 9)
        except (ValueError, ProcessLookupError):
            pass


def test_podman_run_rm(podman):
    r = podman("run", "--rm", "--network", "none", "localhost/hutch-oci-test",
               "/bin/sh", "-c", "echo hi from hutch; id -u; exit 3")
    assert r.returncode == 3, r.stderr
    assert "hi from hutch" in r.stdout and "0" in r.stdout.split()
    r = podman("run", "--rm", "--network", "none", "localhost/hutch-oci-test",
               "/bin/true")
    assert r.returncode == 0, r.stderr


def test_podman_run_slirp4netns(podman):
    """podman's default rootless network: a namespace it made, with
    slirp4netns behind it; hutch joins it by path."""
    if not shutil.which("slirp4netns"):
        pytest.skip("slirp4netns is not installed")
    r = podman("run", "--rm", "localhost/hutch-oci-test", "/bin/cat",
               "/proc/net/dev")
    assert r.returncode == 0, r.stderr
    assert "tap0" in r.stdout


def test_console_socket_gets_the_pty(oci, bundle, tmp_path):
    """process.terminal with --console-socket: the pty master comes over the
    socket (SCM_RIGHTS, what conmon expects) and the command's stdio is the
    pty's slave."""
    import socket
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    cfg = spec(["sh", "-c", "test -t 0 && test -t 1 && echo on-a-tty"])
    cfg["process"]["terminal"] = True
    b = bundle(cfg)
    r = oci("create", "--bundle", str(b), "--console-socket", path, "t1")
    assert r.returncode == 0, r.stderr
    conn, _ = srv.accept()
    _, fds, _, _ = socket.recv_fds(conn, 64, 1)
    assert len(fds) == 1
    master = fds[0]
    oci("start", "t1", check=0)
    out = b""
    deadline = time.time() + 10
    while b"on-a-tty" not in out and time.time() < deadline:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert b"on-a-tty" in out


def test_terminal_without_console_socket_is_refused(oci, bundle):
    cfg = spec(["true"])
    cfg["process"]["terminal"] = True
    r = oci("create", "--bundle", str(bundle(cfg)), "t2")
    assert r.returncode != 0 and "--console-socket" in r.stderr
    assert not (oci.root / "t2").exists()


def test_podman_run_tty(podman):
    r = podman("run", "-t", "--rm", "--network", "none",
               "localhost/hutch-oci-test", "/bin/sh", "-c",
               "test -t 0 && test -t 1 && echo tty-ok",
               stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "tty-ok" in r.stdout


def test_podman_detach_stop_kill_rm(podman):
    r = podman("run", "-d", "--network", "none", "localhost/hutch-oci-test",
               "/bin/sleep", "100")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert "Up" in podman("ps", "--format", "{{.ID}} {{.Status}}").stdout
    r = podman("stop", "-t", "5", cid)
    assert r.returncode == 0, r.stderr
    r = podman("inspect", "--format", "{{.State.ExitCode}}", cid)
    assert r.stdout.strip() == "143"  # SIGTERM reached sleep through hutch
    assert podman("rm", cid).returncode == 0
    cid = podman("run", "-d", "--network", "none", "localhost/hutch-oci-test",
                 "/bin/sleep", "100").stdout.strip()
    assert podman("kill", cid).returncode == 0
    assert podman("wait", cid).stdout.strip() == "137"
    assert podman("rm", "-f", cid).returncode == 0
    assert podman("ps", "-aq").stdout.strip() == ""


def test_exec_joins_the_running_container(oci, bundle, tmp_path):
    oci("create", "--bundle", str(bundle(spec(["sleep", "30"]))), "e1",
        check=0)
    # not before start
    assert oci("exec", "e1", "true").returncode != 0
    oci("start", "e1", check=0)
    r = oci("exec", "e1", "sh", "-c",
            "hostname; echo $OCI_TEST; cat /proc/1/status | grep ^NSpid; "
            "grep -E '^(CapEff|Seccomp):' /proc/self/status; exit 5")
    assert r.returncode == 5, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "ocitest" and lines[1] == "yes"
    assert lines[2].split()[-1] == "1"  # the container's pid namespace
    assert "CapEff:\t0000000000000000" in r.stdout  # nothing kept
    assert "Seccomp:\t2" in r.stdout  # filtered like the command
    # the wording engines map to 127
    r = oci("exec", "e1", "no-such-command")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    # --process FILE, detached, with a pid file
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["sleep", "20"], "cwd": "/",
                                "env": ["PATH=/bin"]}))
    pidfile = tmp_path / "exec.pid"
    oci("exec", "--process", str(proc), "--detach", "--pid-file",
        str(pidfile), "e1", check=0)
    pid = int(pidfile.read_text())
    # the pid file is written as the process starts; its execve may still be under way
    deadline = time.monotonic() + 5
    while (not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep")
           and time.monotonic() < deadline):
        time.sleep(0.02)
    assert Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep")
    r = oci("ps", "--format", "json", "e1", check=0)
    assert pid in json.loads(r.stdout)


def test_podman_exec(podman):
    cid = podman("run", "-d", "localhost/hutch-oci-test", "/bin/sleep",
                 "100").stdout.strip()
    try:
        r = podman("exec", cid, "/bin/sh", "-c", "echo exec-ok; exit 4")
        assert r.returncode == 4 and "exec-ok" in r.stdout, r.stderr
        r = podman("exec", "-t", cid, "/bin/sh", "-c",
                   "test -t 1 && echo tty-ok", stdin=subprocess.DEVNULL)
        assert "tty-ok" in r.stdout, r.stderr
        assert podman("exec", cid, "no-such-command").returncode == 127
    finally:
        podman("rm", "-f", cid)


def test_resources_limit_the_container(oci, bundle):
    """linux.resources goes through hutch's cgroup code, as --pids does: 20
    background sleeps under a limit of 8 processes cannot all fork."""
    from cgtools import need_delegation
    need_delegation("--pids=8")
    script = ("i=0; while [ $i -lt 20 ]; do sleep 2 & i=$((i+1)); done; "
              "wait; echo done")
    cfg = spec(["sh", "-c", script + " 2>&1"])
    cfg["linux"]["resources"] = {"pids": {"limit": 8}}
    oci("create", "--bundle", str(bundle(cfg)), "r1", check=0)
    oci("start", "r1", check=0)
    wait_status(oci, "r1", "stopped")
    limited = oci.out.read_text()
    # the same without the limit forks them all
    cfg["linux"].pop("resources")
    bundle(cfg)
    oci("delete", "r1", check=0)
    oci("create", "--bundle", str(bundle.path), "r2", check=0)
    oci("start", "r2", check=0)
    wait_status(oci, "r2", "stopped")
    # busybox sh gives up when it cannot fork: it never gets to "done"
    assert "done" not in limited
    assert "done" in oci.out.read_text()


def test_preserve_fds(oci, bundle, tmp_path):
    """--preserve-fds N: fds 3..3+N-1 of create reach the container."""
    secret = tmp_path / "passed"
    secret.write_text("through fd 3\n")
    cfg = spec(["sh", "-c", "cat <&3"])
    b = bundle(cfg)
    # the shell opens fd 3 and execs create with it
    # (never a pipe for create's stdio: the monitor keeps it)
    with open(tmp_path / "cout", "w") as out, \
            open(tmp_path / "cerr", "w") as err:
        r = subprocess.run(["sh", "-c", 'exec 3<"$1"; shift; exec "$@"', "sh",
                            str(secret), HUTCH, "--root", str(oci.root),
                            "create", "--bundle", str(b), "--preserve-fds",
                            "1", "p1"], stdin=subprocess.DEVNULL, stdout=out,
                           stderr=err, timeout=TIMEOUT)
    r.stderr = (tmp_path / "cerr").read_text()
    assert r.returncode == 0, r.stderr
    oci("start", "p1", check=0)
    wait_status(oci, "p1", "stopped")
    assert (tmp_path / "cout").read_text() == "through fd 3\n"
