"""The escape battery (tests/escape/*.c): each program tries one attack from
inside a default sandbox, as the unprivileged test user, and exits 0 only if
every attempt failed the safe way; any "ESCAPE" line fails the test. Host
canaries (for the ptrace and kill attacks) and the host's abstract socket are
set up here, outside the sandbox. See SECURITY.md for the table."""

import errno
import glob
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from cgtools import need_delegation, own_cgroup_dirs, report_of
from conftest import HUTCH, TIMEOUT, ok, subid_ranges

ESCAPE_DIR = Path(HUTCH).resolve().parent / "tests" / "escape"

PROGRAMS = {
    "tiocsti": "1, 2: TIOCSTI (with high bits) and TIOCLINUX",
    "fds": "3: leaked fds, cwd",
    "proc_exe": "4: write /proc/<init>/exe",
    "cgroup": "6, 7: cgroup v1 release_agent, host cgroup files",
    "handle": "8: open_by_handle_at",
    "ptrace": "9: ptrace, process_vm_readv, pidfd_getfd, kcmp of a host process",
    "kill": "10: kill a host process, kill(-1)",
    "keyring": "11: keyctl, add_key, request_key",
    "bpf": "12: bpf",
    "perf": "13: perf_event_open",
    "userfaultfd": "14: userfaultfd",
    "io_uring": "15: io_uring",
    "userns": "16: nested user namespace, clone flags, clone3",
    "mount": "17: umount/remount of read-only binds, new mount API",
    "nnp": "18: setuid binaries gain nothing",
    "abi": "19: x32 and int 0x80",
    "personality": "20: personality(READ_IMPLIES_EXEC)",
    "sockets": "21: host abstract and pathname sockets, secrets",
    "procfs": "22: /proc/sys, /proc/sysrq-trigger, /proc/kcore",
    "sysfs": "23: /sys",
    "dev": "24: mknod, minimal /dev",
    "kernel": "25: modules, kexec, acct, swap, reboot, clock, iopl, syslog",
    "clock": "26: sethostname, clock_settime",
    "scm_creds": "27: SCM_CREDENTIALS as pid 1 / uid 0",
    "memfd": "28: memfd_create + execveat",
    "bomb": "29: fork bomb, memory hog",
    "root": "30: /proc/self/mountinfo, /proc/1/root, ..",
}


@pytest.fixture(scope="module")
def escape_dir():
    if not (ESCAPE_DIR / "bpf").is_file():
        pytest.fail(f"the escape battery is not built in {ESCAPE_DIR}: "
                    "meson compile -C build", pytrace=False)
    return ESCAPE_DIR


@pytest.fixture
def canary():
    p = subprocess.Popen(["sleep", "120"])
    yield p
    p.kill()
    p.wait()


def attack(sandbox, escape_dir, name, *args, opts=(), **kw):
    r = sandbox(f"/escape/{name}", *map(str, args),
                opts=("--ro-bind", f"{escape_dir}:/escape", *opts), **kw)
    lines = r.stdout.splitlines()
    escapes = [l for l in lines if l.startswith("ESCAPE")]
    assert r.returncode == 0 and not escapes, (
        f"{name} ({PROGRAMS.get(name, '')}): exit {r.returncode}\n"
        f"{r.stdout}\nstderr: {r.stderr}")
    assert any(l.startswith("ok") for l in lines), r.stdout
    return r


SIMPLE = sorted(set(PROGRAMS) - {"ptrace", "kill", "sockets", "clock", "bomb"})


@pytest.mark.parametrize("name", SIMPLE)
def test_attack_is_stopped(sandbox, escape_dir, name):
    attack(sandbox, escape_dir, name)


def test_ptrace_host_process(sandbox, escape_dir, canary):
    attack(sandbox, escape_dir, "ptrace", canary.pid)
    assert canary.poll() is None


def test_kill_host_process(sandbox, escape_dir, canary):
    attack(sandbox, escape_dir, "kill", canary.pid)
    time.sleep(0.05)
    assert canary.poll() is None, "the host canary was killed"
    os.kill(canary.pid, 0)


@pytest.fixture
def abstract_listener():
    name = f"hutch-escape-{os.getpid()}-{threading.get_ident()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + name)
    s.listen(8)
    yield name, s
    s.close()


