"""The private root and the mount options (src/mounts.c, src/path.c)."""

import os
import shutil
import tempfile

import pytest

from cgtools import need_delegation, report_of
from conftest import error_lines, mountinfo, ok, top_mount
from test_overlay import rootfs  # noqa: F401 (a fixture)

MiB = 1024 * 1024


def inside_mounts(sh, *opts):
    return mountinfo(ok(sh("cat /proc/self/mountinfo", *opts)).stdout)


def host_mountpoints():
    with open("/proc/self/mountinfo") as f:
        return {m["mountpoint"] for m in mountinfo(f.read())}


def assert_nothing_mounted_under(path):
    path = str(path)
    bad = [m for m in host_mountpoints()
           if m == path or m.startswith(path + "/")]
    assert bad == [], f"host mounts left under {path}: {bad}"


def assert_fails_read_only(r, path):
    assert r.returncode != 0, f"writing {path} succeeded: {r.stdout}"
    assert "Read-only file system" in r.stderr, r.stderr


# ---- the root itself

def test_root_is_fresh_tmpfs(sh):
    root = top_mount(inside_mounts(sh), "/")
    assert root is not None and root["fstype"] == "tmpfs", root


@pytest.mark.parametrize("opts", [(), ("--uid", "0")], ids=["user", "uid0"])
def test_root_is_read_only(sh, opts):
    assert_fails_read_only(sh("touch /hutch-new-file", *opts), "/")


def test_host_root_not_reachable(sh):
    """The old root is detached: only our own mounts remain, and none of
    them is the host's root filesystem seen whole."""
    with open("/proc/self/mountinfo") as f:
        host_root = top_mount(mountinfo(f.read()), "/")
    mounts = inside_mounts(sh)
    whole = [m for m in mounts
             if m["root"] == "/" and m["fstype"] == host_root["fstype"]
             and m["fstype"] not in ("tmpfs", "proc", "devpts", "mqueue")
             and host_root["superopts"] == m["superopts"]]
    assert whole == [], f"host root still mounted inside: {whole}"
    # ...and the directory the init parked it on (src/mounts.c, OLD_ROOT) is
    # gone too, by the time the command's first instruction runs
    listing = ok(sh("ls -a /")).stdout.split()
    assert not [n for n in listing if "host" in n], listing


# ---- what the default root contains

@pytest.mark.parametrize("opts", [(), ("--uid", "0")], ids=["user", "uid0"])
def test_usr_is_read_only(sh, opts):
    assert_fails_read_only(sh("touch /usr/hutch-x", *opts), "/usr")
    usr = top_mount(inside_mounts(sh, *opts), "/usr")
    assert usr is not None and "ro" in usr["opts"], usr


def test_usr_is_the_hosts(sh):
    r = ok(sh("ls /usr/bin | wc -l; test -x /usr/bin/env && echo env-ok"))
    n, env_ok = r.stdout.split()
    assert int(n) == len(os.listdir("/usr/bin")) and env_ok == "env-ok"


@pytest.mark.parametrize("opts", [(), ("--uid", "0")], ids=["user", "uid0"])
def test_etc_is_read_only(sh, opts):
    assert_fails_read_only(sh("touch /etc/hutch-x", *opts), "/etc")
    r = ok(sh("cat /etc/passwd", *opts))
    with open("/etc/passwd") as f:
        assert r.stdout == f.read()


@pytest.mark.parametrize("name", ["bin", "sbin", "lib", "lib64"])
def test_merged_usr_links(sh, name):
    host = f"/{name}"
    if not os.path.lexists(host):
        pytest.skip(f"the host has no {host}")
    r = ok(sh(f"readlink {host} || echo not-a-link; ls {host}/ | wc -l"))
    link, count = r.stdout.split()
    if os.path.islink(host):
        assert link == os.readlink(host)
    assert int(count) == len(os.listdir(host))


