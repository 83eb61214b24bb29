"""hutch image import/ls/rm/inspect and hutch run --image (src/image*.c,
src/store.c): images built by hand in tests/imagebuild.py."""

import glob
import json
import os
import shutil
import signal

import pytest

from conftest import ok
from imagebuild import (BUSYBOX, busybox_layer, docker_archive, oci_layout, sha,
                        tar_bytes)


@pytest.fixture
def store(tmp_path, monkeypatch):
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    return env


def imp(run, env, *args):
    return run("image", "import", *args, env=env)


def test_plain_rootfs_tarball(run, sandbox, store, tmp_path):
    tb = tmp_path / "root.tar"
    tb.write_bytes(busybox_layer())
    r = ok(imp(run, store, tb, "plain"))
    assert r.stdout.startswith("plain:latest sha256:")
    r = ok(sandbox("/bin/busybox", "cat", "/etc/motd", opts=["--image", "plain"], env=store))
    assert r.stdout == "hello from the image\n"


def test_docker_archive_runs_cmd_env_user(run, sandbox, store, tmp_path):
    cfg = {"Entrypoint": ["/bin/sh", "-c"],
           "Cmd": ["echo $IMAGEVAR $(busybox id -u) $(busybox pwd) $HOME"],
           "Env": ["PATH=/bin", "IMAGEVAR=set-by-image"], "WorkingDir": "/etc",
           "User": "appuser"}
    docker_archive(tmp_path / "bb.tar", [busybox_layer()], cfg=cfg, gz=True)
    ok(imp(run, store, tmp_path / "bb.tar"))
    r = ok(run("run", "--image", "bb", env=store))
    assert r.stdout == "set-by-image 1234 /etc /home/app\n"
    # the command line replaces Cmd, after the Entrypoint; --setenv overrides Env
    r = ok(run("run", "--setenv", "IMAGEVAR=mine", "--image", "bb:latest", "--",
               "echo $IMAGEVAR", env=store))
    assert r.stdout == "mine\n"


def test_oci_layout_multi_layer_whiteouts(run, store, tmp_path):
    base = busybox_layer(extra=[("gone", "dir", None), ("gone/f", "file", b"x"),
                                ("opq", "dir", None), ("opq/old", "file", b"old")])
    top = tar_bytes([("etc", "dir", None), ("etc/.wh.motd", "file", b""),
                     (".wh.gone", "file", b""), ("opq", "dir", None),
                     ("opq/.wh..wh..opq", "file", b""), ("opq/new", "file", b"new")])
    oci_layout(str(tmp_path / "oci"), [base, top], ref="v1")
    r = ok(imp(run, store, tmp_path / "oci", "multi:v1"))
    r = ok(run("run", "--image", "multi:v1", "--", "/bin/sh", "-c",
               "busybox ls /etc /opq; busybox ls -d /gone 2>&1 || true", env=store))
    assert "motd" not in r.stdout
    assert "new" in r.stdout and "old" not in r.stdout
    assert "No such file" in r.stdout
    rec = json.loads(ok(run("image", "inspect", "multi:v1", env=store)).stdout)
    assert rec["format"] == "oci" and len(rec["layers"]) == 2
    assert rec["layers"][1] == sha(top)


def test_writes_vanish_and_persist(run, store, tmp_path):
    docker_archive(tmp_path / "bb.tar", [busybox_layer()])
    ok(imp(run, store, tmp_path / "bb.tar"))
    ok(run("run", "--image", "bb", "--", "/bin/sh", "-c", "echo x > /etc/motd", env=store))
    r = ok(run("run", "--image", "bb", "--", "/bin/busybox", "cat", "/etc/motd", env=store))
    assert r.stdout == "hello from the image\n"
    keep = tmp_path / "keep"
    ok(run("run", "--image", "bb", "--persist", keep, "--", "/bin/sh", "-c",
           "echo kept > /etc/motd", env=store))
    r = ok(run("run", "--image", "bb", "--persist", keep, "--", "/bin/busybox", "cat",
               "/etc/motd", env=store))
    assert r.stdout == "kept\n"
    unlock(keep)


def unlock(keep):
    """overlayfs leaves a mode-000 work/work behind: let pytest clean up."""
    for dirpath, dirs, _ in os.walk(keep):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o700)


def test_shared_layer_stored_once_and_rm(run, store, tmp_path):
    base = busybox_layer()
    docker_archive(tmp_path / "a.tar", [base], tag="a:1")
    oci_layout(str(tmp_path / "b"), [base, tar_bytes([("extra", "file", b"e")])])
    ok(imp(run, store, tmp_path / "a.tar"))
    ok(imp(run, store, tmp_path / "b", "b:1"))
    layers = tmp_path / "data" / "hutch" / "layers"
    assert sorted(os.listdir(layers)) == sorted([sha(base), sha(tar_bytes([("extra", "file", b"e")]))])
    ls = ok(run("image", "ls", env=store)).stdout
    assert "a:1" in ls and "b:1" in ls
    ok(run("image", "rm", "b:1", env=store))
    assert os.listdir(layers) == [sha(base)]
    ok(run("image", "rm", "a:1", env=store))
    assert os.listdir(layers) == []
    r = run("run", "--image", "a:1", "--", "true", env=store)
    assert r.returncode == 125 and "not in the store" in r.stderr


