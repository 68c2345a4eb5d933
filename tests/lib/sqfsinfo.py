#!/usr/bin/env python3
"""Reads a few SquashFS fields that no tool prints (for the `litho build` tests).

usage: sqfsinfo.py IMAGE [OFFSET]

Prints `key=value` lines: inode_count, root_inode_number, root_parent_inode, root_nlink, mkfs_time,
compressor, block_size, bytes_used. Metadata blocks compressed with gzip, xz or zstd are
supported (zstd through the zstd command).
"""

import lzma
import struct
import subprocess
import sys
import zlib

COMPRESSORS = {1: "gzip", 2: "lzma", 3: "lzo", 4: "xz", 5: "lz4", 6: "zstd"}


def decompress(comp, data):
    if comp == 1:
        return zlib.decompress(data)
    if comp == 4:
        return lzma.decompress(data, format=lzma.FORMAT_XZ)
    if comp == 6:
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    raise SystemExit(f"sqfsinfo: compressor {COMPRESSORS.get(comp, comp)} is not supported")


def main():
    path = sys.argv[1]
    offset = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with open(path, "rb") as f:
        f.seek(offset)
        img = f.read()
    (magic, inode_count, mkfs, block_size, _frags, comp, _blog, _flags, _ids, vmaj, vmin,
     root_ref, bytes_used, _idt, _xat, inode_table, _dirt, _fragt, _expt) = \
        struct.unpack_from("<IIIIIHHHHHHQQQQQQQQ", img, 0)
    if magic != 0x73717368 or (vmaj, vmin) != (4, 0):
        raise SystemExit("sqfsinfo: not a SquashFS 4.0 image")
    block, off = root_ref >> 16, root_ref & 0xFFFF
    pos = inode_table + block
    data = b""
    while len(data) < off + 64 and pos < bytes_used:
        (hdr,) = struct.unpack_from("<H", img, pos)
        size = hdr & 0x7FFF
        raw = img[pos + 2:pos + 2 + size]
        data += raw if hdr & 0x8000 else decompress(comp, raw)
        pos += 2 + size
    itype, _mode, _uid, _gid, _mtime, number = struct.unpack_from("<HHHHII", data, off)
    if itype == 1:
        _dir_block, nlink, _size, _doff, parent = struct.unpack_from("<IIHHI", data, off + 16)
    elif itype == 8:
        nlink, _size, _dir_block, parent = struct.unpack_from("<IIII", data, off + 16)
    else:
        raise SystemExit(f"sqfsinfo: the root inode has type {itype}, not a directory")
    print(f"inode_count={inode_count}")
    print(f"root_inode_number={number}")
    print(f"root_parent_inode={parent}")
    print(f"root_nlink={nlink}")
    print(f"mkfs_time={mkfs}")
    print(f"compressor={COMPRESSORS.get(comp, comp)}")
    print(f"block_size={block_size}")
    print(f"bytes_used={bytes_used}")


if __name__ == "__main__":
    main()