@pytest.mark.parametrize("opts", [(), ("--share-net",)], ids=["own-net", "share-net"])
def test_host_sockets_and_secrets(sandbox, escape_dir, abstract_listener, tmp_path, opts):
    name, s = abstract_listener
    # a runtime directory as a desktop session has it, with live listeners
    runtime = tmp_path / "run-user"
    runtime.mkdir()
    listeners = []
    for sock in ("bus", "wayland-0", "ssh-agent.sock"):
        l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        l.bind(str(runtime / sock))
        l.listen(4)
        listeners.append(l)
    env = dict(os.environ, SSH_AUTH_SOCK=str(runtime / "ssh-agent.sock"),
               DBUS_SESSION_BUS_ADDRESS=f"unix:path={runtime / 'bus'}",
               XDG_RUNTIME_DIR=str(runtime), WAYLAND_DISPLAY="wayland-0",
               DISPLAY=":0", HUTCH_TEST_SECRET="s3cret")
    try:
        attack(sandbox, escape_dir, "sockets", name,
               *(runtime / n for n in ("bus", "wayland-0", "ssh-agent.sock")), opts=opts, env=env)
        for l in [s, *listeners]:
            l.settimeout(0)
            with pytest.raises(BlockingIOError):
                l.accept()  # nothing got through to a host listener
    finally:
        for l in listeners:
            l.close()


def test_hostname_and_clock(sandbox, escape_dir):
    before = socket.gethostname()
    attack(sandbox, escape_dir, "clock")
    assert socket.gethostname() == before


BOMB = re.compile(r"^bomb: (\d+) processes, (\d+) forks refused \((.*)\)$", re.M)
HOG = re.compile(r"^hog: (.*) at (\d+) MiB$", re.M)


def left_in(pidns):
    """Our processes still in the pid namespace PIDNS (pid:[N])."""
    left = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and os.readlink(f"/proc/{d}/ns/pid") == pidns:
                left.append(int(d))
        except OSError:
            pass
    return left


def hostile(sandbox, escape_dir, tmp_path, *args, opts=()):
    """29: tests/escape/bomb, which sets no limit on itself, in a sandbox with
    nothing but hutch's defaults; the host is fine afterwards and nothing of
    it is left. Returns its bomb and hog lines and the report."""
    rep = tmp_path / "bomb.json"
    r = attack(sandbox, escape_dir, "bomb", *args, opts=("--report", rep, *opts),
               timeout=60)  # a bomb that outlasts it: TimeoutExpired, a failure
    ok(subprocess.run(["true"], timeout=5))
    ns = re.search(r"^pidns: (.*)$", r.stdout, re.M)
    assert ns and not left_in(ns[1]), "the bomb's processes outlived the sandbox"
    return BOMB.search(r.stdout), HOG.search(r.stdout), report_of(rep), r


def assert_bomb_bounded(bomb, limits, by):
    assert bomb, "no bomb line"
    assert limits["pids"] == 4096 and limits["pids_by"] == by, limits
    assert int(bomb[1]) <= 4096 and int(bomb[2]) >= 1, bomb[0]
    assert bomb[3] == os.strerror(errno.EAGAIN), bomb[0]


def test_fork_bomb_is_bounded_by_the_default_pids_cgroup(sandbox, escape_dir, tmp_path):
    need_delegation("--pids=64")
    bomb, _, j, r = hostile(sandbox, escape_dir, tmp_path, "fork")
    assert_bomb_bounded(bomb, j["limits"], "cgroup")
    assert j["pids_limit_hits"] >= 1 and j["peak_pids"] <= 4096, j


@pytest.fixture
def memory_parent():
    """A v1 memory cgroup of ours with a 256 MiB limit, as a delegation with a
    limit of its own looks: its path for --cgroup-parent."""
    mounts = [m for m in own_cgroup_dirs() if os.path.basename(m) == "memory"]
    if not mounts or not os.access(own_cgroup_dirs()[mounts[0]], os.W_OK):
        pytest.skip("needs a writable v1 memory cgroup (a hybrid or v1 host)")
    mount = mounts[0]
    d = os.path.join(own_cgroup_dirs()[mount], f"bounds-{os.getpid()}")
    os.mkdir(d)
    try:
        with open(f"{d}/memory.limit_in_bytes", "w") as f:
            f.write(str(256 << 20))
        yield d[len(mount):]
    finally:
        for sub in sorted(glob.glob(f"{d}/hutch-*/sandbox") + glob.glob(f"{d}/hutch-*"),
                          key=len, reverse=True):
            os.rmdir(sub)
        os.rmdir(d)


def test_memory_hog_is_bounded_by_the_default_memory_cgroup(sandbox, escape_dir, tmp_path,
                                                             memory_parent):
    """The default memory limit is half of what the delegation may use: here
    half of its parent's 256 MiB; the hog, touching every page, is OOM-killed."""
    need_delegation("--memory=64M")
    _, hog, j, r = hostile(sandbox, escape_dir, tmp_path, "hog",
                           opts=("--cgroup-parent", memory_parent))
    assert j["limits"]["memory_bytes"] == 128 << 20 and j["limits"]["memory_by"] == "cgroup"
    assert hog and hog[1] == "killed by signal 9" and int(hog[2]) <= 128, r.stdout
    assert j["oom_kills"] >= 1 and j["peak_memory_bytes"] <= 128 << 20, j


