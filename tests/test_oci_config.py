"""OCI runtime mode (issue 8), config.json's linux.* beyond the core:
maskedPaths/readonlyPaths, sysctl, devices, id maps, namespaces joined by
path and cgroupsPath, each through `hutch create/start` on bundles the tests
write, as the unprivileged user. Bad input: one error line, exit 125, no
state left."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import subid_ranges
from test_oci import (BUSYBOX, bundle, oci, podman, spec,  # noqa: F401
                      status, wait_status)

SYSFS = {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]}


def run_to_end(oci, b, cid):
    """create + start + wait; the container's output."""
    r = oci("create", "--bundle", str(b), cid)
    assert r.returncode == 0, r.stderr
    oci("start", cid, check=0)
    wait_status(oci, cid, "stopped")
    out = oci.out.read_text()
    oci("delete", cid, check=0)
    return out


def refused(oci, b, want):
    r = oci("create", "--bundle", str(b), "bad")
    assert r.returncode == 125, r.stderr
    errors = [l for l in r.stderr.splitlines() if "warning" not in l]
    assert len(errors) == 1 and want in errors[0], r.stderr
    assert not (oci.root / "bad").exists()
    return errors[0]


# --------------------------------------------------------------------------
# maskedPaths, readonlyPaths, /sys


def test_masked_and_readonly_paths(oci, bundle):
    root = bundle.path / "rootfs"
    (root / "etc").mkdir()
    (root / "etc" / "secret").write_text("top secret\n")
    (root / "opt" / "private").mkdir(parents=True)
    (root / "opt" / "private" / "key").write_text("k\n")
    (root / "data").mkdir()
    for name in ("ls", "touch", "grep", "wc"):
        (root / "bin" / name).symlink_to("busybox")
    cfg = spec(["sh", "-c",
                "echo secret=$(cat /etc/secret); ls /opt/private | wc -l; "
                "touch /opt/private/x 2>/dev/null || echo masked-dir-ro; "
                "touch /data/x 2>/dev/null || echo data-ro; "
                "touch /tmp/x && echo tmp-rw; "
                "ls /sys/firmware | wc -l; ls /sys/class >/dev/null && echo sys; "
                "ls /sys/fs/cgroup | wc -l; "
                "echo 1 > /proc/sys/kernel/shmmax 2>/dev/null || echo procsys-ro"])
    cfg["mounts"].append(SYSFS)
    cfg["linux"]["maskedPaths"] = ["/etc/secret", "/opt/private",
                                   "/sys/firmware", "/proc/kcore",
                                   "/no/such/path"]
    cfg["linux"]["readonlyPaths"] = ["/data", "/proc/sys", "/no/such/dir"]
    out = run_to_end(oci, bundle(cfg), "m1").split("\n")
    assert out[0] == "secret="  # /dev/null over the file
    assert out[1] == "0"  # an empty tmpfs over the directory
    assert "masked-dir-ro" in out and "data-ro" in out and "tmp-rw" in out
    assert out[out.index("tmp-rw") + 1] == "0"  # /sys/firmware masked
    assert "sys" in out  # the config's sysfs mount
    assert out[out.index("sys") + 1] == "0"  # no host cgroup tree
    assert "procsys-ro" in out


def test_masked_path_symlink_stays_inside(oci, bundle, tmp_path):
    """A masked path through a symlink that points at a host path resolves
    inside the root: the host file at that name is never the target."""
    host = tmp_path / "hostside"
    host.mkdir()
    (host / "file").write_text("host\n")
    root = bundle.path / "rootfs"
    (root / "link").symlink_to(str(host))
    (root / str(host).lstrip("/")).mkdir(parents=True)
    (root / str(host).lstrip("/") / "file").write_text("inside\n")
    cfg = spec(["sh", "-c", "cat /link/file; echo end"])
    cfg["linux"]["maskedPaths"] = ["/link/file"]
    assert run_to_end(oci, bundle(cfg), "m2") == "end\n"
    assert (host / "file").read_text() == "host\n"


def test_relative_masked_path_refused(oci, bundle):
    cfg = spec(["true"])
    cfg["linux"]["maskedPaths"] = ["proc/kcore"]
    refused(oci, bundle(cfg), "not an absolute path")


# --------------------------------------------------------------------------
# sysctl


