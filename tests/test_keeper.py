"""The id keeper (src/keeper.c): one per-user process that holds a user
namespace with the full subordinate map, and hands out fresh network
namespaces, so each sandbox skips newuidmap/newgidmap."""

import os
import signal
import time

import pytest

from conftest import ok, subid_ranges


def keepers():
    """Pids of this user's hutch-keeper processes."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
            st = os.stat(f"/proc/{entry}")
        except OSError:
            continue
        # A non-dumpable process's /proc directory belongs to root, so look at
        # its real uid in status instead.
        if comm != "hutch-keeper":
            continue
        with open(f"/proc/{entry}/status") as f:
            uid = next(int(l.split()[1]) for l in f if l.startswith("Uid:"))
        if uid == os.getuid() or st.st_uid == os.getuid():
            found.append(int(entry))
    return found


def stop_keepers():
    for pid in keepers():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while keepers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not keepers()


def map_rows(text):
    return sorted(tuple(map(int, l.split())) for l in text.splitlines() if l.strip())


def test_keeper_holds_identity_map_of_the_subordinate_range(sandbox, subids):
    stop_keepers()
    ok(sandbox("true"))
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
    first = keepers()
    assert len(first) == 1
    ok(sandbox("true"))
    assert keepers() == first
    stop_keepers()
    r = ok(sandbox("cat", "/proc/self/uid_map"))
    # Still the full map, through a new keeper.
    assert len(r.stdout.splitlines()) >= 2
    assert len(keepers()) == 1 and keepers() != first


def test_keeper_holds_none_of_the_callers_fds(sandbox, subids):
    """Nothing of the caller's stays open in the keeper: a harness that waits
    for EOF on hutch's output is not held up by it."""
    stop_keepers()
    r = sandbox("echo", "done", timeout=10)  # would time out if a pipe leaked
    assert r.stdout == "done\n"


def test_each_sandbox_gets_its_own_fresh_network_namespace(sh, subids):
    # All four stay alive until each has answered: the kernel recycles a
    # namespace's inode number once the namespace is freed, so sandboxes run
    # one after the other could show the same number for different namespaces.
    import subprocess
    from conftest import HUTCH
    procs = [subprocess.Popen(
        [HUTCH, "run", "--", "sh", "-c",
         "readlink /proc/self/ns/net; tail -n +3 /proc/net/dev; echo end; read x"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    seen = set()
    try:
        for p in procs:
            lines = []
            while not lines or lines[-1] != "end":
                line = p.stdout.readline()
                assert line, "a sandbox ended early"
                lines.append(line.strip())
            seen.add(lines[0])
            assert [l.split(":")[0].strip() for l in lines[1:-1]] == ["lo"]
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=30)
    assert len(seen) == 4, seen


# Which user namespace owns the command's network namespace: "own" when it is
# the sandbox's, "outside" when the kernel says it lies beyond the sandbox's
# scope (the keeper's), via ioctl(NS_GET_USERNS).
NET_OWNER = r"""
import errno, fcntl, os
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
try:
    owner = fcntl.ioctl(fd, 0xb701)  # NS_GET_USERNS
except OSError as e:
    print("outside" if e.errno == errno.EPERM else e)
else:
    own = os.stat("/proc/self/ns/user").st_ino == os.fstat(owner).st_ino
    print("own" if own else "other")
"""


def test_network_belongs_to_the_keeper_so_the_sandbox_cannot_change_it(sandbox, subids):
    r = ok(sandbox("python3", "-c", NET_OWNER, opts=("--uid", "0")))
    assert r.stdout.strip() == "outside"
    r = sandbox("/usr/sbin/ip", "link", "set", "lo", "down", opts=("--uid", "0"))
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


def test_network_capability_gets_a_network_namespace_of_its_own(sandbox, subids):
    opts = ("--uid", "0", "--cap-add", "CAP_NET_ADMIN")
    r = ok(sandbox("python3", "-c", NET_OWNER, opts=opts))
    assert r.stdout.strip() == "own"
    ok(sandbox("/usr/sbin/ip", "link", "set", "lo", "down", opts=opts))
