#!/usr/bin/env python3
"""Writes an image of an OCI layout the way `docker save` does (oci.md §2).

usage: docker_save.py LAYOUT TAG STYLE OUT.tar REPOTAG [--gzip]

STYLE:
  legacy      Docker <= 24: <v1id>/{VERSION,json,layer.tar} (uncompressed), <imageid>.json,
              manifest.json, repositories; a layer whose diff_id repeats is a symlink member
              <v1id>/layer.tar -> ../<first v1id>/layer.tar.
  moby25      Docker >= 25 (graphdriver): an OCI layout (oci-layout, index.json with
              io.containerd.image.name and org.opencontainers.image.ref.name) whose layers are
              stored uncompressed under their diff_id, plus manifest.json and repositories
              pointing into blobs/.
  containerd  containerd image store: the original OCI layout blobs (compressed layers) plus
              manifest.json pointing at the compressed blobs.
Members are written in lexical order, as Docker does, so blobs/ comes before manifest.json.
--gzip compresses the whole tar. The output is deterministic (fixed mtimes, owners).
"""

import hashlib
import io
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tarlib import decompress, gzip_bytes, read_layout, sha256  # noqa: E402

MTIME = 1600000000


def hexof(digest):
    return digest.split(":", 1)[1]


def full_name(repotag):
    name, _, tag = repotag.rpartition(":")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    return name, tag


class Out:
    def __init__(self):
        self.members = {}  # name -> (kind, bytes or link target)

    def file(self, name, data):
        self.members[name] = ("file", data)
        self._dirs(name)

    def symlink(self, name, target):
        self.members[name] = ("symlink", target)
        self._dirs(name)

    def _dirs(self, name):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.members.setdefault("/".join(parts[:i]) + "/", ("dir", None))

    def tar(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name in sorted(self.members):
                kind, data = self.members[name]
                ti = tarfile.TarInfo(name.rstrip("/"))
                ti.mtime = MTIME
                ti.uid = ti.gid = 0
                if kind == "dir":
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    t.addfile(ti)
                elif kind == "symlink":
                    ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, data
                    t.addfile(ti)
                else:
                    ti.mode, ti.size = 0o644, len(data)
                    t.addfile(ti, io.BytesIO(data))
        return buf.getvalue()


def jdump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def legacy(out, config, layers, repotag):
    name, tag = full_name(repotag)
    image_id = hashlib.sha256(config).hexdigest()
    cfg = json.loads(config)
    paths, first_by_diff, parent = [], {}, ""
    v1id = ""
    for i, tar in enumerate(layers):
        diff = sha256(tar)
        v1id = hashlib.sha256((parent + " " + diff).encode()).hexdigest()
        v1 = {"id": v1id, "created": "1970-01-01T00:00:00Z",
              "container_config": {"Cmd": None}}
        if parent:
            v1["parent"] = parent
        if i == len(layers) - 1:
            v1.update({k: cfg[k] for k in ("architecture", "os", "config") if k in cfg})
        out.file(f"{v1id}/VERSION", b"1.0")
        out.file(f"{v1id}/json", jdump(v1))
        if diff in first_by_diff:
            out.symlink(f"{v1id}/layer.tar", f"../{first_by_diff[diff]}/layer.tar")
        else:
            out.file(f"{v1id}/layer.tar", tar)
            first_by_diff[diff] = v1id
        paths.append(f"{v1id}/layer.tar")
        parent = v1id
    out.file(f"{image_id}.json", config)
    short = repotag if not repotag.startswith("docker.io/") else repotag[len("docker.io/"):]
    out.file("manifest.json", jdump([{"Config": f"{image_id}.json", "RepoTags": [short],
                                      "Layers": paths}]))
    out.file("repositories", jdump({short.rpartition(":")[0]: {tag: v1id}}))


def oci_index(out, man_desc, repotag):
    name, tag = full_name(repotag)
    desc = {k: man_desc[k] for k in ("mediaType", "digest", "size")}
    desc["annotations"] = {"io.containerd.image.name": f"{name}:{tag}",
                           "org.opencontainers.image.ref.name": tag}
    out.file("index.json", jdump({"schemaVersion": 2,
                                  "mediaType": "application/vnd.oci.image.index.v1+json",
                                  "manifests": [desc]}))
    out.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')


def moby25(out, manifest, config, layers, repotag):
    name, tag = full_name(repotag)
    paths, descs = [], []
    for tar in layers:
        d = sha256(tar)
        out.file(f"blobs/sha256/{hexof(d)}", tar)
        paths.append(f"blobs/sha256/{hexof(d)}")
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d,
                      "size": len(tar)})
    cfg_d = sha256(config)
    out.file(f"blobs/sha256/{hexof(cfg_d)}", config)
    man = jdump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                            "digest": cfg_d, "size": len(config)},
                 "layers": descs})
    man_d = sha256(man)
    out.file(f"blobs/sha256/{hexof(man_d)}", man)
    oci_index(out, {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_d,
                    "size": len(man)}, repotag)
    short = repotag
    out.file("manifest.json", jdump([{"Config": f"blobs/sha256/{hexof(cfg_d)}",
                                      "RepoTags": [short], "Layers": paths}]))
    out.file("repositories", jdump({short.rpartition(":")[0]: {tag: hexof(sha256(layers[-1]))}}))


def containerd(out, layout, man_desc, manifest, config, blobs, repotag):
    def put(d, data):
        out.file(f"blobs/sha256/{hexof(d)}", data)

    with open(os.path.join(layout, "blobs", *man_desc["digest"].split(":", 1)), "rb") as f:
        put(man_desc["digest"], f.read())
    put(manifest["config"]["digest"], config)
    paths = []
    for desc, blob in zip(manifest["layers"], blobs):
        put(desc["digest"], blob)
        paths.append(f"blobs/sha256/{hexof(desc['digest'])}")
    oci_index(out, man_desc, repotag)
    name, tag = full_name(repotag)
    out.file("manifest.json", jdump([{"Config": f"blobs/sha256/{hexof(manifest['config']['digest'])}",
                                      "RepoTags": [f"{name}:{tag}"], "Layers": paths}]))


def main():
    layout, tag, style, dest, repotag = sys.argv[1:6]
    gz = "--gzip" in sys.argv[6:]
    man_desc, manifest, config, blobs = read_layout(layout, tag)
    layers = [decompress(b) for b in blobs]
    out = Out()
    if style == "legacy":
        legacy(out, config, layers, repotag)
    elif style == "moby25":
        moby25(out, manifest, config, layers, repotag)
    elif style == "containerd":
        containerd(out, layout, man_desc, manifest, config, blobs, repotag)
    else:
        raise SystemExit(f"unknown style {style}")
    data = out.tar()
    with open(dest, "wb") as f:
        f.write(gzip_bytes(data) if gz else data)


if __name__ == "__main__":
    main()