def test_sysctl_written_inside(oci, bundle):
    cfg = spec(["sh", "-c",
                "cat /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max "
                "/proc/sys/net/ipv4/ping_group_range "
                "/proc/sys/net/ipv4/ip_unprivileged_port_start; "
                "hostname; cat /proc/sys/kernel/domainname"])
    cfg["linux"]["sysctl"] = {
        "kernel.shmmax": "123456789", "fs.mqueue.msg_max": "17",
        "net.ipv4.ping_group_range": "0 0",
        "net.ipv4.ip_unprivileged_port_start": "80",
        "kernel.hostname": "fromsysctl", "kernel.domainname": "example.org"}
    host = {k: Path(f"/proc/sys/{k}").read_text() for k in
            ("kernel/shmmax", "net/ipv4/ip_unprivileged_port_start",
             "kernel/domainname")}
    out = run_to_end(oci, bundle(cfg), "s1").split("\n")
    assert out[:6] == ["123456789", "17", "0\t0", "80", "fromsysctl",
                       "example.org"]
    # the host kept its own values
    assert host == {k: Path(f"/proc/sys/{k}").read_text() for k in host}


def test_net_sysctl_in_a_network_namespace_of_its_own(oci, bundle):
    """With CAP_NET_ADMIN kept the container gets a network namespace its
    own user namespace owns, and the init writes net.* itself."""
    cfg = spec(["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"])
    cfg["process"]["capabilities"] = {"bounding": ["CAP_NET_ADMIN"]}
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "81"}
    assert run_to_end(oci, bundle(cfg), "s2") == "81\n"


@pytest.mark.parametrize("key,want", [
    ("vm.swappiness", "vm.swappiness is not namespaced"),
    ("kernel.panic", "kernel.panic is not namespaced"),
    ("net/../vm.x", "is not namespaced"),
])
def test_host_sysctl_refused(oci, bundle, key, want):
    cfg = spec(["true"])
    cfg["linux"]["sysctl"] = {key: "1"}
    refused(oci, bundle(cfg), want)


def test_net_sysctl_needs_a_network_namespace(oci, bundle):
    cfg = spec(["true"])
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                  if n["type"] != "network"]
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    refused(oci, bundle(cfg), "net.ipv4.ip_forward is not namespaced")


def test_sysctl_unknown_key_fails_cleanly(oci, bundle):
    cfg = spec(["true"])
    cfg["linux"]["sysctl"] = {"kernel.shmmax": "not-a-number"}
    refused(oci, bundle(cfg), "kernel.shmmax")


# --------------------------------------------------------------------------
# devices


def test_devices_bound_from_the_host(oci, bundle):
    for dev in ("/dev/fuse", "/dev/net/tun"):
        if not os.access(dev, os.R_OK | os.W_OK):
            pytest.skip(f"{dev} is not usable here (tests/setup-host makes it 0666)")
    cfg = spec(["sh", "-c", "ls -l /dev/fuse /dev/tun-here; "
                "exec 3<>/dev/fuse && echo opened"])
    for name in ("ls",):
        (bundle.path / "rootfs" / "bin" / name).symlink_to("busybox")
    cfg["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
        # another name inside: the host's node with these numbers
        {"path": "/dev/tun-here", "type": "c", "major": 10, "minor": 200}]
    cfg["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229,
         "access": "rwm"}]}
    r = oci("create", "--bundle", str(bundle(cfg)), "d1")
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr  # deny-all, then allows: nothing lost
    oci("start", "d1", check=0)
    wait_status(oci, "d1", "stopped")
    out = oci.out.read_text()
    assert "10, 229" in out and "/dev/fuse" in out
    assert "10, 200" in out and "/dev/tun-here" in out
    assert "opened" in out  # a usable node: its mount is not nodev


@pytest.mark.parametrize("dev,want", [
    ({"path": "/dev/hutch-nonesuch", "type": "c", "major": 1, "minor": 99},
     "the host has no such device node"),
    ({"path": "/dev/fuse", "type": "b", "major": 10, "minor": 229},
     "the host has no such device node"),
    ({"path": "dev/x", "type": "c", "major": 1, "minor": 3},
     "needs an absolute path"),
])
def test_bad_devices_refused(oci, bundle, dev, want):
    cfg = spec(["true"])
    cfg["linux"]["devices"] = [dev]
    refused(oci, bundle(cfg), want)