def assert_rlimits_bounded(bomb, hog, j, r):
    assert_bomb_bounded(bomb, j["limits"], "rlimit nproc")
    assert j["limits"]["memory_by"] == "rlimit data", j
    assert hog and hog[1] == "refused (ENOMEM)", r.stdout
    assert int(hog[2]) << 20 <= j["limits"]["memory_bytes"], (hog[0], j["limits"])
    assert j["cgroups"] == {}, j


def test_bomb_and_hog_are_bounded_without_a_cgroup(sandbox, escape_dir, tmp_path):
    """No cgroup (none delegated under /): RLIMIT_NPROC, counted per user
    namespace, stops the bomb; RLIMIT_DATA stops each process's hog."""
    bomb, hog, j, r = hostile(sandbox, escape_dir, tmp_path, "fork", "hog-sparse",
                              opts=("--cgroup-parent", "/"))
    assert_rlimits_bounded(bomb, hog, j, r)


@pytest.mark.nosub
def test_bomb_and_hog_are_bounded_for_a_user_without_subids(sandbox, escape_dir, tmp_path):
    """The single-id map: the sandbox runs as the caller's own uid, and still
    only its own processes count against RLIMIT_NPROC (ucounts are per user
    namespace), not the caller's processes on the host."""
    if subid_ranges("uid"):
        pytest.skip("this user has subordinate ids (tests/run uses hutch-nosub)")
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(20)]
    try:
        bomb, hog, j, r = hostile(sandbox, escape_dir, tmp_path, "fork", "hog-sparse")
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
    assert_rlimits_bounded(bomb, hog, j, r)
    assert int(bomb[1]) >= 4096 - 3, "the host's processes counted against the sandbox"


def test_battery_detects_a_missing_layer(sandbox, escape_dir):
    """Every test above can fail: without the seccomp filter the battery
    reports escapes."""
    r = sandbox("/escape/bpf", opts=("--seccomp", "none", "--ro-bind", f"{escape_dir}:/escape"))
    assert r.returncode == 1 and "ESCAPE" in r.stdout, r.stdout


def test_symlinked_bind_destination_swapped_during_setup(run, userns, tmp_path):
    """5: a bind destination that crosses a symlink which another process keeps
    swapping between a directory and a link to a host path: the mount never
    lands outside the new root (destinations resolve inside it), and nothing
    reaches the host path."""
    host_target = tmp_path / "host-target"
    host_target.mkdir()
    (host_target / "marker").write_text("host\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    payload = tmp_path / "payload"
    payload.mkdir()
    for d in (tmp_path, shared, payload, host_target):
        d.chmod(0o777)
    link = shared / "l"
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            for make in (lambda: link.mkdir(), lambda: link.symlink_to(host_target)):
                try:
                    make()
                except FileExistsError:
                    pass
                try:
                    if link.is_symlink():
                        link.unlink()
                    else:
                        link.rmdir()
                except OSError:
                    pass

    t = threading.Thread(target=swap, daemon=True)
    t.start()
    try:
        for _ in range(15):
            r = run("run", "--bind", f"{shared}:/shared", "--bind", f"{payload}:/shared/l/p",
                    "--", "sh", "-c", "touch /shared/l/p/written 2>/dev/null; "
                    f"ls {host_target} 2>&1; true")
            assert r.returncode in (0, 125), r.stderr
            assert "marker" not in r.stdout, "the host path was visible through the bind"
    finally:
        stop.set()
        t.join()
    assert sorted(p.name for p in host_target.iterdir()) == ["marker"]


def test_every_program_runs_and_is_in_security_md():
    """No attack program is left out of this file or of SECURITY.md's table."""
    src = Path(__file__).resolve().parent / "escape"
    built = {p.stem for p in src.glob("*.c")}
    assert built == set(PROGRAMS), built ^ set(PROGRAMS)
    table = (Path(__file__).resolve().parent.parent / "SECURITY.md").read_text()
    rows = [l for l in table.splitlines() if l.startswith("| ") and l.count("|") >= 6]
    named = {l.rstrip(" |").rsplit("|", 1)[1].strip() for l in rows}
    assert set(PROGRAMS) <= named, set(PROGRAMS) - named
    numbers = {l.split("|")[1].strip() for l in rows}
    assert {str(n) for n in range(1, 31)} <= numbers
