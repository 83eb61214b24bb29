"""Hostile image metadata and sizes (src/image-meta.c, src/image-import.c,
src/archive.c, src/store.c): JSON fields of the wrong type, blobs that are not
regular files, compression bombs and killed imports. Each bad input is one
error line naming the file and field (or option), exit 125, and nothing left
in the store's tmp/."""

import gzip
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import error_lines, ok
from imagebuild import (BUSYBOX, busybox_layer, config_json, docker_archive, oci_layout, sha,
                        tar_bytes, write_tar)


@pytest.fixture
def store(tmp_path):
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    return dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))


def hutch_dir(tmp_path):
    return tmp_path / "data" / "hutch"


def refused(r, tmp_path, *words):
    """Exit 125, one error line with every word, nothing left in tmp/ or images/."""
    assert r.returncode == 125, (r.returncode, r.stderr)
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    h = hutch_dir(tmp_path)
    if h.exists():
        assert os.listdir(h / "tmp") == [], os.listdir(h / "tmp")
        assert os.listdir(h / "images") == []
    return lines[0]


def docker_tar(path, manifest=None, config=None, layers=None):
    """A docker-archive whose manifest.json (a list of one image, or whatever
    `manifest` makes of it) and configuration are given as Python values."""
    layers = layers if layers is not None else [busybox_layer()]
    conf = json.loads(config_json(layers))
    if config:
        config(conf)
    conf = json.dumps(conf).encode()
    files = {f"{sha(conf)}.json": conf}
    names = []
    for layer in layers:
        files[f"{sha(layer)}/layer.tar"] = layer
        names.append(f"{sha(layer)}/layer.tar")
    m = [{"Config": f"{sha(conf)}.json", "RepoTags": ["bb:latest"], "Layers": names}]
    if manifest:
        m = manifest(m)
    files["manifest.json"] = json.dumps(m).encode()
    write_tar(path, files)


def setitem(key, value):
    def f(m):
        m[0][key] = value
        return m
    return f


def set_diff_ids(conf):
    conf["rootfs"]["diff_ids"] = conf["rootfs"]["diff_ids"][0]


def set_env_string(conf):
    conf["config"]["Env"] = "PATH=/bin"


BAD_DOCKER = {
    "repotags-string": (setitem("RepoTags", "bb:latest"), None,
                        ["manifest.json: [0].RepoTags: not an array"]),
    "repotags-number": (setitem("RepoTags", [7]), None,
                        ["manifest.json: [0].RepoTags[0]: not a string"]),
    "layers-string": (setitem("Layers", "x/layer.tar"), None,
                      ["manifest.json: [0].Layers: not an array"]),
    "layers-missing": (lambda m: [{"Config": m[0]["Config"]}], None,
                       ["manifest.json: [0].Layers: missing"]),
    "config-number": (setitem("Config", 5), None, ["manifest.json: [0].Config: not a string"]),
    "manifest-object": (lambda m: m[0], None, ["manifest.json: not a JSON array"]),
    "manifest-empty": (lambda m: [], None, ["manifest.json: lists no image"]),
    "diff-ids-string": (None, set_diff_ids, [".json: rootfs.diff_ids: not an array"]),
    "env-string": (None, set_env_string, [".json: config.Env: not an array"]),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCKER))
def test_docker_manifest_type_errors(run, store, tmp_path, case):
    manifest, config, words = BAD_DOCKER[case]
    docker_tar(tmp_path / "bad.tar", manifest, config)
    r = run("image", "import", tmp_path / "bad.tar", "bad", env=store)
    line = refused(r, tmp_path, "bad.tar", *words, "damaged or hostile")
    assert "Assertion" not in r.stderr and line.startswith("hutch: "), r.stderr


def test_not_json(run, store, tmp_path):
    write_tar(tmp_path / "bad.tar", {"manifest.json": b"[{\"Config\": "})
    refused(run("image", "import", tmp_path / "bad.tar", "bad", env=store), tmp_path,
            "manifest.json: not valid JSON")