def test_device_deny_rule_warns(oci, bundle):
    cfg = spec(["true"])
    cfg["linux"]["resources"] = {"devices": [
        {"allow": False, "type": "c", "major": 1, "minor": 3,
         "access": "rwm"}]}
    r = oci("create", "--bundle", str(bundle(cfg)), "d2")
    assert r.returncode == 0, r.stderr
    assert "linux.resources.devices" in r.stderr and "c 1:3" in r.stderr


# --------------------------------------------------------------------------
# uidMappings / gidMappings


def test_id_maps_honoured(oci, bundle, subids):
    uid, gid = os.getuid(), os.getgid()
    (su, sn), (sg, gn) = subid_ranges("uid")[0], subid_ranges("gid")[0]
    cfg = spec(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map"])
    cfg["linux"]["uidMappings"] = [
        {"containerID": 0, "hostID": uid, "size": 1},
        {"containerID": 1000, "hostID": su + 10, "size": 100}]
    cfg["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": gid, "size": 1},
        {"containerID": 1000, "hostID": sg + 10, "size": 100}]
    out = run_to_end(oci, bundle(cfg), "u1").split()
    nums = [int(x) for x in out]
    assert nums[:6] == [0, uid, 1, 1000, su + 10, 100]
    assert nums[6:12] == [0, gid, 1, 1000, sg + 10, 100]


def test_id_maps_process_user_taken_before_exec(oci, bundle, subids):
    (su, sn), (sg, gn) = subid_ranges("uid")[0], subid_ranges("gid")[0]
    cfg = spec(["sh", "-c", "id -u; id -g"])
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["linux"]["uidMappings"] = [
        {"containerID": 0, "hostID": os.getuid(), "size": 1},
        {"containerID": 1000, "hostID": su, "size": 10}]
    cfg["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": os.getgid(), "size": 1},
        {"containerID": 1000, "hostID": sg, "size": 10}]
    assert run_to_end(oci, bundle(cfg), "u2").split() == ["1000", "1000"]


def test_additional_gids_are_the_commands_groups(oci, bundle, subids):
    """process.user.additionalGids: set with setgroups before exec (mapped gids
    from the subordinate range); without them the command keeps no extra group."""
    cfg = spec(["sh", "-c", "id -G"])
    cfg["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [5, 20, 100]}
    assert run_to_end(oci, bundle(cfg), "g1").split() == ["0", "5", "20", "100"]


def test_additional_gids_not_a_gid_refused(oci, bundle):
    cfg = spec(["true"])
    cfg["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": ["wheel"]}
    refused(oci, bundle(cfg), "process.user.additionalGids[0]: not an integer")


def test_id_maps_without_own_id_refused(oci, bundle, subids):
    (su, sn), (sg, gn) = subid_ranges("uid")[0], subid_ranges("gid")[0]
    cfg = spec(["true"])
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": su,
                                    "size": 10}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": sg,
                                    "size": 10}]
    refused(oci, bundle(cfg), "must map your own id")


def test_id_maps_not_owned_refused(oci, bundle, subids):
    cfg = spec(["true"])
    cfg["linux"]["uidMappings"] = [
        {"containerID": 0, "hostID": os.getuid(), "size": 1},
        {"containerID": 1, "hostID": 0, "size": 1}]  # the host's root
    cfg["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": os.getgid(), "size": 1}]
    refused(oci, bundle(cfg), "host ids 0-0 are not yours to map")


# --------------------------------------------------------------------------
# namespaces by path


def command_pid(oci, cid):
    """The container's command (pid 2 inside): dumpable, so its
    /proc/PID/ns can be opened."""
    init = status(oci, cid)["pid"]
    kids = Path(f"/proc/{init}/task/{init}/children").read_text().split()
    assert kids, "the container's command is not there"
    return int(kids[0])


