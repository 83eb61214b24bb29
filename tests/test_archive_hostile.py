"""Hostile archives get nothing (src/archive.c): each crafted tarball is
refused with an error naming the entry, and nothing lands outside the
store."""

import io
import os
import tarfile

import pytest

from imagebuild import BUSYBOX, busybox_layer, docker_archive, tar_bytes


@pytest.fixture
def store(tmp_path):
    return dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))


def ti(name, type_=tarfile.REGTYPE, linkname="", size=0):
    t = tarfile.TarInfo(name)
    t.type = type_
    t.linkname = linkname
    t.size = size
    t.mode = 0o644
    return t


def craft(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


HOSTILE = {
    "traversal": ([(ti("../escape", size=3), b"bad")], "../escape", "'..'"),
    "deep-traversal": ([(ti("a/../../escape", size=3), b"bad")], "a/../../escape", "'..'"),
    "absolute": ([(ti("/tmp/hutch-abs-escape", size=3), b"bad")], "/tmp/hutch-abs-escape",
                 "absolute"),
    # absolute once its "./" is gone (tests/fuzz/fuzz_image.c)
    "dot-slash-absolute": ([(ti(".//tmp/hutch-abs-escape", size=3), b"bad")],
                           ".//tmp/hutch-abs-escape", "absolute"),
    "hardlink-dot-slash-abs": ([(ti("hl", tarfile.LNKTYPE, ".//etc/passwd"), None)], "hl",
                               "hard link outside"),
    # "a//b/./c" is three deep, not five (tests/fuzz/fuzz_image.c)
    "symlink-out-doubled-slashes": ([(ti("a//b/./c/up", tarfile.SYMTYPE, "../../../../etc"),
                                      None)], "a//b/./c/up", "symlink pointing outside"),
    "symlink-out-trailing-slash": ([(ti("a/up/", tarfile.SYMTYPE, "../../etc"), None)], "a/up/",
                                   "symlink pointing outside"),
    "symlink-out": ([(ti("up", tarfile.SYMTYPE, "../../../../etc"), None)], "up",
                    "symlink pointing outside"),
    "hardlink-out": ([(ti("hl", tarfile.LNKTYPE, "../../../etc/passwd"), None)], "hl",
                     "hard link outside"),
    "hardlink-abs": ([(ti("hl", tarfile.LNKTYPE, "/etc/passwd"), None)], "hl",
                     "hard link outside"),
    "char-device": ([(ti("dev/mem", tarfile.CHRTYPE), None)], "dev/mem", "device node"),
    "block-device": ([(ti("sda", tarfile.BLKTYPE), None)], "sda", "device node"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_rootfs_tarball_refused(run, store, tmp_path, case):
    entries, entry, why = HOSTILE[case]
    tb = tmp_path / "evil.tar"
    tb.write_bytes(craft(entries))
    r = run("image", "import", tb, "evil", env=store)
    assert r.returncode == 125, r.stderr
    assert f"'{entry}'" in r.stderr and why in r.stderr, r.stderr
    assert not os.path.exists("/tmp/hutch-abs-escape")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "data" / "escape").exists()
    hutch = tmp_path / "data" / "hutch"
    assert os.listdir(hutch / "layers") == [] and os.listdir(hutch / "tmp") == []
    assert os.listdir(hutch / "images") == []


def test_write_through_planted_symlink_refused(run, store, tmp_path):
    """A symlink that stays inside by its text, then a file through it: an
    absolute symlink target is the image's own path, but writing through it
    at unpack time would land on the host."""
    target = tmp_path / "victim"
    target.mkdir()
    entries = [(ti("sub", tarfile.SYMTYPE, str(target)), None),
               (ti("sub/owned", size=3), b"bad")]
    tb = tmp_path / "evil.tar"
    tb.write_bytes(craft(entries))
    r = run("image", "import", tb, "evil", env=store)
    assert r.returncode == 125
    assert "sub/owned" in r.stderr
    assert os.listdir(target) == []


def test_hostile_layer_inside_docker_archive(run, store, tmp_path):
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    evil = craft([(ti("../../../../tmp/hutch-layer-escape", size=3), b"bad")])
    docker_archive(tmp_path / "evil.tar", [busybox_layer(), evil])
    r = run("image", "import", tmp_path / "evil.tar", "evil", env=store)
    assert r.returncode == 125 and "hutch-layer-escape" in r.stderr and "'..'" in r.stderr
    assert not os.path.exists("/tmp/hutch-layer-escape")
    assert os.listdir(tmp_path / "data" / "hutch" / "images") == []


def test_oversized_header_refused(run, store, tmp_path):
    long = "a/" * 3000 + "f"
    tb = tmp_path / "evil.tar"
    tb.write_bytes(craft([(ti(long, size=1), b"x")]))
    r = run("image", "import", tb, "evil", env=store)
    assert r.returncode == 125 and ("refusing" in r.stderr or "corrupt" in r.stderr), r.stderr


def test_benign_relative_symlink_accepted(run, store, tmp_path):
    tb = tmp_path / "ok.tar"
    tb.write_bytes(tar_bytes([("usr", "dir", None), ("usr/bin", "dir", None),
                              ("bin", "link", "usr/bin"),
                              ("usr/bin/x", "link", "../../etc/x")]))
    r = run("image", "import", tb, "fine", env=store)
    assert r.returncode == 0, r.stderr