def test_corrupted_blob_is_caught(run, store, tmp_path):
    d = oci_layout(str(tmp_path / "oci"), [busybox_layer()])
    blobs = os.path.join(d, "blobs", "sha256")
    biggest = max(os.listdir(blobs), key=lambda n: os.path.getsize(os.path.join(blobs, n)))
    with open(os.path.join(blobs, biggest), "r+b") as f:
        f.seek(100)
        f.write(b"\0corrupt\0")
    r = imp(run, store, d, "bad")
    assert r.returncode == 125 and "corrupted" in r.stderr, r.stderr
    assert not os.listdir(tmp_path / "data" / "hutch" / "layers")


def test_corrupted_docker_layer_is_caught(run, store, tmp_path):
    import tarfile
    layer = busybox_layer()
    docker_archive(tmp_path / "ok.tar", [layer])
    # swap the layer for another one: its content no longer matches diff_ids
    bad = tmp_path / "bad.tar"
    with tarfile.open(tmp_path / "ok.tar") as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.endswith("layer.tar"):
                data = tar_bytes([("evil", "file", b"evil")])
                m.size = len(data)
            import io
            dst.addfile(m, io.BytesIO(data))
    r = imp(run, store, bad, "bad")
    assert r.returncode == 125 and "corrupted" in r.stderr, r.stderr


