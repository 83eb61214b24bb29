"""The id keeper (src/keeper.c): one per-user process that holds a user
namespace with the full subordinate map, and hands out fresh network
namespaces, so each sandbox skips newuidmap/newgidmap."""

import os
import signal
import subprocess
import time

import pytest

from conftest import ok, subid_ranges


def keepers():
    """Pids of this user's live hutch-keeper processes (zombies left out: a dead
    keeper waits there until its parent, the monitor that started it, exits)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
            if comm != "hutch-keeper":
                continue
            # A non-dumpable process's /proc directory belongs to root, so look at
            # its real uid and state in status instead.
            with open(f"/proc/{entry}/status") as f:
                fields = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        if fields["State"].split()[0] == "Z":
            continue
        if int(fields["Uid"].split()[0]) == os.getuid():
            found.append(int(entry))
    return found


def stop_keepers():
    deadline = time.monotonic() + 10
    while keepers() and time.monotonic() < deadline:
        for pid in keepers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    assert not keepers()


def alone():
    """These tests count keepers; another hutch of this user starting at the same
    time (a developer's second test run) would make the count meaningless."""
    if len(keepers()) > 1:
        pytest.skip("several hutch-keeper processes of this user: another run is "
                    "going on at the same time")


def map_rows(text):
    return sorted(tuple(map(int, l.split())) for l in text.splitlines() if l.strip())


def test_keeper_holds_identity_map_of_the_subordinate_range(sandbox, subids):
    stop_keepers()
    ok(sandbox("true"))
    alone()
    pids = keepers()
    assert len(pids) == 1, pids
    with open(f"/proc/{pids[0]}/uid_map") as f:
        rows = map_rows(f.read())
    # Every id the keeper has keeps its host number: the caller's own uid,
    # and each subordinate range.
    expected = sorted([(os.getuid(), os.getuid(), 1)] +
                      [(s, s, c) for s, c in subid_ranges("uid")])
    assert rows == expected


def test_keeper_is_reused_and_comes_back_after_it_is_killed(sandbox, subids):
    ok(sandbox("true"))
    alone()
    first = keepers()
    assert len(first) == 1
    ok(sandbox("true"))
    assert keepers() == first
    stop_keepers()
    r = ok(sandbox("cat", "/proc/self/uid_map"))
    # Still the full map, through a new keeper.
    assert len(r.stdout.splitlines()) >= 2
    alone()
    assert len(keepers()) == 1 and keepers() != first


def test_keeper_holds_none_of_the_callers_fds(sandbox, subids):
    """Nothing of the caller's stays open in the keeper: a harness that waits
    for EOF on hutch's output is not held up by it."""
    stop_keepers()
    r = sandbox("echo", "done", timeout=10)  # would time out if a pipe leaked
    assert r.stdout == "done\n"


def test_each_sandbox_gets_its_own_fresh_network_and_ipc_namespace(hutch_bin, subids):
    # All four alive at once: a namespace's inode number is reused once it is
    # freed, so sandboxes that ran one after the other could show the same one.
    # The IPC namespace comes from the keeper too (src/sandbox.c, use_keeper_ipcns):
    # empty, and never the same for two sandboxes.
    script = ("readlink /proc/self/ns/net; tail -n +3 /proc/net/dev; "
              "readlink /proc/self/ns/ipc; tail -n +2 /proc/sysvipc/shm | wc -l; "
              "ipcmk -M 4096 >/dev/null; read x")
    procs = [subprocess.Popen([hutch_bin, "run", "--", "sh", "-c", script],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    seen, seen_ipc = set(), set()
    try:
        for p in procs:
            first = p.stdout.readline()
            lo = p.stdout.readline()
            ipc = p.stdout.readline()
            segments = p.stdout.readline()
            assert first.startswith("net:["), first + p.stderr.read()
            assert lo.split(":")[0].strip() == "lo", lo
            assert ipc.startswith("ipc:["), ipc
            assert segments.strip() == "0", segments  # nobody's segment before ours
            seen.add(first.strip())
            seen_ipc.add(ipc.strip())
    finally:
        for p in procs:
            p.communicate("\n", timeout=30)
    assert all(p.returncode == 0 for p in procs)
    assert len(seen) == 4, seen
    assert len(seen_ipc) == 4 and os.readlink("/proc/self/ns/ipc") not in seen_ipc, seen_ipc


# Which user namespace owns the command's network (or IPC) namespace: "own"
# when it is the sandbox's, "outside" when the kernel says it lies beyond the
# sandbox's scope (the keeper's), via ioctl(NS_GET_USERNS).
NS_OWNER = r"""
import errno, fcntl, os, sys
fd = os.open("/proc/self/ns/" + sys.argv[1], os.O_RDONLY)
try:
    owner = fcntl.ioctl(fd, 0xb701)  # NS_GET_USERNS
except OSError as e:
    print("outside" if e.errno == errno.EPERM else e)
else:
    own = os.stat("/proc/self/ns/user").st_ino == os.fstat(owner).st_ino
    print("own" if own else "other")
"""


def test_network_belongs_to_the_keeper_so_the_sandbox_cannot_change_it(sandbox, subids):
    r = ok(sandbox("python3", "-c", NS_OWNER, "net", opts=("--uid", "0")))
    assert r.stdout.strip() == "outside"
    r = sandbox("/usr/sbin/ip", "link", "set", "lo", "down", opts=("--uid", "0"))
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


def test_network_capability_gets_a_network_namespace_of_its_own(sandbox, subids):
    opts = ("--uid", "0", "--cap-add", "CAP_NET_ADMIN")
    r = ok(sandbox("python3", "-c", NS_OWNER, "net", opts=opts))
    assert r.stdout.strip() == "own"
    ok(sandbox("/usr/sbin/ip", "link", "set", "lo", "down", opts=opts))


def test_ipc_belongs_to_the_keeper_so_the_sandbox_cannot_change_it(sandbox, subids):
    """Like the network namespace: the sandbox (even as --uid 0) has no
    capability over its IPC namespace, so it cannot mount an mqueue
    filesystem; SysV IPC still works."""
    r = ok(sandbox("python3", "-c", NS_OWNER, "ipc", opts=("--uid", "0")))
    assert r.stdout.strip() == "outside"
    ok(sandbox("sh", "-c", "id=$(ipcmk -Q | grep -o '[0-9]*$') && ipcrm -q $id"))


@pytest.mark.parametrize("cap", ["CAP_IPC_OWNER", "CAP_SYS_ADMIN"])
def test_ipc_capability_gets_an_ipc_namespace_of_its_own(sandbox, subids, cap):
    r = ok(sandbox("python3", "-c", NS_OWNER, "ipc", opts=("--uid", "0", "--cap-add", cap)))
    assert r.stdout.strip() == "own"
