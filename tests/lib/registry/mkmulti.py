#!/usr/bin/env python3
"""Makes a multi-platform image (an OCI image index) from one image of an OCI layout.

usage: mkmulti.py SRC_LAYOUT TAG OUT_LAYOUT

OUT_LAYOUT (new) gets tag "latest": an image index (a blob, referenced from index.json) with two
image manifests sharing SRC's layers: linux/amd64 (SRC's manifest as it is, its config saying
amd64) and linux/arm64/v8 (a copy of the config with architecture arm64, variant v8).
"""

import hashlib
import json
import os
import shutil
import sys


def blob_path(layout, digest):
    alg, _, hexd = digest.partition(":")
    return os.path.join(layout, "blobs", alg, hexd)


def read_blob(layout, digest):
    with open(blob_path(layout, digest), "rb") as f:
        return f.read()


def write_blob(layout, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    p = blob_path(layout, digest)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    return digest


def main():
    src, tag, out = sys.argv[1:4]
    with open(os.path.join(src, "index.json")) as f:
        index = json.load(f)
    desc = next(m for m in index["manifests"]
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    manifest = json.loads(read_blob(src, desc["digest"]))
    for d in [desc, manifest["config"]] + manifest["layers"]:
        shutil.copyfile(blob_path(src, d["digest"]), blob_path(out, d["digest"]))
    config = json.loads(read_blob(src, manifest["config"]["digest"]))
    config["architecture"] = "arm64"
    config["variant"] = "v8"
    cfg = json.dumps(config).encode()
    arm = dict(manifest)
    arm["config"] = dict(manifest["config"], digest=write_blob(out, cfg), size=len(cfg))
    arm_data = json.dumps(arm).encode()
    arm_digest = write_blob(out, arm_data)
    mt = "application/vnd.oci.image.manifest.v1+json"
    idx = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": mt, "digest": desc["digest"], "size": desc["size"],
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": mt, "digest": arm_digest, "size": len(arm_data),
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        ],
    }
    idx_data = json.dumps(idx).encode()
    idx_digest = write_blob(out, idx_data)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idx_digest,
             "size": len(idx_data),
             "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    print(json.dumps({"index": idx_digest, "amd64": desc["digest"], "arm64": arm_digest}))


if __name__ == "__main__":
    main()