def test_concurrent_imports_of_the_same_image(run, store, tmp_path, hutch_bin):
    import subprocess
    docker_archive(tmp_path / "bb.tar", [busybox_layer()])
    docker_archive(tmp_path / "other.tar", [busybox_layer(extra=[("x", "file", b"x")])],
                   tag="other:1")
    ok(imp(run, store, tmp_path / "other.tar"))
    # three imports of the same image, and runs from the store while they go on
    procs = [subprocess.Popen([hutch_bin, "image", "import", str(tmp_path / "bb.tar")],
                              env=store, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    procs += [subprocess.Popen([hutch_bin, "run", "--image", "other:1", "--", "/bin/busybox",
                                "cat", "/x"], env=store, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    assert len(os.listdir(tmp_path / "data" / "hutch" / "layers")) == 2
    assert os.listdir(tmp_path / "data" / "hutch" / "tmp") == []
    r = ok(run("run", "--image", "bb", "--", "/bin/busybox", "cat", "/etc/motd", env=store))
    assert r.stdout == "hello from the image\n"


def test_rm_refused_while_a_sandbox_runs(run, store, tmp_path, hutch_bin):
    import subprocess
    docker_archive(tmp_path / "bb.tar", [busybox_layer()])
    ok(imp(run, store, tmp_path / "bb.tar"))
    mark = tmp_path / "mark"
    mark.mkdir()
    p = subprocess.Popen([hutch_bin, "run", "--image", "bb", "--bind", f"{mark}:/mnt", "--",
                          "/bin/sh", "-c", "busybox touch /mnt/started; busybox sleep 5"],
                         env=store, stdin=subprocess.DEVNULL)
    try:
        import time
        for _ in range(200):
            if (mark / "started").exists():
                break
            time.sleep(0.05)
        r = run("image", "rm", "bb", env=store)
        assert r.returncode == 125 and "in use" in r.stderr
    finally:
        p.kill()
        p.wait()
    ok(run("image", "rm", "bb", env=store))


def test_image_usage(run, store):
    r = run("image", "frobnicate", env=store)
    assert r.returncode == 125 and "usage" in r.stderr


def test_ownership_mapped_through_subordinate_range(run, store, tmp_path, subids):
    import tarfile
    from conftest import subid_ranges
    owned = tarfile.TarInfo("home/app/f")
    owned.size, owned.uid, owned.gid, owned.mode = 2, 1234, 2345, 0o600
    home = tarfile.TarInfo("home/app")
    home.type, home.uid, home.gid, home.mode = tarfile.DIRTYPE, 1234, 2345, 0o700
    layer = busybox_layer(extra=[("home", "dir", None), ("home/app", home, None),
                                 ("home/app/f", owned, b"hi")])
    docker_archive(tmp_path / "own.tar", [layer], cfg={"User": "appuser"})
    ok(imp(run, store, tmp_path / "own.tar", "own"))
    r = ok(run("run", "--image", "own", "--", "/bin/sh", "-c",
               "busybox stat -c '%u %g' /home/app/f /etc/motd; busybox id -u; busybox cat /home/app/f",
               env=store))
    assert r.stdout.split("\n")[:4] == ["1234 2345", "0 0", "1234", "hi"], r.stdout
    # --uid replaces the User, and takes that uid's group from the image's passwd
    r = ok(run("run", "--image", "own", "--uid", "0", "--", "/bin/sh", "-c",
               "busybox id -u; busybox id -g", env=store))
    assert r.stdout == "0\n0\n"
    r = ok(run("run", "--image", "own", "--uid", "1234", "--gid", "7", "--", "/bin/sh", "-c",
               "busybox id -u; busybox id -g", env=store))
    assert r.stdout == "1234\n7\n"
    # on the host: root's files are the caller's, the others in the subordinate range
    layer_dir = tmp_path / "data" / "hutch" / "layers" / sha(layer)
    start = subid_ranges("uid")[0][0]
    assert os.lstat(layer_dir / "etc" / "motd").st_uid == os.getuid()
    assert os.lstat(layer_dir / "home" / "app").st_uid == start + 1233
    # and `image rm` can remove what the caller could not
    ok(run("image", "rm", "own", env=store))
    assert not layer_dir.exists()


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_import_what_podman_save_writes(run, store, tmp_path, fmt):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (optional: package podman)")
    import tempfile
    rt = tempfile.mkdtemp(prefix="hp")  # podman wants a runroot under 50 characters
    try:
        _podman_save_import(run, store, tmp_path, fmt, rt)
    finally:
        # rootless podman leaves its pause process (holding its namespaces) behind
        for pidfile in glob.glob(rt + "/**/pause.pid", recursive=True):
            try:
                os.kill(int(open(pidfile).read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(rt, ignore_errors=True)


def _podman_save_import(run, store, tmp_path, fmt, rt):
    import subprocess
    pod = ["podman", "--root", str(tmp_path / "pr"), "--runroot", rt + "/r",
           "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
           "--events-backend", "file"]
    env = dict(store, XDG_RUNTIME_DIR=rt)
    (tmp_path / "root.tar").write_bytes(busybox_layer())
    for args in (["import", str(tmp_path / "root.tar"), "pbb"],
                 ["save", "--format", fmt, "-o", str(tmp_path / "saved.tar"), "pbb"]):
        r = subprocess.run(pod + args, env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            pytest.skip(f"rootless podman does not work here: {r.stderr.strip()[-200:]}")
    ok(imp(run, store, tmp_path / "saved.tar", "saved"))
    r = ok(run("run", "--image", "saved", "--", "/bin/busybox", "cat", "/etc/motd", env=store))
    assert r.stdout == "hello from the image\n"
    subprocess.run(pod + ["rmi", "-a", "-f"], env=env, capture_output=True, timeout=60)
    subprocess.run(pod + ["unshare", "rm", "-rf", str(tmp_path / "pr")], env=env,
                   capture_output=True, timeout=60)


def test_many_layers(run, store, tmp_path):
    """More layers than the classic lowerdir option string could name by
    their store paths (each about 100 characters; a page holds 4096)."""
    layers = [busybox_layer()] + [tar_bytes([(f"l{i}", "file", str(i).encode())])
                                  for i in range(60)]
    docker_archive(tmp_path / "many.tar", layers, tag="many:1")
    ok(imp(run, store, tmp_path / "many.tar"))
    r = ok(run("run", "--image", "many:1", "--", "/bin/sh", "-c",
               "busybox cat /l0 /l59 /etc/motd", env=store))
    assert r.stdout == "059hello from the image\n"


def test_oci_tarball_and_fuse_driver(run, store, tmp_path):
    import tarfile
    from test_overlay import fuse_problem
    d = oci_layout(str(tmp_path / "oci"), [busybox_layer()],
                   cfg={"Cmd": ["/bin/busybox", "id", "-u"], "User": "1234"})
    with tarfile.open(tmp_path / "oci.tar", "w") as t:
        for name in os.listdir(d):
            t.add(os.path.join(d, name), arcname=name)
    out = ok(imp(run, store, tmp_path / "oci.tar", "ocitar")).stdout
    assert out.startswith("ocitar:latest sha256:")
    assert ok(run("run", "--image", "ocitar", env=store)).stdout == "1234\n"
    if fuse_problem():
        pytest.skip(fuse_problem())
    r = ok(run("run", "-v", "--overlay-driver", "fuse", "--image", "ocitar", env=store))
    assert r.stdout == "1234\n" and "root: fuse-overlayfs" in r.stderr


def test_persist_needs_a_root(run, store, tmp_path):
    r = run("run", "--persist", tmp_path / "p", "--", "true", env=store)
    assert r.returncode == 125 and "--persist" in r.stderr and "--rootfs" in r.stderr


def test_zstd_layers(run, store, tmp_path):
    import shutil
    import subprocess
    if not shutil.which("zstd"):
        pytest.skip("zstd is not installed (package zstd) to make a zstd layer")

    def zstd(b):
        return subprocess.run(["zstd", "-q", "-c"], input=b, capture_output=True,
                              check=True).stdout

    top = tar_bytes([("z", "file", b"zstd layer\n")])
    oci_layout(str(tmp_path / "oci"), [busybox_layer(), top], compress=zstd,
               media="tar+zstd")
    ok(imp(run, store, tmp_path / "oci", "zst"))
    r = ok(run("run", "--image", "zst", "--", "/bin/busybox", "cat", "/z", env=store))
    assert r.stdout == "zstd layer\n"
