"""The namespaces around the command (src/sandbox.c, src/net.c)."""

import os
import subprocess

import pytest

from conftest import ok

NAMESPACES = ["user", "pid", "mnt", "ipc", "uts", "net", "cgroup", "time"]


@pytest.mark.parametrize("ns", NAMESPACES)
def test_namespace_differs_from_host(sh, ns):
    path = f"/proc/self/ns/{ns}"
    if not os.path.exists(path):
        pytest.skip(f"this kernel has no {ns} namespace ({path} is missing)")
    host = os.readlink(path)
    # The command's own link: for pid and time that is the namespace its
    # parent created it in, i.e. the sandbox's.
    r = ok(sh(f"readlink {path}"))
    inside = r.stdout.strip()
    assert inside.startswith(f"{ns}:["), r.stdout
    assert inside != host, f"{ns} namespace is the host's ({host})"


def test_pid_and_time_for_children_match_own(sh):
    """A process the command starts stays in the same pid/time namespace."""
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("this kernel has no time namespace")
    r = ok(sh("readlink /proc/self/ns/time /proc/self/ns/time_for_children "
              "/proc/self/ns/pid /proc/self/ns/pid_for_children"))
    t, tc, p, pc = r.stdout.split()
    assert t == tc and p == pc, r.stdout
    assert t != os.readlink("/proc/self/ns/time")


def interfaces(proc_net_dev):
    return sorted(line.split(":")[0].strip()
                  for line in proc_net_dev.splitlines() if ":" in line)


def test_only_loopback(sh):
    r = ok(sh("cat /proc/net/dev"))
    assert interfaces(r.stdout) == ["lo"]


LOOPBACK_PROBE = r"""
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
c = socket.create_connection(s.getsockname(), timeout=5)
a, _ = s.accept()
c.sendall(b"ping")
print(a.recv(4).decode())
"""


def test_loopback_is_up(sandbox):
    # Binding and connecting on 127.0.0.1 only works when lo is up.
    r = ok(sandbox("python3", "-c", LOOPBACK_PROBE))
    assert r.stdout.strip() == "ping"


def test_share_net_keeps_host_network(sh):
    with open("/proc/net/dev") as f:
        host_ifaces = interfaces(f.read())
    r = ok(sh("readlink /proc/self/ns/net; cat /proc/net/dev", "--share-net"))
    ns, _, dev = r.stdout.partition("\n")
    assert ns == os.readlink("/proc/self/ns/net")
    assert interfaces(dev) == host_ifaces


def test_share_net_keeps_other_namespaces(sh):
    r = ok(sh("readlink /proc/self/ns/uts /proc/self/ns/mnt", "--share-net"))
    for got, ns in zip(r.stdout.split(), ["uts", "mnt"]):
        assert got != os.readlink(f"/proc/self/ns/{ns}")


def test_default_hostname(sh):
    r = ok(sh("uname -n; cat /proc/sys/kernel/hostname"))
    assert r.stdout.split() == ["hutch", "hutch"]


def test_hostname_option(sh):
    r = ok(sh("uname -n", "--hostname", "box-1"))
    assert r.stdout.strip() == "box-1"
    assert os.uname().nodename != "box-1"


def test_ipc_namespace_hides_host_objects(sh):
    """A System V shared memory segment made on the host is not visible."""
    made = subprocess.run(["ipcmk", "-M", "4096"], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a SysV segment on the host: {made.stderr}")
    shmid = made.stdout.split()[-1]
    try:
        with open("/proc/sysvipc/shm") as f:
            assert any(l.split()[1] == shmid for l in f.readlines()[1:])
        r = ok(sh("cat /proc/sysvipc/shm"))
        rows = [l.split() for l in r.stdout.splitlines()[1:] if l.strip()]
        assert rows == [], r.stdout
    finally:
        subprocess.run(["ipcrm", "-m", shmid], capture_output=True)


def test_pid_namespace_hides_host_processes(sh):
    r = ok(sh("ls -d /proc/[0-9]*"))
    pids = sorted(int(p.rsplit("/", 1)[1]) for p in r.stdout.split())
    # init, the shell, ls: nothing from the host.
    assert pids[0] == 1 and max(pids) < 20, pids
    assert len(pids) <= 4, pids
