"""Landlock (src/landlock.c): scoping of abstract unix sockets and signals,
and filesystem rules that mirror the mount plan."""

import ctypes
import os
import socket
import subprocess

import pytest

from conftest import HUTCH, TIMEOUT, ok

LANDLOCK_CREATE_RULESET_VERSION = 1
SYS_landlock_create_ruleset = 444


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(ctypes.c_long(SYS_landlock_create_ruleset), None, ctypes.c_size_t(0),
                        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))


@pytest.fixture
def abi6():
    abi = landlock_abi()
    if abi < 6:
        pytest.skip(f"this kernel's Landlock ABI is {abi} (< 6): no scoping of "
                    "abstract sockets and signals")
    return abi


@pytest.fixture
def landlock():
    abi = landlock_abi()
    if abi < 1:
        pytest.skip("this kernel has no Landlock")
    return abi


def test_verbose_says_landlock_is_on(sandbox, landlock):
    r = ok(sandbox("true", opts=("-v",)))
    assert f"Landlock ABI {landlock}" in r.stderr


@pytest.fixture
def host_abstract():
    name = f"hutch-ll-{os.getpid()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + name)
    s.listen(4)
    yield name
    s.close()


CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\\0" + sys.argv[1]); print("connected")
except OSError as e:
    print(e.strerror)
"""


@pytest.mark.parametrize("seccomp", ["default", "none"])
def test_host_abstract_socket_unreachable_with_share_net(sandbox, abi6, host_abstract,
                                                          seccomp):
    # the network namespace is shared, so only Landlock stands in the way
    r = ok(sandbox("python3", "-c", CONNECT, host_abstract,
                   opts=("--share-net", "--seccomp", seccomp)))
    assert r.stdout.strip() == "Operation not permitted"


def test_host_abstract_socket_reachable_without_landlock_scope(host_abstract):
    """The control: the same connect from the host works."""
    r = subprocess.run(["python3", "-c", CONNECT, host_abstract], capture_output=True,
                       text=True, timeout=10)
    assert r.stdout.strip() == "connected"


def test_abstract_sockets_inside_still_work(sandbox, abi6):
    script = ("import socket; a = socket.socket(socket.AF_UNIX); a.bind('\\0inside'); "
              "a.listen(1); b = socket.socket(socket.AF_UNIX); b.connect('\\0inside'); "
              "print('inside ok')")
    assert "inside ok" in ok(sandbox("python3", "-c", script, opts=("--share-net",))).stdout


@pytest.mark.parametrize("seccomp", ["default", "none"])
def test_signals_to_outside_the_domain_blocked(sandbox, abi6, seccomp):
    # the init is outside the command's Landlock domain; without the scope a
    # signal to pid 1 "succeeds" (the kernel drops it silently)
    r = ok(sandbox("python3", "-c",
                   "import os\ntry:\n os.kill(1, 0); print('sent')\n"
                   "except PermissionError: print('denied')",
                   opts=("--seccomp", seccomp)))
    assert r.stdout.strip() == "denied"


def test_signals_inside_still_work(sandbox, abi6):
    r = ok(sandbox("sh", "-c", "sleep 30 & kill $!; wait $!; echo status=$?"))
    assert "status=143" in r.stdout


def test_filesystem_rules_mirror_the_mount_plan(sandbox, landlock, tmp_path):
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("ro\n")
    tmp_path.chmod(0o755)
    rw.chmod(0o777)
    script = ("for d in /tmp $HOME /rw /dev/shm /scratch; do "
              "  echo x > $d/f && mkdir $d/d && echo $d=ok || echo $d=no; done; "
              "cat /ro/f; echo y > /ro/g 2>/dev/null || echo ro=denied; "
              "mkdir /dev/x 2>/dev/null || echo dev=denied; "
              "echo y > /dev/null && echo devnull=ok; "
              "echo 100 > /proc/self/oom_score_adj && echo proc=ok")
    r = ok(sandbox("sh", "-c", script,
                   opts=("--uid", "0", "--bind", f"{rw}:/rw", "--ro-bind", f"{ro}:/ro",
                         "--tmpfs", "/scratch")))
    for d in ("/tmp", "/root", "/rw", "/dev/shm", "/scratch"):
        assert f"{d}=ok" in r.stdout, r.stdout + r.stderr
    # root inside owns the /dev tmpfs, so only Landlock refuses the mkdir
    assert "dev=denied" in r.stdout
    assert "ro=denied" in r.stdout and "devnull=ok" in r.stdout and "proc=ok" in r.stdout


def test_inherited_host_file_reopens_through_dev_stdout(sandbox, landlock, tmp_path):
    """A redirect to a host file stays usable through /dev/stdout although its
    path lies outside the sandbox's root."""
    out = tmp_path / "out"
    with open(out, "w") as f:
        r = subprocess.run([HUTCH, "run", "--", "sh", "-c",
                            "echo through-dev-stdout > /dev/stdout"],
                           stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.PIPE,
                           text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "through-dev-stdout\n"


def test_host_paths_outside_the_plan_stay_invisible(sandbox, landlock):
    r = ok(sandbox("sh", "-c", "cat /proc/1/root/etc/hostname 2>&1; echo rc=$?"))
    assert "rc=0" not in r.stdout
