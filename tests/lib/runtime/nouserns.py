#!/usr/bin/env python3
"""Runs a command as a user who cannot create user namespaces (for the runtime tests).

usage: nouserns.py UID GID COMMAND [ARGS...]     (as root; UID is not 0)

The command runs in a user namespace of its own where UID and GID are mapped to themselves
(and root to root) and user.max_user_namespaces is 0, so that its unshare(CLONE_NEWUSER)
fails with ENOSPC the way it does on a host with user namespaces disabled; the rest of the
machine is not affected (that limit is per user namespace). Exits with the command's status.
"""
import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) < 4 or os.geteuid() != 0 or sys.argv[1] == "0":
        print(__doc__, file=sys.stderr)
        return 2
    uid, gid, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        if libc.unshare(CLONE_NEWUSER) != 0:
            print("unshare: " + os.strerror(ctypes.get_errno()), file=sys.stderr)
            os._exit(125)
        os.write(ready_w, b"r")
        if os.read(go_r, 1) != b"g":
            os._exit(125)
        # root of the new namespace: limit it, then become the user
        write("/proc/sys/user/max_user_namespaces", "0")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            print("%s: %s" % (argv[0], e), file=sys.stderr)
            os._exit(127)
    os.close(ready_w)
    os.close(go_r)
    if os.read(ready_r, 1) != b"r":
        os.waitpid(pid, 0)
        return 125
    # the host's root may map any ids
    write("/proc/%d/uid_map" % pid, "0 0 1\n%d %d 1\n" % (uid, uid))
    write("/proc/%d/gid_map" % pid, "0 0 1\n%d %d 1\n" % (gid, gid))
    os.write(go_w, b"g")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