def test_join_ipc_uts_user_of_another_container(oci, bundle):
    b = bundle(spec(["sleep", "30"]))
    oci("create", "--bundle", str(b), "pod", check=0)
    oci("start", "pod", check=0)
    wait_status(oci, "pod", "running")
    pid = command_pid(oci, "pod")
    ns = {t: f"/proc/{pid}/ns/{t}" for t in ("ipc", "uts", "user")}
    cfg = spec(["sh", "-c", "hostname; for t in ipc uts user; do "
                "readlink /proc/self/ns/$t; done"], hostname="other")
    (bundle.path / "rootfs" / "bin" / "readlink").symlink_to("busybox")
    cfg["linux"]["namespaces"] = [
        {"type": t, "path": ns[t]} if t in ns else {"type": t}
        for t in ("pid", "network", "ipc", "uts", "mount", "user")]
    out = run_to_end(oci, bundle(cfg), "member").split("\n")
    assert out[0] == "ocitest"  # the pod's uts namespace, its name
    assert out[1:4] == [os.readlink(ns[t]) for t in ("ipc", "uts", "user")]


def test_join_pid_namespace_with_its_user_namespace(oci, bundle):
    """Kubernetes' shareProcessNamespace: the member sees the pod's
    processes (it joins the pod's user namespace too, which owns them)."""
    b = bundle(spec(["sleep", "31"]))
    oci("create", "--bundle", str(b), "pod", check=0)
    oci("start", "pod", check=0)
    wait_status(oci, "pod", "running")
    pid = command_pid(oci, "pod")
    cfg = spec(["sh", "-c", "cat /proc/*/cmdline | tr '\\0' ' '; echo"])
    (bundle.path / "rootfs" / "bin" / "tr").symlink_to("busybox")
    cfg["linux"]["namespaces"] = [
        {"type": t, "path": f"/proc/{pid}/ns/{t}"} if t in ("pid", "user")
        else {"type": t} for t in ("pid", "network", "ipc", "uts", "mount",
                                   "user")]
    out = run_to_end(oci, bundle(cfg), "member")
    assert "sleep 31" in out


def test_join_wrong_type_refused(oci, bundle):
    cfg = spec(["true"])
    cfg["linux"]["namespaces"][2] = {"type": "ipc",
                                     "path": "/proc/self/ns/uts"}
    refused(oci, bundle(cfg), "is not a ipc namespace")


def test_join_missing_path_refused(oci, bundle):
    cfg = spec(["true"])
    cfg["linux"]["namespaces"][3] = {"type": "uts",
                                     "path": "/proc/999999999/ns/uts"}
    refused(oci, bundle(cfg), "uts namespace /proc/999999999/ns/uts")


def test_join_host_network_namespace_refused(oci, bundle):
    """A network namespace the caller may open but not enter (the host's):
    the error names it, and nothing is left."""
    cfg = spec(["true"])
    cfg["linux"]["namespaces"][1] = {"type": "network",
                                     "path": "/proc/self/ns/net"}
    refused(oci, bundle(cfg),
            "cannot enter the network namespace /proc/self/ns/net")


@pytest.mark.parametrize("ns,file", [("mount", "mnt"), ("time", "time")])
def test_join_mount_or_time_namespace_refused(oci, bundle, ns, file):
    cfg = spec(["true"])
    cfg["linux"]["namespaces"].append({"type": ns,
                                       "path": f"/proc/self/ns/{file}"})
    if ns == "mount":
        cfg["linux"]["namespaces"].pop(4)
    refused(oci, bundle(cfg), f"joining the {ns} namespace")


def test_join_host_namespace_refused(oci, bundle):
    """The host's (init's) uts namespace belongs to the host's root: not
    joinable for a rootless caller."""
    cfg = spec(["true"])
    cfg["linux"]["namespaces"][3] = {"type": "uts", "path": "/proc/1/ns/uts"}
    err = refused(oci, bundle(cfg), "uts namespace /proc/1/ns/uts")
    assert "ermission denied" in err or "not permitted" in err


# --------------------------------------------------------------------------
# cgroupsPath


def cgroup_dirs(oci, cid):
    """The container's cgroup directories on the host, one per hierarchy
    it is in (/proc/PID/cgroup read from outside its cgroup namespace)."""
    dirs = []
    text = Path(f"/proc/{status(oci, cid)['pid']}/cgroup").read_text()
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        mnt = "unified" if ctrls == "" else ctrls.replace("name=", "")
        d = Path("/sys/fs/cgroup") / mnt / path.lstrip("/")
        if d.exists():
            dirs.append(d)
    return dirs