@pytest.mark.parametrize("tags", [None, "absent", []], ids=["null", "absent", "empty"])
def test_untagged_docker_archive_imports(run, store, tmp_path, tags):
    """docker save IMAGE_ID writes "RepoTags": null: NAME names it, or else the
    archive's file name."""
    def untag(m):
        if tags == "absent":
            del m[0]["RepoTags"]
        else:
            m[0]["RepoTags"] = tags
        return m
    docker_tar(tmp_path / "anon.tar", untag)
    r = ok(run("image", "import", tmp_path / "anon.tar", "mine:1", env=store))
    assert r.stdout.startswith("mine:1 sha256:")
    r = ok(run("image", "import", tmp_path / "anon.tar", env=store))
    assert r.stdout.startswith("anon:latest sha256:")
    r = ok(run("run", "--image", "anon", "--", "/bin/busybox", "cat", "/etc/motd", env=store))
    assert r.stdout == "hello from the image\n"
    assert os.listdir(hutch_dir(tmp_path) / "tmp") == []


def test_symlinked_layer_of_docker_save_imports(run, store, tmp_path):
    """docker save writes a layer that another image of the archive has as a
    relative symlink to the first copy: followed, since it stays inside."""
    layer = busybox_layer()
    top = tar_bytes([("top", "file", b"t")])
    conf = config_json([layer, top])
    entries = [(f"{sha(conf)}.json", "file", conf), ("a", "dir", None),
               ("a/layer.tar", "file", layer), ("b", "dir", None), ("b/layer.tar", "file", top),
               ("c", "dir", None), ("c/layer.tar", "link", "../a/layer.tar"),
               ("manifest.json", "file", json.dumps([{
                   "Config": f"{sha(conf)}.json", "RepoTags": None,
                   "Layers": ["c/layer.tar", "b/layer.tar"]}]).encode())]
    (tmp_path / "dup.tar").write_bytes(tar_bytes(entries))
    ok(run("image", "import", tmp_path / "dup.tar", env=store))
    r = ok(run("run", "--image", "dup", "--", "/bin/busybox", "cat", "/top", env=store))
    assert r.stdout == "t"


def test_bad_tag_and_name_refused(run, store, tmp_path):
    docker_tar(tmp_path / "t.tar", setitem("RepoTags", ["\x1b[2Jevil"]))
    refused(run("image", "import", tmp_path / "t.tar", env=store), tmp_path,
            "the archive's tag", "NAME")
    refused(run("image", "import", tmp_path / "t.tar", "../x", env=store), tmp_path,
            "NAME '../x'")


def test_run_image_with_a_bad_record(run, store, tmp_path):
    """A record of the store is read with the same typed getters: Env a string
    (an older hutch copied configurations unchecked) is one clear error."""
    docker_archive(tmp_path / "bb.tar", [busybox_layer()])
    ok(run("image", "import", tmp_path / "bb.tar", "bb", env=store))
    rec = hutch_dir(tmp_path) / "images" / "bb:latest.json"
    doc = json.loads(rec.read_text())
    doc["config"]["Env"] = "PATH=/bin"
    rec.write_text(json.dumps(doc))
    r = run("run", "--image", "bb", "--", "/bin/busybox", "true", env=store)
    assert r.returncode == 125, r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "bb:latest.json: config.Env: not an array" in lines[0], r.stderr
    assert "import the image again" in lines[0]
    doc["layers"] = ["../../../etc"]
    rec.write_text(json.dumps(doc))
    r = run("run", "--image", "bb", "--", "/bin/busybox", "true", env=store)
    assert r.returncode == 125 and "not a layer's hex digest" in r.stderr, r.stderr


def oci_dir(tmp_path, index=None, manifest=None, config=None):
    """An OCI layout whose index, manifest or configuration `index`,
    `manifest` or `config` change (digests made again to match)."""
    d = oci_layout(str(tmp_path / "oci"), [busybox_layer()])
    blobs = os.path.join(d, "blobs", "sha256")

    def load(digest):
        return json.load(open(os.path.join(blobs, digest.split(":")[1])))

    def put(doc):
        b = json.dumps(doc).encode()
        open(os.path.join(blobs, sha(b)), "wb").write(b)
        return f"sha256:{sha(b)}"
    ix = json.load(open(os.path.join(d, "index.json")))
    m = load(ix["manifests"][0]["digest"])
    if config:
        conf = load(m["config"]["digest"])
        config(conf)
        m["config"]["digest"] = put(conf)
    if manifest:
        manifest(m)
    ix["manifests"][0]["digest"] = put(m)
    if index:
        index(ix)
    json.dump(ix, open(os.path.join(d, "index.json"), "w"))
    return d


def change(path, value):
    def f(doc):
        *parents, last = path
        for k in parents:
            doc = doc[k]
        doc[last] = value
    return f