def test_host_home_contents_invisible(sh):
    home = os.environ.get("HOME")
    if not home or not os.path.isdir(home) or not os.access(home, os.W_OK):
        pytest.skip(f"HOME ({home}) is not a writable directory")
    marker = tempfile.mkdtemp(prefix="hutch-marker-", dir=home)
    try:
        r = ok(sh(f"ls -A {home}; test -e {marker} && echo marker-visible; true"))
        assert os.path.basename(marker) not in r.stdout
        assert "marker-visible" not in r.stdout
        # Nothing of the real home (shell profiles, ...) shows either.
        assert r.stdout == "", r.stdout
    finally:
        shutil.rmtree(marker)


@pytest.mark.parametrize("path", ["/root", "/run", "/var", "/mnt", "/opt"])
def test_host_dirs_hidden(sh, path):
    r = ok(sh(f"if [ -e {path} ]; then ls -A {path}; echo rc=$?; "
              "else echo absent; fi"))
    assert r.stdout in ("absent\n", "rc=0\n"), (
        f"{path} inside shows: {r.stdout!r} {r.stderr!r}")


def test_tmp_empty_and_writable(sh):
    name = f"hutch-test-{os.getpid()}-tmpfile"
    r = ok(sh(f"ls -A /tmp; echo x > /tmp/{name} && cat /tmp/{name}"))
    assert r.stdout == "x\n", r.stdout
    assert not os.path.exists(f"/tmp/{name}")
    tmp = top_mount(inside_mounts(sh), "/tmp")
    assert tmp is not None and tmp["fstype"] == "tmpfs", tmp


