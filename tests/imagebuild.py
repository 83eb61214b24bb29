"""Build images by hand for the tests: a busybox-static root as a plain
rootfs tarball, a docker-archive and an OCI layout, with python's tarfile."""

import gzip
import hashlib
import io
import json
import os
import tarfile

BUSYBOX = "/bin/busybox"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def tar_bytes(entries):
    """entries: list of (name, kind, data) with kind 'dir', 'file', 'link'
    (symlink; data is the target), 'whiteout' (an empty file) or a
    tarfile.TarInfo ready-made (data: bytes or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, data in entries:
            if isinstance(kind, tarfile.TarInfo):
                t.addfile(kind, io.BytesIO(data) if data else None)
                continue
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
            elif kind == "link":
                ti.type = tarfile.SYMTYPE
                ti.linkname = data
                t.addfile(ti)
            else:
                data = data or b""
                ti.size = len(data)
                ti.mode = 0o755 if kind == "exe" else 0o644
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def busybox_layer(extra=()):
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    return tar_bytes([
        ("bin", "dir", None),
        ("bin/busybox", "exe", bb),
        ("bin/sh", "link", "busybox"),
        ("etc", "dir", None),
        ("etc/passwd", "file",
         b"root:x:0:0:root:/root:/bin/sh\nappuser:x:1234:2345::/home/app:/bin/sh\n"),
        ("etc/group", "file", b"root:x:0:\napp:x:2345:\n"),
        ("etc/motd", "file", b"hello from the image\n"),
        *extra,
    ])


def config_json(diff_ids, cfg=None):
    return json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": cfg if cfg is not None else {"Cmd": ["/bin/sh", "-c", "echo default cmd"],
                                               "Env": ["PATH=/bin", "IMAGEVAR=yes"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha(d)}" for d in diff_ids]},
    }).encode()


def write_tar(path, files):
    """files: dict name -> bytes; a tarball of them at path."""
    entries = [(n, "file", d) for n, d in files.items()]
    with open(path, "wb") as f:
        f.write(tar_bytes(entries))


def docker_archive(path, layers, cfg=None, tag="bb:latest", gz=False):
    conf = config_json(layers, cfg)
    files = {f"{sha(conf)}.json": conf}
    names = []
    for i, l in enumerate(layers):
        name = f"{sha(l)}/layer.tar"
        files[name] = gzip.compress(l, mtime=0) if gz else l
        names.append(name)
    files["manifest.json"] = json.dumps([{
        "Config": f"{sha(conf)}.json", "RepoTags": [tag] if tag else None,
        "Layers": names}]).encode()
    write_tar(path, files)


def oci_layout(dirpath, layers, cfg=None, ref="latest", compress=None, media="tar+gzip"):
    """An OCI image layout directory with gzip layers (or `compress`ed)."""
    blobs = os.path.join(dirpath, "blobs", "sha256")
    os.makedirs(blobs)

    def put(b):
        with open(os.path.join(blobs, sha(b)), "wb") as f:
            f.write(b)
        return {"digest": f"sha256:{sha(b)}", "size": len(b)}

    conf = config_json(layers, cfg)
    cdesc = put(conf)
    cdesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
    ldescs = []
    for l in layers:
        d = put(compress(l) if compress else gzip.compress(l, mtime=0))
        d["mediaType"] = "application/vnd.oci.image.layer.v1." + media
        ldescs.append(d)
    manifest = json.dumps({"schemaVersion": 2, "config": cdesc, "layers": ldescs,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json"}).encode()
    mdesc = put(manifest)
    mdesc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    if ref:
        mdesc["annotations"] = {"org.opencontainers.image.ref.name": ref}
    with open(os.path.join(dirpath, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
    with open(os.path.join(dirpath, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return dirpath
