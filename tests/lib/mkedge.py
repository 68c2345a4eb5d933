#!/usr/bin/env python3
"""Writes the hand-made edge-case images of the `litho build` tests into one OCI layout.

usage: mkedge.py LAYOUT WORKDIR

Tags written into LAYOUT (an OCI image layout):
  latest        three layers (gzip, plain tar, gzip) with every changeset case of oci.md §3:
                whiteouts (also one stored as a hard link entry, one through a symlinked parent),
                an opaque marker after the layer's own entries, the same-layer rule, dir<->file
                replacement, implicit parents, hard links (to a lower-layer file, to a name that
                is deleted later), devices, FIFOs, xattrs, setuid/setgid/sticky, big ids,
                mtimes, long names and link names (PAX and GNU), duplicates, hostile names, a
                symlinked parent. umoci 0.4.7 unpacks it.
  libarchive    xattrs given only as LIBARCHIVE.xattr.* PAX records (umoci ignores them).
  sparse-pax    a sparse file made by GNU tar --sparse --format=posix (PAX sparse 1.0).
  sparse-pax01  the same with --sparse-version=0.1.
  sparse-gnu    the same with --format=gnu (typeflag S; umoci 0.4.7 rejects it).
  replace       more replacement cases: a directory entry over a symlink to a directory
                (usrmerge clobber, without umoci's --keep-dirlinks), a whiteout and a new file of
                the same name in one layer, a directory replaced by a file while another name
                of a file inside it survives, an opaque marker through a symlinked directory, a
                whiteout below a file (ignored), a write through a symlink pointing above the
                root, hard links to a symlink, a FIFO and a device. umoci 0.4.7 unpacks it.
  file-parent   an entry below a path that a lower layer made a regular file.
  err-link-outside  a hard link whose target is outside the tree.
  err-bare-wh   a whiteout named just ".wh.".
  err-bare-wh-sub   the same inside a directory ("dir/.wh.").
  err-symlink-loop  an entry below a symlink loop (loop1 -> loop2 -> loop1).
WORKDIR receives sparse.bin, the file the sparse layers hold, to compare contents with.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tarlib import TarBuilder, default_config, write_layout  # noqa: E402

# VFS_CAP_REVISION_2 with CAP_NET_BIND_SERVICE permitted and effective.
CAP = bytes.fromhex("01000002" "00040000" "00000000" "00000000" "00000000")
BIN = b"\xff\x00\xfe binary\n"
LONG1 = "long/" + "x" * 150
LONG2 = "gnulong/" + "y" * 150
NAME255 = "n" * 255


def layer1():
    t = TarBuilder()
    t.add("./", "dir", mode=0o755, mtime=1500000000)
    t.add("./a/", "dir", mtime=1500000001)
    t.add("./a/b/", "dir", mtime=1500000002)
    t.add("./a/b/c/", "dir", mtime=1500000003)
    t.add("./a/b/c/bar", data="bar\n")
    t.add("a/keepme", data="lower child of a\n")
    t.add("d1/", "dir", mtime=1500000004)
    t.add("d1/inside", data="inside d1\n")
    t.add("f1", data="f1 was a file\n")
    t.add("f2", data="f2-old\n")
    t.add("hl/", "dir", mtime=1500000005)
    t.add("hl/target", data="T", mode=0o640, uid=7, gid=8, mtime=1400000000)
    t.add("hl/link", "hardlink", linkname="hl/target", mode=0o777, uid=99, mtime=1)
    t.add("lowerfile", data="lower\n", mode=0o600)
    t.add("orig", data="orig-data\n")
    t.add("alias", "hardlink", linkname="orig")
    t.add("dl-target/", "dir")
    t.add("dl-target/keep", data="keep\n")
    t.add("rel-dirlink", "symlink", linkname="dl-target")
    t.add("usr/", "dir")
    t.add("usr/lib/", "dir", mtime=1500000006)
    t.add("usr/lib/existing", data="existing\n")
    t.add("lib", "symlink", linkname="usr/lib")
    t.add("wreal/", "dir")
    t.add("wreal/victim", data="victim\n")
    t.add("wreal/survivor", data="survivor\n")
    t.add("wlink", "symlink", linkname="wreal")
    t.add("wreal2/", "dir")
    t.add("wreal2/victim2", data="victim2\n")
    t.add("wabs", "symlink", linkname="/wreal2")
    t.add("wh1/", "dir")
    for n in ("one", "two", "three"):
        t.add("wh1/" + n, data=n + "\n")
    t.add("dev/", "dir")
    t.add("dev/null", "char", major=1, minor=3, mode=0o666)
    t.add("dev/loop7", "block", major=7, minor=7, mode=0o660, gid=6)
    t.add("dev/bigminor", "char", major=250, minor=300000, mode=0o600)
    t.add("dev/fifo", "fifo", mode=0o620)
    t.add("xa/", "dir", xattrs={"user.dirattr": "on a dir"})
    t.add("xa/file", data="xattrs\n",
          xattrs={"user.foo": "bar", "trusted.t": "tv", "security.capability": CAP,
                  "user.bin": BIN})
    t.add("perm/", "dir")
    t.add("perm/suid", data="suid\n", mode=0o4755)
    t.add("perm/sgid", data="sgid\n", mode=0o2755, gid=50)
    t.add("perm/sticky/", "dir", mode=0o1777)
    t.add("perm/sgiddir/", "dir", mode=0o2775, gid=50)
    t.add("perm/all", data="all\n", mode=0o7777)
    t.add("perm/none", data="none\n", mode=0o000)
    t.add("own/", "dir")
    t.add("own/big", data="pax ids\n", uid=3000000, gid=3000001)
    t.add("own/gnubig", data="base-256 ids\n", uid=2500000, gid=2600000, fmt="gnu")
    t.add("own/named", data="names\n", uid=1000, gid=1001, uname="nobody", gname="nogroup")
    t.add("mtime/", "dir", mtime=1000000000)
    t.add("mtime/one", data="1\n", mtime=1)
    t.add("mtime/frac", data="frac\n", pax={"mtime": "1234567890.75"})
    t.add("mtime/y2038", data="after 2038\n", mtime=4000000000)
    t.add("mtime/link", "symlink", linkname="one", mtime=1300000000)
    t.add(LONG1, data="pax long name\n")
    t.add(LONG2, data="gnu long name\n", fmt="gnu")
    t.add("long/" + NAME255, data="255 byte name\n")
    t.add("long/sl", "symlink", linkname="t" * 200)
    t.add("gnulong/sl", "symlink", linkname="u" * 200, fmt="gnu")
    t.add("long/hl", "hardlink", linkname=LONG1)
    t.add("gnulong/hl", "hardlink", linkname=LONG2, fmt="gnu")
    t.add("ünïcödé-名前", data="utf-8\n")
    t.add("dup", data="first\n")
    t.add("dup", data="second\n", mode=0o600)
    t.add("dupt", "symlink", linkname="dangling")
    t.add("dupt", data="file wins\n")
    t.add("impl/a/b/file", data="implicit parents\n")
    return t.bytes()


def layer2():
    t = TarBuilder()
    # A whiteout stored as a hard link entry (cmssw/el9): a whiteout by its name.
    t.add("wh1/.wh.one", data="")
    t.add("wh1/.wh.two", "hardlink", linkname="wh1/.wh.one")
    # New content of a/ first, the opaque marker after it.
    t.add("a/b/", "dir", mode=0o750, mtime=1600000001)
    t.add("a/b/c/", "dir", mode=0o750, mtime=1600000002)
    t.add("a/b/c/foo", data="foo\n")
    t.add("a/.wh..wh..opq", data="")
    # Same-layer rule: f2 then its whiteout; f2 stays.
    t.add("f2", data="f2-new\n")
    t.add(".wh.f2", data="")
    # dir -> file and file -> dir.
    t.add("d1", data="d1 is a file now\n")
    t.add("f1/", "dir", mtime=1600000003)
    t.add("f1/inner", data="inner\n")
    # Hard links: deleting one name keeps the data; a link to a lower-layer file.
    t.add("hl/.wh.target", data="")
    t.add("hl/link2", "hardlink", linkname="lowerfile")
    t.add(".wh.orig", data="")
    # Whiteout of a symlink to a directory removes the link only.
    t.add(".wh.rel-dirlink", data="")
    # Whiteout of something missing: ignored, no parent created.
    t.add("e/.wh.nonexistent", data="")
    # Through a symlinked parent (relative and absolute link).
    t.add("lib/foo", data="through lib\n")
    t.add("wlink/.wh.victim", data="")
    t.add("wabs/.wh.victim2", data="")
    # Duplicates: the later one wins.
    t.add("dup2", data="one\n")
    t.add("dup2", data="two\n")
    return t.bytes()


def layer3():
    t = TarBuilder()
    t.add("../evil1", data="evil1\n")
    t.add("/abs1", data="abs1\n")
    t.add("ok/../../evil2", data="evil2\n")
    t.add(".wh.lowerfile", data="")
    t.add("sym/", "dir")
    t.add("sym/rel", "symlink", linkname="../f1")
    t.add("sym/abs", "symlink", linkname="/etc/passwd")
    t.add("sym/dangling", "symlink", linkname="nowhere")
    return t.bytes()


def libarchive_layer():
    t = TarBuilder()
    t.add("la/", "dir", libarchive_xattrs={"user.ladir": "dir value"})
    t.add("la/file", data="libarchive xattrs\n",
          libarchive_xattrs={"user.la": "la value", "security.capability": CAP,
                             "user.with space": BIN})
    return t.bytes()


def replace_layers():
    t = TarBuilder()
    t.add("usr/", "dir").add("usr/lib/", "dir").add("usr/lib/old", data="old\n")
    t.add("lib", "symlink", linkname="usr/lib")
    t.add("f3", data="f3 old\n")
    t.add("d/", "dir").add("d/x", data="dx\n").add("y", "hardlink", linkname="d/x")
    t.add("pf", data="pf\n")
    t.add("wreal/", "dir").add("wreal/a", data="a\n").add("wlink", "symlink", linkname="wreal")
    t.add("esc", "symlink", linkname="../../../../tmp")
    t.add("s1", "symlink", linkname="target").add("hs", "hardlink", linkname="s1")
    t.add("fifo", "fifo").add("hf", "hardlink", linkname="fifo")
    t.add("cdev", "char", major=1, minor=5).add("hc", "hardlink", linkname="cdev")
    u = TarBuilder()
    u.add("lib/", "dir", mode=0o750).add("lib/new", data="new\n")
    u.add(".wh.f3", data="").add("f3", data="f3 new\n")
    u.add("d", data="d is a file\n")
    u.add("pf/.wh.nothing", data="")
    u.add("wlink/.wh..wh..opq", data="").add("wlink/b", data="b\n")
    u.add("esc/x", data="escaped\n")
    return [(t.bytes(), "gzip"), (u.bytes(), "gzip")]


def gnu_tar(workdir, name, *opts):
    out = subprocess.run(
        ["tar", "-C", workdir, "--sparse", *opts, "--mtime=@1600000000", "--owner=0",
         "--group=0", "--numeric-owner", "--transform=s,^,sp/,", "-cf", "-",
         "sparse.bin"],
        check=True, stdout=subprocess.PIPE).stdout
    return TarBuilder().add("sp/", "dir").raw(out).bytes()


def make_sparse(workdir):
    path = os.path.join(workdir, "sparse.bin")
    with open(path, "wb") as f:
        f.truncate(3 * 1024 * 1024)
        f.seek(1024 * 1024)
        f.write(b"middle")
        f.seek(3 * 1024 * 1024 - 3)
        f.write(b"end")
    os.chmod(path, 0o640)


def main():
    layout, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    cfg = default_config()
    cfg["config"]["Cmd"] = ["/bin/sh"]
    write_layout(layout, [(layer1(), "gzip"), (layer2(), "none"), (layer3(), "gzip")], cfg,
                 "latest")
    write_layout(layout, [(libarchive_layer(), "gzip")], cfg, "libarchive")
    make_sparse(workdir)
    write_layout(layout, [(gnu_tar(workdir, "pax", "--format=posix",
                                   "--pax-option=delete=atime,delete=ctime"), "gzip")],
                 cfg, "sparse-pax")
    write_layout(layout, [(gnu_tar(workdir, "pax01", "--format=posix", "--sparse-version=0.1",
                                   "--pax-option=delete=atime,delete=ctime"), "gzip")],
                 cfg, "sparse-pax01")
    write_layout(layout, [(gnu_tar(workdir, "gnu", "--format=gnu"), "gzip")], cfg,
                 "sparse-gnu")
    write_layout(layout, replace_layers(), cfg, "replace")
    write_layout(layout, [(TarBuilder().add("pf", data="pf\n").bytes(), "gzip"),
                          (TarBuilder().add("pf/child", data="c\n").bytes(), "gzip")],
                 cfg, "file-parent")
    bad = TarBuilder().add("loop1", "symlink", linkname="loop2")
    bad.add("loop2", "symlink", linkname="loop1").add("loop1/x", data="x\n")
    write_layout(layout, [(bad.bytes(), "gzip")], cfg, "err-symlink-loop")
    bad = TarBuilder().add("a", data="a\n")
    bad.add("evil", "hardlink", linkname="../../../../etc/passwd")
    write_layout(layout, [(bad.bytes(), "gzip")], cfg, "err-link-outside")
    bad = TarBuilder().add("a", data="a\n").add(".wh.", data="")
    write_layout(layout, [(TarBuilder().add("x", data="x\n").bytes(), "gzip"),
                          (bad.bytes(), "gzip")], cfg, "err-bare-wh")
    bad = TarBuilder().add("dir/", "dir").add("dir/.wh.", data="")
    write_layout(layout, [(bad.bytes(), "none")], cfg, "err-bare-wh-sub")


if __name__ == "__main__":
    main()