BAD_OCI = {
    "manifests-object": (change(["manifests"], {}), None, None,
                         "index.json: manifests: not an array"),
    "manifests-empty": (change(["manifests"], []), None, None,
                        "index.json: manifests: lists no manifest"),
    "digest-number": (change(["manifests", 0, "digest"], 1), None, None,
                      "index.json: manifests[0].digest: not a string"),
    "digest-not-sha256": (change(["manifests", 0, "digest"], "md5:00"), None, None,
                          "index.json: manifests[0].digest: 'md5:00' is not a sha256 digest"),
    "annotations-string": (change(["manifests", 0, "annotations"], "x"), None, None,
                           "index.json: manifests[0].annotations: not an object"),
    "layers-string": (None, change(["layers"], "x"), None, ": layers: not an array"),
    "layer-string": (None, change(["layers", 0], "x"), None, ": layers[0]: not an object"),
    "config-missing": (None, lambda m: m.pop("config"), None, ": config: missing"),
    "cmd-string": (None, None, change(["config", "Cmd"], "sh"), ": config.Cmd: not an array"),
    "user-number": (None, None, change(["config", "User"], 0), ": config.User: not a string"),
    "rootfs-string": (None, None, change(["rootfs"], "x"), ": rootfs: not an object"),
}


@pytest.mark.parametrize("case", sorted(BAD_OCI))
def test_oci_type_errors(run, store, tmp_path, case):
    index, manifest, config, words = BAD_OCI[case]
    d = oci_dir(tmp_path, index, manifest, config)
    refused(run("image", "import", d, "bad", env=store), tmp_path, words,
            "damaged or hostile")


def test_oci_dir_helper_makes_a_good_image(run, store, tmp_path):
    ok(run("image", "import", oci_dir(tmp_path, config=change(["config", "User"], "0")), "good",
           env=store))


def oci_with_fifo(tmp_path):
    d = oci_layout(str(tmp_path / "oci"), [busybox_layer()])
    index = json.load(open(os.path.join(d, "index.json")))
    mdigest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.load(open(os.path.join(d, "blobs", "sha256", mdigest)))
    blob = os.path.join(d, "blobs", "sha256", manifest["layers"][0]["digest"].split(":")[1])
    os.unlink(blob)
    os.mkfifo(blob)
    return d


def test_fifo_blob_refused_without_blocking(run, store, tmp_path):
    # refused on what it is: an open that waited for the FIFO's writer would
    # hang the import (TimeoutExpired, a failure)
    d = oci_with_fifo(tmp_path)
    r = run("image", "import", d, "fifo", env=store, timeout=20)
    refused(r, tmp_path, "a FIFO", "not a regular file")


def test_fifo_blob_in_an_oci_tarball_refused(run, store, tmp_path):
    import tarfile
    d = oci_with_fifo(tmp_path)
    with tarfile.open(tmp_path / "oci.tar", "w") as t:
        for name in os.listdir(d):
            t.add(os.path.join(d, name), arcname=name)
    refused(run("image", "import", tmp_path / "oci.tar", "fifo", env=store, timeout=20),
            tmp_path, "oci.tar", "a FIFO")


def test_symlinked_blob_out_of_the_layout_refused(run, store, tmp_path):
    d = oci_layout(str(tmp_path / "oci"), [busybox_layer()])
    index = json.load(open(os.path.join(d, "index.json")))
    blob = os.path.join(d, "blobs", "sha256", index["manifests"][0]["digest"].split(":")[1])
    os.unlink(blob)
    os.symlink("/etc/passwd", blob)
    refused(run("image", "import", d, "out", env=store), tmp_path, "leads out of the image")


@pytest.mark.parametrize("source", ["/dev/zero", "fifo"])
def test_source_not_a_file_refused_at_once(run, store, tmp_path, source):
    if source == "fifo":
        source = tmp_path / "fifo"
        os.mkfifo(source)
    r = run("image", "import", source, "z", env=store, timeout=20)
    refused(r, tmp_path, str(source), "not an image")


def bomb_layer(mib):
    big = tar_bytes([("zeros", "file", bytes(mib << 20))])
    return big


