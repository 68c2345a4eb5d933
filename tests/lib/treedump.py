#!/usr/bin/env python3
"""Dumps and compares file trees for the `litho build` tests.

  treedump.py dump DIR                      one line per path (sorted): see describe()
  treedump.py compare REF ACT [options]     compares two trees (directories), prints a diff
                                            and exits 1 when they differ

A line holds: path, type, permission bits (setuid/setgid/sticky included), uid:gid, size,
sha256 of the content (files), the target (symlinks), major,minor (devices), the xattrs in the
user./trusted./security. namespaces (hex values), mtime in whole seconds, and for files with
several names in the tree (any type but directories) the hard-link group (the smallest path of
the group).

compare options:
  --image-meta        ACT is litho's SquashFS and REF the image as unpacked by umoci: paths
                      that litho adds for Apptainer (compat.md §2.1) are left out of ACT when
                      REF lacks them: /.singularity.d/..., /singularity, /.run, /.exec, /.shell,
                      /.test, /environment, the placeholder directories /dev /proc /root /var
                      /var/tmp /tmp /etc /sys /home and /etc/hosts, /etc/resolv.conf.
  --explicit-dirs F   compare directory mtimes only for the directories listed in F (one path
                      a line, as printed by `explicit-dirs`); without it every mtime counts.
  --no-mtime PATH     leave out the mtime of PATH (repeatable).
  --no-mtimes         leave out every mtime.

  treedump.py explicit-dirs LAYOUT TAG      prints the directories that the image's layers
                                            define with a directory entry ("/" included)
"""

import hashlib
import os
import stat
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

META_TOP = {"/.singularity.d", "/singularity", "/.run", "/.exec", "/.shell", "/.test",
            "/environment"}
META_PLACEHOLDERS = {"/dev", "/proc", "/root", "/var", "/var/tmp", "/tmp", "/etc", "/sys",
                     "/home", "/etc/hosts", "/etc/resolv.conf"}
XATTR_NS = ("user.", "trusted.", "security.")


def kind(mode):
    for test, name in ((stat.S_ISREG, "reg"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "sym"),
                       (stat.S_ISCHR, "chr"), (stat.S_ISBLK, "blk"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "sock")):
        if test(mode):
            return name
    return "?"


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ""
    out = []
    for n in sorted(names):
        if n.startswith(XATTR_NS):
            v = os.getxattr(path, n, follow_symlinks=False)
            out.append(f"{n}={v.hex()}")
    return ",".join(out)


def scan(root):
    """Returns {relpath: dict of fields}; relpath is "/" for the root, "/a/b" below it."""
    entries = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        names = [(dirpath, None)] + [(os.path.join(dirpath, n), n) for n in dirnames + filenames]
        for full, _ in names:
            rel = "/" + os.path.relpath(full, root) if full != root else "/"
            if rel in entries:
                continue
            st = os.lstat(full)
            t = kind(st.st_mode)
            e = {"type": t, "mode": "%04o" % stat.S_IMODE(st.st_mode),
                 "owner": f"{st.st_uid}:{st.st_gid}", "mtime": str(int(st.st_mtime)),
                 "xattrs": xattrs(full)}
            if t != "dir":
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            if t == "reg":
                e["size"] = str(st.st_size)
                e["sha256"] = file_hash(full)
            elif t == "sym":
                e["target"] = os.readlink(full)
            elif t in ("chr", "blk"):
                e["dev"] = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
            entries[rel] = e
    for paths in inodes.values():
        if len(paths) > 1:
            first = min(paths)
            for p in paths:
                entries[p]["links"] = first
    return entries


FIELDS = ("type", "mode", "owner", "size", "sha256", "target", "dev", "xattrs", "links",
          "mtime")


def describe(path, e):
    parts = [path]
    for f in FIELDS:
        if f in e and e[f] != "":
            parts.append(f"{f}={e[f]}")
    return " ".join(parts)


def dump(entries):
    return [describe(p, entries[p]) for p in sorted(entries)]


def is_meta(path):
    if path in META_TOP or path in META_PLACEHOLDERS:
        return True
    return path.startswith("/.singularity.d/")


def explicit_dirs(layout, tag):
    from tarlib import decompress, read_layout
    _, _, _, blobs = read_layout(layout, tag)
    dirs = set()
    import io
    for blob in blobs:
        with tarfile.open(fileobj=io.BytesIO(decompress(blob)), mode="r:") as t:
            for m in t:
                if m.isdir():
                    p = os.path.normpath("/" + m.name)
                    dirs.add("/" if p in ("/", "//") else p)
    return sorted(dirs)


def compare(argv):
    ref_dir, act_dir = argv[0], argv[1]
    opts = argv[2:]
    image_meta = False
    explicit = None
    no_mtime = set()
    all_mtimes = True
    i = 0
    while i < len(opts):
        o = opts[i]
        if o == "--image-meta":
            image_meta = True
        elif o == "--explicit-dirs":
            i += 1
            with open(opts[i]) as f:
                explicit = {ln.strip() for ln in f if ln.strip()}
        elif o == "--no-mtime":
            i += 1
            no_mtime.add(opts[i])
        elif o == "--no-mtimes":
            all_mtimes = False
        else:
            raise SystemExit(f"unknown option {o}")
        i += 1
    ref, act = scan(ref_dir), scan(act_dir)
    if image_meta:
        act = {p: e for p, e in act.items() if p in ref or not is_meta(p)}
    for tree in (ref, act):
        for p, e in tree.items():
            drop = (not all_mtimes or p in no_mtime or
                    (explicit is not None and e["type"] == "dir" and p not in explicit))
            if drop:
                e.pop("mtime", None)
    a, b = dump(ref), dump(act)
    if a == b:
        return 0
    import difflib
    sys.stdout.writelines(ln + "\n" for ln in difflib.unified_diff(
        a, b, fromfile=ref_dir, tofile=act_dir, lineterm="", n=0))
    return 1


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "dump":
        sys.stdout.writelines(ln + "\n" for ln in dump(scan(sys.argv[2])))
        return 0
    if cmd == "compare":
        return compare(sys.argv[2:])
    if cmd == "explicit-dirs":
        sys.stdout.writelines(d + "\n" for d in explicit_dirs(sys.argv[2], sys.argv[3]))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
