"""OCI runtime mode as real root (issue 8: "works rootless and as root").
tests/run runs this file as root, after the unprivileged suites; as any
other user every test here skips, saying why.

As root hutch needs no keeper and no subordinate ids: it maps every host id
to itself in the container's user namespace (src/oci-create.c), as runc
without a user namespace, and the container still gets every namespace,
the capability drop, no_new_privs, Landlock and seccomp."""

import json
import os
from pathlib import Path

import pytest

from test_oci import bundle, oci, spec, status, wait_status  # noqa: F401
from test_oci_hooks import left_running

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="OCI mode as root: tests/run runs this file as root")


def test_lifecycle_as_root(oci, bundle, tmp_path):
    log = tmp_path / "hooks.log"
    cfg = spec(["sh", "-c", "id -u; cat /proc/self/uid_map; "
                "grep ^CapEff /proc/self/status; exec sleep 30"])
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["hooks"] = {h: [{"path": "/bin/sh", "args": [
        "sh", "-c", f"echo {h} $(id -u) >> {log}"]}]
        for h in ("createRuntime", "poststart", "poststop")}
    b = bundle(cfg)
    oci("create", "--bundle", str(b), "--pid-file", str(tmp_path / "pid"),
        "r1", check=0)
    s = status(oci, "r1")
    assert s["status"] == "created" and s["pid"] > 0
    assert "notice" not in oci.out.read_text()  # no keeper, no subid talk
    oci("start", "r1", check=0)
    wait_status(oci, "r1", "running")
    for _ in range(200):
        if "CapEff" in oci.out.read_text():
            break
        __import__("time").sleep(0.02)
    out = oci.out.read_text().splitlines()
    # a non-root user works (every id is mapped), and ids are the host's
    assert out[0] == "1000"
    assert out[1].split() == ["0", "0", "4294967295"]
    assert out[2].split()[1] == "0000000000000000"
    command = int(Path(f"/proc/{s['pid']}/task/{s['pid']}/children")
                  .read_text().split()[0])
    assert os.stat(f"/proc/{command}").st_uid == 1000  # the host sees 1000

    r = oci("exec", "r1", "sh", "-c",
            "id -u; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; "
            "exit 6")
    assert r.returncode == 6, r.stderr
    assert r.stdout.split("\n")[0] == "1000"
    assert "NoNewPrivs:\t1" in r.stdout and "Seccomp:\t2" in r.stdout
    pids = json.loads(oci("ps", "--format", "json", "r1", check=0).stdout)
    assert s["pid"] in pids and command in pids

    oci("kill", "r1", "TERM", check=0)
    wait_status(oci, "r1", "stopped")
    oci("delete", "r1", check=0)
    assert not (oci.root / "r1").exists()
    assert left_running(str(b)) == []
    assert log.read_text().split("\n")[:3] == [
        "createRuntime 0", "poststart 0", "poststop 0"]


def test_bad_config_as_root_leaves_nothing(oci, bundle):
    cfg = spec(["true"])
    cfg["hooks"] = {"createContainer": [{"path": "/bin/false"}]}
    b = bundle(cfg)
    r = oci("create", "--bundle", str(b), "r2")
    assert r.returncode == 125 and "hook createContainer[0]" in r.stderr
    assert not (oci.root / "r2").exists() and left_running(str(b)) == []


@pytest.fixture
def containerd(tmp_path, hutch_bin):
    """A containerd of our own (its own root, state and socket; no CRI),
    driven with ctr."""
    import shutil
    import subprocess
    import time
    from conftest import TIMEOUT
    if not shutil.which("containerd") or not shutil.which("ctr"):
        pytest.skip("containerd is not installed (tests/install-deps "
                    "installs it)")
    d = tmp_path / "ctrd"
    d.mkdir()
    (d / "config.toml").write_text(
        f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{d}/sock"\n')
    log = open(d / "log", "w")
    daemon = subprocess.Popen(["containerd", "--config", str(d / "config.toml")],
                              stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL)
    for _ in range(500):
        if (d / "sock").exists():
            break
        time.sleep(0.01)

    def ctr(*args, timeout=TIMEOUT):
        return subprocess.run(["ctr", "-a", str(d / "sock"), *args],
                              capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    ctr.dir = d
    try:
        yield ctr
    finally:
        for line in ctr("task", "ls", "-q").stdout.split():
            ctr("task", "kill", "-s", "KILL", line)
            time.sleep(0.2)
            ctr("task", "delete", line)
        for line in ctr("container", "ls", "-q").stdout.split():
            ctr("container", "rm", line)
        daemon.terminate()
        daemon.wait(timeout=TIMEOUT)
        log.close()
    # the shims exit with their tasks: nothing of this containerd is left
    for _ in range(100):
        if not left_running(str(d)):
            break
        time.sleep(0.05)
    assert left_running(str(d)) == []


def test_containerd_runs_hutch_through_the_runc_shim(containerd, bundle,
                                                     hutch_bin):
    """What README documents: containerd's io.containerd.runc.v2 shim with
    hutch as its runc binary (BinaryName; ctr's --runc-binary)."""
    from conftest import HUTCH
    rootfs = bundle.path / "rootfs"
    run = ["run", "--runtime", "io.containerd.runc.v2", "--runc-binary",
           HUTCH]
    # --rootfs is a flag: the rootfs directory comes where an image would
    r = containerd(*run, "--rm", "--rootfs", str(rootfs), "c1", "/bin/sh", "-c",
                   "echo hi from containerd; cat /proc/1/cmdline; exit 3")
    assert r.returncode == 3, r.stderr
    assert "hi from containerd" in r.stdout
    assert "hutch" in r.stdout  # pid 1 inside is hutch's init

    r = containerd(*run, "-d", "--rootfs", str(rootfs), "c2", "/bin/sleep",
                   "100")
    assert r.returncode == 0, r.stderr
    assert "RUNNING" in containerd("task", "ls").stdout
    r = containerd("task", "exec", "--exec-id", "e1", "c2", "/bin/sh", "-c",
                   "echo exec-ok; exit 4")
    assert r.returncode == 4 and "exec-ok" in r.stdout, r.stderr
    assert containerd("task", "kill", "c2").returncode == 0  # SIGTERM
    for _ in range(200):
        if "STOPPED" in containerd("task", "ls").stdout:
            break
        __import__("time").sleep(0.02)
    assert "STOPPED" in containerd("task", "ls").stdout
    r = containerd("task", "delete", "c2")
    assert r.returncode == 0, r.stderr
    assert containerd("container", "rm", "c2").returncode == 0
