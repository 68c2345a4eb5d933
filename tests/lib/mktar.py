#!/usr/bin/env python3
"""Writes a small tar layer from a line-based description (for the `litho build` tests).

usage: mktar.py OUT.tar [--gzip] < SPEC

Each SPEC line is `KIND PATH [key=value ...] [data=TEXT...]`:
  KIND      file, dir, symlink, hardlink, char, block, fifo
  mode=0755 uid=N gid=N mtime=N link=TARGET major=N minor=N fmt=pax|gnu|ustar
  data=...  the rest of the line is the file content (a newline is appended)
Blank lines and lines starting with # are ignored. Entries are written in SPEC order.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tarlib import TarBuilder, gzip_bytes  # noqa: E402


def parse(line):
    kind, _, rest = line.partition(" ")
    path, _, rest = rest.strip().partition(" ")
    args = {}
    while rest:
        rest = rest.strip()
        if rest.startswith("data="):
            args["data"] = rest[5:] + "\n"
            break
        tok, _, rest = rest.partition(" ")
        k, _, v = tok.partition("=")
        if k in ("mode",):
            args[k] = int(v, 8)
        elif k in ("uid", "gid", "mtime", "major", "minor"):
            args[k] = int(v)
        elif k == "link":
            args["linkname"] = v
        elif k == "fmt":
            args["fmt"] = v
        else:
            raise SystemExit(f"mktar: unknown key {k!r} in {line!r}")
    return kind, path, args


def main():
    out = sys.argv[1]
    gz = "--gzip" in sys.argv[2:]
    t = TarBuilder()
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kind, path, args = parse(line)
        t.add(path, kind, **args)
    data = t.bytes()
    with open(out, "wb") as f:
        f.write(gzip_bytes(data) if gz else data)


if __name__ == "__main__":
    main()
