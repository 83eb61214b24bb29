"""--rootfs, --persist, --overlay and --overlay-driver: overlay roots and
throw-away writable views of host directories (src/overlay.c)."""

import os
import shutil

import pytest

from conftest import ok

BUSYBOX = "/bin/busybox"


def fuse_problem():
    if not shutil.which("fuse-overlayfs"):
        return "fuse-overlayfs is not installed (package fuse-overlayfs)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    return None


@pytest.fixture
def rootfs(tmp_path):
    """A busybox-static root: /bin/busybox and /bin/sh."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("from the rootfs\n")
    return root


def test_rootfs_is_the_root_and_writes_vanish(sandbox, rootfs):
    r = ok(sandbox("/bin/sh", "-c",
                   "busybox cat /etc/motd; echo new > /etc/motd; echo x > /made;"
                   " busybox cat /etc/motd /made",
                   opts=["--rootfs", rootfs]))
    assert r.stdout == "from the rootfs\nnew\nx\n"
    # the read-only layer is untouched and nothing is left anywhere
    assert (rootfs / "etc" / "motd").read_text() == "from the rootfs\n"
    assert not (rootfs / "made").exists()
    r = ok(sandbox("/bin/sh", "-c", "busybox cat /made 2>&1 || echo gone",
                   opts=["--rootfs", rootfs]))
    assert "gone" in r.stdout


def test_host_usr_is_not_there(sandbox, rootfs):
    r = sandbox("/usr/bin/env", "true", opts=["--rootfs", rootfs])
    assert r.returncode == 127, r.stderr


def test_upper_layer_is_invisible(sandbox, rootfs):
    r = ok(sandbox("/bin/sh", "-c", "busybox ls -a /tmp; busybox find / -xdev -name "
                   "'upper-*' -o -xdev -name 'work-*'", opts=["--rootfs", rootfs]))
    assert "upper" not in r.stdout and "work" not in r.stdout, r.stdout


def test_persist_keeps_writes(sandbox, rootfs, tmp_path):
    keep = tmp_path / "keep"
    ok(sandbox("/bin/sh", "-c", "echo kept > /kept",
               opts=["--rootfs", rootfs, "--persist", keep]))
    assert (keep / "upper" / "kept").read_text() == "kept\n"
    assert not (rootfs / "kept").exists()
    r = ok(sandbox("/bin/busybox", "cat", "/kept",
                   opts=["--rootfs", rootfs, "--persist", keep]))
    assert r.stdout == "kept\n"
    for dirpath, dirs, _ in os.walk(keep):  # overlayfs leaves a mode-000 work/work
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o700)


def test_rootfs_missing_is_a_clear_error(sandbox, tmp_path):
    r = sandbox("/bin/true", opts=["--rootfs", tmp_path / "nope"])
    assert r.returncode == 125
    assert "--rootfs" in r.stderr and str(tmp_path / "nope") in r.stderr


def test_overlay_usr_install_leaves_host_alone(sandbox, tmp_path):
    if fuse_problem():
        pytest.skip("writing into a root-owned /usr needs fuse-overlayfs: "
                    + fuse_problem())
    name = f"hutch-overlay-test-{os.getpid()}"
    r = ok(sandbox("sh", "-c",
                   f"echo installed > /usr/local/bin/{name} && "
                   f"cat /usr/local/bin/{name} && touch /usr/bin/{name}",
                   opts=["--overlay", "/usr"]))
    assert r.stdout == "installed\n"
    assert not os.path.exists(f"/usr/local/bin/{name}")
    assert not os.path.exists(f"/usr/bin/{name}")


def test_overlay_own_dir_kernel(sandbox, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "f").write_text("orig\n")
    if not tmpfs_upper_works():
        r = sandbox("true", opts=["--overlay", d, "--overlay-driver", "kernel"])
        assert r.returncode == 125
        assert "the kernel refuses an overlay mount: before Linux 6.6" in r.stderr, r.stderr
        assert "try --overlay-driver fuse" in r.stderr
        return
    r = ok(sandbox("sh", "-c", f"echo changed > {d}/f; echo n > {d}/new; cat {d}/f",
                   opts=["--overlay", d, "--overlay-driver", "kernel", "-v"]))
    assert r.stdout == "changed\n"
    assert "kernel overlayfs" in r.stderr
    assert (d / "f").read_text() == "orig\n"
    assert not (d / "new").exists()


def test_fuse_driver_forced(sandbox, rootfs):
    why = fuse_problem()
    if why:
        pytest.skip(why)
    r = ok(sandbox("/bin/sh", "-c", "echo a > /a && busybox cat /a /etc/motd",
                   opts=["--rootfs", rootfs, "--overlay-driver", "fuse", "-v"]))
    assert r.stdout == "a\nfrom the rootfs\n"
    assert "root: fuse-overlayfs" in r.stderr
    assert not (rootfs / "a").exists()


def test_persist_with_fuse_driver(sandbox, rootfs, tmp_path):
    """fuse-overlayfs makes each new entry in work and renames it into upper: both must be
    on one mount, or every create (the first: /proc's mount point) fails with EXDEV."""
    why = fuse_problem()
    if why:
        pytest.skip(why)
    keep = tmp_path / "keep"
    opts = ["--rootfs", rootfs, "--persist", keep, "--overlay-driver", "fuse"]
    r = ok(sandbox("/bin/sh", "-c", "echo kept > /kept && busybox mkdir /d",
                   opts=opts + ["-v"]))
    assert "root: fuse-overlayfs" in r.stderr
    assert (keep / "upper" / "kept").read_text() == "kept\n"
    assert (keep / "upper" / "d").is_dir()
    assert not (rootfs / "kept").exists()
    r = ok(sandbox("/bin/busybox", "cat", "/kept", opts=opts))
    assert r.stdout == "kept\n"
    for dirpath, dirs, _ in os.walk(keep):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o700)


def tmpfs_upper_works():
    """Overlay in a user namespace needs user.* xattrs on its (tmpfs) upper layer: Linux 6.6."""
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 6)


def test_kernel_driver_says_so(sandbox, rootfs):
    if not tmpfs_upper_works():
        # Debian 12's 6.1 (tests/vm/kernel-6.1): auto falls back to fuse-overlayfs, saying why
        if fuse_problem():
            pytest.skip(fuse_problem())
        r = ok(sandbox("/bin/busybox", "true", opts=["--rootfs", rootfs, "-v"]))
        assert "kernel overlayfs refused (Invalid argument: before Linux 6.6" in r.stderr
        assert "root: fuse-overlayfs" in r.stderr
        return
    r = ok(sandbox("/bin/busybox", "true", opts=["--rootfs", rootfs, "-v"]))
    assert "root: kernel overlayfs" in r.stderr


def test_bad_driver(run):
    r = run("run", "--overlay-driver", "zfs", "--", "true")
    assert r.returncode == 125 and "kernel, fuse or auto" in r.stderr