def test_cgroups_path_relative(oci, bundle):
    from cgtools import need_delegation
    need_delegation("--pids=8")
    cfg = spec(["sleep", "30"])
    top = f"hutch-oci-test-{os.getpid()}"
    cfg["linux"]["cgroupsPath"] = f"{top}/ctr"
    cfg["linux"]["resources"] = {"pids": {"limit": 20}}
    oci("create", "--bundle", str(bundle(cfg)), "cg1", check=0)
    dirs = cgroup_dirs(oci, "cg1")
    try:
        ours = [d.parent for d in dirs if d.name == "sandbox" and
                d.parent.name == "ctr" and d.parent.parent.name == top]
        assert ours, dirs
        pids = [d for d in ours if "pids" in d.parts]
        assert pids and (pids[0] / "pids.max").read_text().strip() == "20"
        oci("delete", "--force", "cg1", check=0)
        # the container's cgroup went with it; its parent stays, as with runc
        deadline = time.monotonic() + 5
        while any(d.exists() for d in ours) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(d.exists() for d in ours)
        assert all(d.parent.exists() for d in ours)
    finally:
        for d in ours:
            if d.parent.exists():
                d.parent.rmdir()


def test_cgroups_path_absolute(oci, bundle):
    """An absolute cgroupsPath below a cgroup the user may write (here: the
    test's own v2 cgroup)."""
    own = [l for l in Path("/proc/self/cgroup").read_text().splitlines()
           if l.startswith("0::")]
    base = Path("/sys/fs/cgroup/unified")
    if not own or not base.is_dir():
        pytest.skip("no cgroup v2 hierarchy at /sys/fs/cgroup/unified")
    path = own[0][3:].rstrip("/")
    if not os.access(base / path.lstrip("/"), os.W_OK):
        pytest.skip(f"the test's own v2 cgroup {path} is not writable here")
    cfg = spec(["sleep", "30"])
    cfg["linux"]["cgroupsPath"] = f"{path}/hutch-abs-{os.getpid()}"
    r = oci("create", "--bundle", str(bundle(cfg)), "cg3")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    text = Path(f"/proc/{status(oci, 'cg3')['pid']}/cgroup").read_text()
    assert f"0::{path}/hutch-abs-{os.getpid()}/sandbox" in text
    oci("delete", "--force", "cg3", check=0)
    deadline = time.monotonic() + 5
    d = base / path.lstrip("/") / f"hutch-abs-{os.getpid()}"
    while d.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not d.exists()


@pytest.mark.parametrize("path,want", [
    ("system.slice:hutch:x", "slice:prefix:name"),
    ("/hutch-not-yours/ctr", "not a cgroup you may write"),
])
def test_cgroups_path_fallback_warns(oci, bundle, path, want):
    cfg = spec(["true"])
    cfg["linux"]["cgroupsPath"] = path
    r = oci("create", "--bundle", str(bundle(cfg)), "cg2")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and want in r.stderr


# --------------------------------------------------------------------------
# A real engine: a rootless podman pod, whose members join the infra
# container's ipc, uts and network namespaces by path


def test_podman_pod_members_share_namespaces(podman, tmp_path):
    # an infra image whose command waits (podman runs --infra-command as
    # one word)
    root = tmp_path / "pause"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    (root / "bin" / "sleep").symlink_to("busybox")
    (root / "bin" / "sh").symlink_to("busybox")
    (root / "bin" / "pause").write_text("#!/bin/sh\nexec sleep 1000\n")
    (root / "bin" / "pause").chmod(0o755)
    subprocess.run(["tar", "-C", str(root), "-cf", str(tmp_path / "p.tar"),
                    "."], check=True)
    assert podman("import", str(tmp_path / "p.tar"),
                  "localhost/hutch-pause").returncode == 0
    r = podman("pod", "create", "--name", "hutchpod", "--hostname", "podhost",
               "--infra-image", "localhost/hutch-pause",
               "--infra-command", "/bin/pause")
    assert r.returncode == 0, r.stderr
    try:
        outs = []
        for _ in range(2):
            r = podman("run", "--rm", "--pod", "hutchpod",
                       "localhost/hutch-oci-test", "/bin/sh", "-c",
                       "hostname; for t in ipc uts net; do "
                       "readlink /proc/self/ns/$t; done")
            assert r.returncode == 0, r.stderr
            outs.append(r.stdout.split())
        assert outs[0][0] == "podhost"
        assert outs[0] == outs[1]  # both members in the pod's namespaces
    finally:
        podman("pod", "rm", "-f", "hutchpod")