def test_gzip_bomb_over_the_limit(run, store, tmp_path):
    """A layer that decompresses to 64 MiB (64 KiB of gzip), with a 16M limit."""
    docker_archive(tmp_path / "bomb.tar", [bomb_layer(64)], gz=True)
    assert os.path.getsize(tmp_path / "bomb.tar") < 1 << 20
    r = run("image", "import", "--max-image-size", "16M", tmp_path / "bomb.tar", "bomb",
            env=store)
    refused(r, tmp_path, "bomb.tar", "more than 16M", "--max-image-size")
    assert os.listdir(hutch_dir(tmp_path) / "layers") == []
    # the same image under a limit it fits
    ok(run("image", "import", "--max-image-size=200M", tmp_path / "bomb.tar", "bomb",
           env=store))


def test_rootfs_bomb_over_the_limit(run, store, tmp_path):
    """The archive itself compressed: the unpacking of the source is counted."""
    (tmp_path / "root.tar.gz").write_bytes(gzip.compress(bomb_layer(32), mtime=0))
    r = run("image", "import", "--max-image-size", "8M", tmp_path / "root.tar.gz", "r",
            env=store)
    refused(r, tmp_path, "root.tar.gz", "more than 8M", "--max-image-size")
    assert os.listdir(hutch_dir(tmp_path) / "layers") == []


def test_json_file_over_the_limit(run, store, tmp_path):
    """A JSON file is read into memory whole: 16M at most."""
    def pad(conf):
        conf["history"] = [{"comment": " " * (17 << 20)}]
    docker_tar(tmp_path / "fat.tar", config=pad)
    r = run("image", "import", tmp_path / "fat.tar", "fat", env=store)
    refused(r, tmp_path, ".json: over 16M", "too large for an image's JSON file")


@pytest.mark.parametrize("args, words", [
    (["image", "import", "--max-image-size", "lots", "x.tar"], ["--max-image-size 'lots'"]),
    (["image", "import", "--max-image-size", "0", "x.tar"], ["--max-image-size '0'"]),
    (["image", "import", "--frobnicate", "x.tar"], ["unknown option '--frobnicate'"]),
    (["image", "import", "--max-image-size", "1G"], ["expected SOURCE"]),
    (["run", "--max-image-size", "1G", "--", "true"], ["hutch image import"]),
], ids=["not-a-size", "zero", "unknown", "no-source", "run"])
def test_max_image_size_option_errors(run, store, tmp_path, args, words):
    r = run(*args, env=store, cwd=tmp_path)
    assert r.returncode == 125, r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and all(w in lines[0] for w in words), r.stderr


def test_readers_unit_tests_in_c(hutch_bin):
    """tests/unit/image_meta_test.c: the readers and entry checks on buffers."""
    exe = os.path.join(os.path.dirname(hutch_bin), "image-meta-test")
    if not os.path.exists(exe):
        pytest.fail(f"{exe} is missing: meson builds it with hutch")
    r = subprocess.run([exe], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith(", 0 failed"), r.stdout


def test_man_page_documents_the_limit():
    from conftest import REPO
    man = (REPO / "man" / "hutch.1").read_text().replace("\\-", "-")
    assert "--max-image-size" in man and "8G" in man
    readme = (REPO / "README.md").read_text()
    assert "--max-image-size" in readme and "RepoTags" in readme


def test_killed_import_leftover_is_cleaned(run, store, tmp_path, hutch_bin):
    """SIGKILL an import half-way; the next import removes what it left."""
    docker_archive(tmp_path / "big.tar", [busybox_layer(), bomb_layer(256)], gz=True)
    tmp = hutch_dir(tmp_path) / "tmp"
    p = subprocess.Popen([hutch_bin, "image", "import", str(tmp_path / "big.tar"), "big"],
                         env=store, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and p.poll() is None:
            work = [w for w in (os.listdir(tmp) if tmp.exists() else [])
                    if not w.endswith(".lock")]
            if work and os.listdir(tmp / work[0]):
                break
            time.sleep(0.002)
        assert p.poll() is None, "the import ended before it could be killed"
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    left = os.listdir(tmp)
    assert any(n.endswith(".lock") for n in left) and len(left) == 2, left
    (tmp_path / "small.tar").write_bytes(tar_bytes([("f", "file", b"x")]))
    ok(run("image", "import", tmp_path / "small.tar", "small", env=store))
    assert os.listdir(tmp) == []
    # and a failed import cleans too (here: the live import's leftover is gone already)
    r = run("image", "import", "--max-image-size", "1K", tmp_path / "big.tar", "big", env=store)
    assert r.returncode == 125 and os.listdir(tmp) == [], r.stderr
