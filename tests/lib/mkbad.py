#!/usr/bin/env python3
"""Writes broken images for the bad-input tests of `litho build`. usage: mkbad.py OUT

OUT/layout, an OCI layout with the tags
  good             two gzip layers, valid (the control)
  trunc-gzip       layer 2's gzip stream cut in half; digest and size describe the cut blob,
                   so only the decompression can notice
  diffid-mismatch  valid blobs, but the config's diff_id of layer 2 is wrong
  trunc-tar        layer 2 is a plain tar cut inside a file's data (digest matches the cut bytes)
OUT/flip-header  a copy of `good` whose layer-2 gzip header has one flipped byte (in the mtime
                 field, which gzip does not check: only the digest can notice)
OUT/flip-data    a copy of `good` with one flipped byte in the middle of layer 2's deflate data
OUT/missing-blob a copy of `good` without layer 2's blob
OUT/short-blob   a copy of `good` whose layer-2 blob lost its last byte
Each copy has only the tag good. OUT/good.digest holds layer 2's digest.
"""

import hashlib
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tarlib import TarBuilder, default_config, read_layout, sha256, write_layout  # noqa: E402


def layers():
    one = TarBuilder().add("etc/", "dir").add("etc/one", data="one\n").bytes()
    big = bytes((i * 7919) % 251 for i in range(200000))  # does not compress to nothing
    two = TarBuilder().add("data/", "dir").add("data/big", data=big).bytes()
    return one, two


def blob_path(layout, digest):
    return os.path.join(layout, "blobs", *digest.split(":", 1))


def main():
    out = sys.argv[1]
    layout = os.path.join(out, "layout")
    one, two = layers()
    cfg = default_config()
    cfg["config"]["Cmd"] = ["/bin/sh"]
    write_layout(layout, [(one, "gzip"), (two, "gzip")], cfg, "good")
    write_layout(layout, [(one, "gzip"), (two, "gzip", lambda b: b[:len(b) // 2])], cfg,
                 "trunc-gzip")
    write_layout(layout, [(one, "gzip"), (two, "gzip")], cfg, "diffid-mismatch",
                 diff_ids=[sha256(one), "sha256:" + hashlib.sha256(b"other").hexdigest()])
    write_layout(layout, [(one, "gzip"), (two, "none", lambda b: b[:100000])], cfg,
                 "trunc-tar")
    _, manifest, _, _ = read_layout(layout, "good")
    digest = manifest["layers"][1]["digest"]
    with open(os.path.join(out, "good.digest"), "w") as f:
        f.write(digest + "\n")

    def copy(name, change):
        dest = os.path.join(out, name)
        shutil.copytree(layout, dest)
        path = blob_path(dest, digest)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data = change(data)
        if data is None:
            os.unlink(path)
        else:
            with open(path, "wb") as f:
                f.write(data)

    def flip(at):
        def change(d):
            d[at(d)] ^= 0x01
            return d
        return change

    copy("flip-header", flip(lambda d: 5))
    copy("flip-data", flip(lambda d: len(d) // 2))
    copy("missing-blob", lambda d: None)
    copy("short-blob", lambda d: d[:-1])


if __name__ == "__main__":
    main()
