#!/usr/bin/env python3
"""Runs a command and records how it ended (for the runtime tests).

usage: spawn.py PIDFILE STATUSFILE COMMAND [ARGS...]

Writes the child's pid to PIDFILE as soon as it is started (atomically: the file appears
complete), waits for it and writes "exit N" or "signal N" to STATUSFILE. The child inherits
stdin, stdout and stderr. spawn.py exits with the child's status in shell convention (128+N
for a signal) and ignores SIGINT/SIGTERM/SIGHUP itself, so that it is not mistaken for the
child.

SIGINT, SIGQUIT and SIGTERM are reset to their default action for the child: a command that a
non-interactive shell starts with `&` has SIGINT and SIGQUIT ignored, and a signal ignored on
entry cannot be trapped by a shell payload.
"""
import os
import signal
import sys


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    pidfile, statusfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            print(f"spawn.py: {argv[0]}: {e}", file=sys.stderr)
            os._exit(127)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    tmp = pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid}\n")
    os.rename(tmp, pidfile)
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st):
        verdict, code = f"signal {os.WTERMSIG(st)}", 128 + os.WTERMSIG(st)
    else:
        verdict, code = f"exit {os.WEXITSTATUS(st)}", os.WEXITSTATUS(st)
    tmp = statusfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(verdict + "\n")
    os.rename(tmp, statusfile)
    return code


sys.exit(main())
