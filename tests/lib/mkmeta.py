#!/usr/bin/env python3
"""Writes small one-layer images whose configs exercise litho's Apptainer metadata
(compat.md §2.2-2.4). usage: mkmeta.py LAYOUT

Tags:
  both      Entrypoint ["/bin/echo", "ep"], Cmd ["cmd 1", "it's"]
  ep-only   Entrypoint ["/bin/echo", "ep only"]
  cmd-only  Cmd ["/bin/echo", "cmd", "only"]
  env       Env with plain, empty, valueless, invalid-name and special-character entries;
            Labels with plain and special values
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tarlib import TarBuilder, default_config, write_layout  # noqa: E402


def config(**fields):
    cfg = default_config()
    cfg["config"].update(fields)
    return cfg


def main():
    layout = sys.argv[1]
    layer = (TarBuilder().add("etc/", "dir").add("etc/os-release", data="ID=meta\n").bytes(),
             "gzip")
    write_layout(layout, [layer], config(Entrypoint=["/bin/echo", "ep"],
                                         Cmd=["cmd 1", "it's"],
                                         Labels={"org.example.kind": "both"}), "both")
    write_layout(layout, [layer], config(Entrypoint=["/bin/echo", "ep only"], Cmd=None),
                 "ep-only")
    write_layout(layout, [layer], config(Cmd=["/bin/echo", "cmd", "only"]), "cmd-only")
    write_layout(layout, [layer], config(
        Env=["PATH=/opt/bin:/usr/bin:/bin", "PLAIN=value", "EMPTY=", "NOVALUE",
             "1INVALID=x", "BAD-NAME=y", "SPECIAL=a\"b$c`d\\e", "SPACES=two  words",
             "EQUALS=k=v"],
        Cmd=["/bin/sh"],
        Labels={"org.example.plain": "plain", "org.example.special": "quote \" tab\t<&>",
                "org.example.unicode": "ünï"}), "env")


if __name__ == "__main__":
    main()
