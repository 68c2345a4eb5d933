"""Small helpers for the `litho build` tests: hand-made tar layers and OCI image layouts.

TarBuilder writes one tar member at a time, each in the tar format it asks for (PAX, GNU or
USTAR), so a single layer can mix PAX records, GNU long names, base-256 numbers, odd typeflags
and entry orders that no archiver would produce. write_layout() stores layers and a config as
an OCI image layout with correct digests, sizes and diff_ids.

Everything is deterministic: same arguments, same bytes (gzip members carry mtime 0).
"""

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import urllib.parse

MTIME = 1600000000  # default mtime of hand-made entries

TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}

FORMATS = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}


def xattr_str(value):
    """PAX values are str in tarfile; raw bytes survive through surrogateescape (tarfile then
    writes hdrcharset=BINARY when the bytes are not UTF-8)."""
    if isinstance(value, str):
        return value
    return value.decode("utf-8", "surrogateescape")


class TarBuilder:
    def __init__(self):
        self.buf = bytearray()

    def add(self, name, kind="file", data=b"", mode=None, uid=0, gid=0, mtime=MTIME,
            linkname="", major=0, minor=0, fmt="pax", xattrs=None, libarchive_xattrs=None,
            pax=None, uname="", gname="", size=None):
        """Appends one member. xattrs go into SCHILY.xattr.* records, libarchive_xattrs into
        LIBARCHIVE.xattr.* records (URL-encoded name, base64 value), pax adds raw records."""
        if isinstance(data, str):
            data = data.encode()
        ti = tarfile.TarInfo(name)
        ti.type = TYPES[kind]
        if mode is None:
            mode = 0o755 if kind == "dir" else 0o644
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname, ti.gname = uname, gname
        ti.mtime = mtime
        ti.linkname = linkname
        ti.devmajor, ti.devminor = major, minor
        ti.size = len(data) if size is None else size
        records = {}
        for k, v in (xattrs or {}).items():
            records["SCHILY.xattr." + k] = xattr_str(v)
        for k, v in (libarchive_xattrs or {}).items():
            if isinstance(v, str):
                v = v.encode()
            records["LIBARCHIVE.xattr." + urllib.parse.quote(k, safe="")] = \
                base64.b64encode(v).decode()
        records.update(pax or {})
        if records:
            ti.pax_headers = records
        self.buf += ti.tobuf(FORMATS[fmt], "utf-8", "surrogateescape")
        if kind == "file" or (kind == "hardlink" and data):
            self.buf += data
            pad = (-len(data)) % 512
            self.buf += b"\0" * pad
        return self

    def raw(self, blob):
        """Appends tar bytes made elsewhere (for example by GNU tar), without its end blocks."""
        self.buf += strip_end(blob)
        return self

    def bytes(self):
        return bytes(self.buf) + b"\0" * 1024


def strip_end(blob):
    """Removes the zero blocks (end-of-archive marker and record padding) from a tar."""
    end = len(blob)
    while end >= 512 and blob[end - 512:end] == b"\0" * 512:
        end -= 512
    return blob[:end]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def gzip_bytes(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as g:
        g.write(data)
    return out.getvalue()


def zstd_bytes(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, check=True,
                          stdout=subprocess.PIPE).stdout


LAYER_MEDIA = {
    "oci": {
        "none": "application/vnd.oci.image.layer.v1.tar",
        "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
        "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    },
    "v2s2": {
        "none": "application/vnd.docker.image.rootfs.diff.tar",
        "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "zstd": "application/vnd.docker.image.rootfs.diff.tar.zstd",
    },
}
MANIFEST_MEDIA = {
    "oci": "application/vnd.oci.image.manifest.v1+json",
    "v2s2": "application/vnd.docker.distribution.manifest.v2+json",
}
CONFIG_MEDIA = {
    "oci": "application/vnd.oci.image.config.v1+json",
    "v2s2": "application/vnd.docker.container.image.v1+json",
}


def put_blob(layout, data):
    digest = sha256(data)
    d = os.path.join(layout, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, digest.split(":", 1)[1])
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": digest, "size": len(data)}


def default_config(arch="amd64"):
    return {
        "created": "2020-09-13T12:26:40Z",
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    }


def write_layout(layout, layers, config=None, tag="latest", style="oci", diff_ids=None):
    """Writes (or adds a tag to) an OCI layout. layers: list of (tar bytes, compression) with
    compression none|gzip|zstd, or (tar bytes, compression, post) where post(blob) returns the
    bytes to store instead (digest and size describe what is stored; the diff_id stays that of
    the tar). diff_ids replaces the config's diff_ids. Returns the manifest descriptor."""
    os.makedirs(layout, exist_ok=True)
    config = json.loads(json.dumps(config or default_config()))
    config["rootfs"] = {"type": "layers", "diff_ids": []}
    config.setdefault("history", [])
    descs = []
    for tar, comp, *post in layers:
        config["rootfs"]["diff_ids"].append(sha256(tar))
        config["history"].append({"created": "2020-09-13T12:26:40Z", "created_by": "tarlib"})
        blob = {"none": lambda b: b, "gzip": gzip_bytes, "zstd": zstd_bytes}[comp](tar)
        if post:
            blob = post[0](blob)
        d = put_blob(layout, blob)
        descs.append({"mediaType": LAYER_MEDIA[style][comp], **d})
    if diff_ids is not None:
        config["rootfs"]["diff_ids"] = diff_ids
    cfg_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    cfg = put_blob(layout, cfg_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA[style],
        "config": {"mediaType": CONFIG_MEDIA[style], **cfg},
        "layers": descs,
    }
    man_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    man = {"mediaType": MANIFEST_MEDIA[style], **put_blob(layout, man_bytes)}
    man["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name")
                          != tag]
    index["manifests"].append(man)
    with open(index_path, "w") as f:
        json.dump(index, f, separators=(",", ":"))
    return man


def read_layout(layout, tag):
    """Returns (manifest descriptor, manifest, config bytes, [layer blob bytes])."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            break
    else:
        raise SystemExit(f"{layout}: no tag {tag}")

    def blob(d):
        with open(os.path.join(layout, "blobs", *d["digest"].split(":", 1)), "rb") as f:
            return f.read()

    manifest = json.loads(blob(m))
    return m, manifest, blob(manifest["config"]), [blob(d) for d in manifest["layers"]]


def decompress(blob):
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=blob, check=True,
                              stdout=subprocess.PIPE).stdout
    return blob