def test_tmp_is_size_limited(sh):
    r = ok(sh("stat -f -c '%b %S' /tmp"))
    blocks, bsize = map(int, r.stdout.split())
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    # Without a size= option a tmpfs gets half of RAM, in pages.
    kernel_default = (mem_kib * 1024 // os.sysconf("SC_PAGE_SIZE")) // 2
    assert blocks * bsize != kernel_default * os.sysconf("SC_PAGE_SIZE")
    assert blocks > 0


def test_home_inside_is_empty_and_writable(sh):
    home = os.environ.get("HOME")
    if not home or home == "/":
        pytest.skip(f"HOME is {home!r}")
    r = ok(sh('echo "$HOME"; ls -A "$HOME"; touch "$HOME/f" && echo wrote'))
    inside_home = "/root" if os.getuid() == 0 else home
    assert r.stdout.splitlines() == [inside_home, "wrote"]
    m = top_mount(inside_mounts(sh), inside_home)
    assert m is not None and m["fstype"] == "tmpfs", m


def test_home_is_root_with_uid_0(sh):
    r = ok(sh('echo "$HOME"; ls -A "$HOME"; touch "$HOME/f" && echo wrote',
              "--uid", "0"))
    assert r.stdout.splitlines() == ["/root", "wrote"]


def test_proc_is_fresh(sh):
    proc = top_mount(inside_mounts(sh), "/proc")
    assert proc is not None and proc["fstype"] == "proc"
    r = ok(sh("cat /proc/1/comm"))
    assert r.stdout.strip() == "hutch-init"


@pytest.mark.parametrize("name", ["kcore", "sysrq-trigger", "timer_list",
                                  "keys"])
def test_proc_sensitive_files_masked(sh, name):
    path = f"/proc/{name}"
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist on this host")
    r = ok(sh(f"test -e {path} && echo exists; cat {path} 2>/dev/null "
              "| head -c 100 | wc -c"))
    lines = r.stdout.split()
    if lines[0] == "exists":
        mounted = top_mount(inside_mounts(sh), path)
        assert mounted is not None, f"{path} is not masked"
        assert lines[1] == "0", f"{path} still reads data"


@pytest.mark.parametrize("name", ["sys", "bus", "irq", "fs"])
def test_proc_subtrees_read_only(sh, name):
    path = f"/proc/{name}"
    if not os.path.isdir(path):
        pytest.skip(f"{path} does not exist on this host")
    m = top_mount(inside_mounts(sh), path)
    assert m is not None and "ro" in m["opts"], f"{path}: {m}"


def test_dev_is_minimal(sh):
    r = ok(sh("ls -A /dev; echo ==; ls -A /dev/pts; echo ==; "
              "for d in null zero full random urandom tty; do "
              "test -c /dev/$d && echo $d; done; echo ==; readlink /dev/ptmx"))
    listing, pts, chars, ptmx = [p.split() for p in r.stdout.split("==\n")]
    assert chars == ["null", "zero", "full", "random", "urandom", "tty"]
    allowed = {"null", "zero", "full", "random", "urandom", "tty", "pts",
               "ptmx", "shm", "fd", "stdin", "stdout", "stderr", "core",
               "mqueue", "console"}
    assert set(listing) <= allowed, set(listing) - allowed
    # A new devpts instance: none of the host's terminals, only ptmx.
    assert pts == ["ptmx"], pts
    assert ptmx in (["pts/ptmx"], ["/dev/pts/ptmx"]), ptmx
    m = top_mount(inside_mounts(sh), "/dev/pts")
    assert m is not None and m["fstype"] == "devpts"


def test_dev_nodes_work(sh):
    r = ok(sh("echo x > /dev/null && echo null-ok; "
              "head -c 4 /dev/zero | od -An -tx1; "
              "head -c 8 /dev/urandom | wc -c; "
              "echo x > /dev/full || echo full-refused; "
              "echo y > /dev/shm/f && cat /dev/shm/f; "
              "test -e /dev/fd/0 && echo fd-ok"))
    assert r.stdout.split() == ["null-ok", "00", "00", "00", "00", "8",
                                "full-refused", "y", "fd-ok"]


# ---- --bind, --ro-bind, --tmpfs

def test_bind_is_read_write(sh, tmp_path):
    (tmp_path / "in").write_text("from host\n")
    r = ok(sh("cat /w/in; echo from sandbox > /w/out", "--bind",
              f"{tmp_path}:/w"))
    assert r.stdout == "from host\n"
    assert (tmp_path / "out").read_text() == "from sandbox\n"
    assert_nothing_mounted_under(tmp_path)


def test_bind_default_destination_is_source(sh, tmp_path):
    (tmp_path / "in").write_text("same path\n")
    r = ok(sh(f"cat {tmp_path}/in", "--bind", str(tmp_path)))
    assert r.stdout == "same path\n"


def test_bind_a_file(sh, tmp_path):
    f = tmp_path / "file"
    f.write_text("one\n")
    r = ok(sh("cat /etc-like/file; echo two >> /etc-like/file",
              "--bind", f"{f}:/etc-like/file"))
    assert r.stdout == "one\n"
    assert f.read_text() == "one\ntwo\n"


def test_ro_bind_is_read_only(sh, tmp_path):
    (tmp_path / "in").write_text("data\n")
    r = sh("cat /r/in; touch /r/new", "--ro-bind", f"{tmp_path}:/r")
    assert r.stdout == "data\n"
    assert_fails_read_only(r, "/r")
    assert sorted(os.listdir(tmp_path)) == ["in"]
    r = sh("echo more >> /r/in", "--ro-bind", f"{tmp_path}:/r", "--uid", "0")
    assert_fails_read_only(r, "/r/in")
    assert (tmp_path / "in").read_text() == "data\n"


def test_binds_apply_in_order(sh, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "f").write_text("a\n")
    (b / "f").write_text("b\n")
    r = ok(sh("cat /x/f", "--ro-bind", f"{a}:/x", "--ro-bind", f"{b}:/x"))
    assert r.stdout == "b\n"


def test_tmpfs_option(sh):
    r = ok(sh("ls -A /scratch; echo x > /scratch/f && cat /scratch/f",
              "--tmpfs", "/scratch"))
    assert r.stdout == "x\n"
    m = top_mount(inside_mounts(sh, "--tmpfs", "/scratch"), "/scratch")
    assert m is not None and m["fstype"] == "tmpfs"


STATFS = 'for d in {}; do stat -f -c "$d %b %S" $d; done'


def tmpfs_sizes(r):
    """{path: bytes} from STATFS's lines."""
    out = {}
    for line in r.stdout.splitlines():
        d, blocks, bsize = line.split()
        out[d] = int(blocks) * int(bsize)
    return out


def test_every_tmpfs_has_a_bounded_default_size(sh, tmp_path):
    """11: without a size, --tmpfs gets what the root, /tmp and /dev/shm get:
    half the memory limit, at most 1 GiB (limits.h), never the kernel's half
    of the host's RAM."""
    rep = tmp_path / "r.json"
    r = ok(sh(STATFS.format("/ /tmp /dev/shm /scratch"), "--tmpfs", "/scratch",
              "--report", rep))
    limits = report_of(rep)["limits"]
    want = min(1 << 30, limits["memory_bytes"] // 2 & ~4095)  # whole pages
    assert limits["tmpfs_bytes"] == want
    assert tmpfs_sizes(r) == {d: want for d in ("/", "/tmp", "/dev/shm", "/scratch")}


def test_image_root_tmpfs_mounts_are_bounded(sandbox, rootfs, tmp_path):
    """An image's root: its writable layer (the overlay's upper, in a tmpfs of
    its own: statfs of the overlay answers for it), /tmp and /dev/shm."""
    rep = tmp_path / "r.json"
    r = ok(sandbox("/bin/sh", "-c", STATFS.replace("stat", "busybox stat").format(
        "/ /tmp /dev/shm"), opts=["--rootfs", rootfs, "--report", rep]))
    want = report_of(rep)["limits"]["tmpfs_bytes"]
    assert want <= 1 << 30
    assert tmpfs_sizes(r) == {d: want for d in ("/", "/tmp", "/dev/shm")}


def test_full_tmp_under_a_memory_limit_is_enospc_not_an_oom_kill(sh, tmp_path):
    need_delegation("--memory=64M")
    rep = tmp_path / "r.json"
    r = sh("stat -f -c '%b %S' /tmp; head -c 200M /dev/zero > /tmp/fill; "
           "echo rc=$?; ls -s /tmp/fill; echo alive", "--memory", "128M", "--report", rep,
           timeout=60)
    assert r.returncode == 0, r.stderr
    blocks, bsize = map(int, r.stdout.split()[:2])
    assert blocks * bsize == 64 << 20
    assert "No space left on device" in r.stderr and "alive" in r.stdout
    assert report_of(rep)["oom_kills"] == 0


def test_untrusted_policy_tmp_fits_its_memory_limit(sh):
    need_delegation("--memory=64M")
    r = ok(sh("stat -f -c '%b %S' /tmp", "--policy", "untrusted"))
    blocks, bsize = map(int, r.stdout.split())
    assert blocks * bsize == 256 << 20  # half of its 512M


@pytest.mark.parametrize("spec,size", [("/scratch:8M", 8 * MiB),
                                       ("/scratch:1G", 1024 * MiB)])
def test_tmpfs_size(sh, spec, size):
    r = ok(sh("stat -f -c '%b %S' /scratch", "--tmpfs", spec))
    blocks, bsize = map(int, r.stdout.split())
    assert blocks * bsize == size


def test_tmpfs_size_enforced(sh):
    r = sh("head -c 3M /dev/zero > /scratch/big", "--tmpfs", "/scratch:1M")
    assert r.returncode != 0
    assert "No space left on device" in r.stderr


def test_tmpfs_over_bind_hides_it(sh, tmp_path):
    (tmp_path / "secret").write_text("s")
    r = ok(sh("ls -A /w", "--bind", f"{tmp_path}:/w", "--tmpfs", "/w"))
    assert r.stdout == ""
    assert (tmp_path / "secret").exists()


# ---- symlinks cannot aim a mount at the host

def make_escape(tmp_path):
    """D/esc -> T (absolute host path); T holds one marker file."""
    t = tmp_path / "t"
    t.mkdir()
    (t / "marker").write_text("host")
    d = tmp_path / "d"
    d.mkdir()
    (d / "esc").symlink_to(t)
    return d, t


def assert_refused_or_ok(r):
    if r.returncode == 125:
        assert error_lines(r.stderr), r.stderr
    else:
        ok(r)


def test_symlinked_tmpfs_destination_stays_inside(sh, tmp_path):
    d, t = make_escape(tmp_path)
    # T is bound at its own path first, so the inside T is visible; the
    # tmpfs aimed at /d/esc must land on the inside T (resolved in the new
    # root), never on the host's T, whose bind would then still show the
    # marker.
    r = sh(f"ls -A {t}", "--bind", f"{t}:{t}", "--bind", f"{d}:/d",
           "--tmpfs", "/d/esc")
    assert "marker" not in r.stdout
    assert_refused_or_ok(r)
    if r.returncode == 0:
        assert r.stdout == ""
    assert sorted(os.listdir(t)) == ["marker"]
    assert_nothing_mounted_under(tmp_path)


def test_symlinked_bind_destination_stays_inside(sh, tmp_path):
    d, t = make_escape(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "payload").write_text("payload\n")
    # A naive mount would follow /d/esc to the host's T and create the
    # mount point T/x there.
    r = sh("cat /d/esc/x/payload", "--bind", f"{d}:/d",
           "--ro-bind", f"{src}:/d/esc/x")
    assert_refused_or_ok(r)
    if r.returncode == 0:
        assert r.stdout == "payload\n"
    assert sorted(os.listdir(t)) == ["marker"]
    assert sorted(os.listdir(d)) == ["esc"]
    assert os.readlink(d / "esc") == str(t)
    assert_nothing_mounted_under(tmp_path)


def test_dotdot_destination_stays_inside(sh, tmp_path):
    t = tmp_path / "t"
    t.mkdir()
    (t / "marker").write_text("host")
    dst = "/" + "../" * 30 + str(t).lstrip("/")
    r = sh(f"ls -A {t}", "--bind", f"{t}:{t}", "--tmpfs", dst)
    assert "marker" not in r.stdout
    assert_refused_or_ok(r)
    assert sorted(os.listdir(t)) == ["marker"]
    assert_nothing_mounted_under(tmp_path)


def test_relative_symlink_destination_stays_inside(sh, tmp_path):
    d, t = tmp_path / "d", tmp_path / "t"
    d.mkdir(), t.mkdir()
    (t / "marker").write_text("host")
    (d / "esc").symlink_to("../" * 30 + str(t).lstrip("/"))
    r = sh("true", "--bind", f"{d}:/d", "--ro-bind", f"{d}:/d/esc/x")
    assert_refused_or_ok(r)
    assert sorted(os.listdir(t)) == ["marker"]
    assert_nothing_mounted_under(tmp_path)


def test_bind_create_makes_the_source_and_keeps_what_is_written(sh, tmp_path):
    src = tmp_path / "new" / "cache"
    ok(sh("echo kept > /c/f", "--bind-create", f"{src}:/c"))
    assert (src / "f").read_text() == "kept\n"
    assert (src.stat().st_mode & 0o777) == 0o700
    assert src.stat().st_uid == os.getuid()
    # the second run finds it and sees what the first one left
    assert ok(sh("cat /c/f", "--bind-create", f"{src}:/c")).stdout == "kept\n"


def test_bind_create_error_names_the_source(sh, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write into a read-only directory; run as a normal user")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    r = sh("true", "--bind-create", f"{ro}/x:/c")
    assert r.returncode == 125
    assert f"--bind-create {ro}/x" in r.stderr
