"""Helpers for process tests: who are this process's children, read from /proc."""

from __future__ import annotations

import os
from pathlib import Path

# Long-lived helpers multiprocessing starts once per server, not per run.
HELPERS = ("forkserver", "resource_tracker")


def children() -> set[int]:
    """Pids of this process's children (zombies included: an unreaped child counts),
    leaving out multiprocessing's one-per-server forkserver and resource tracker."""
    me = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:  # it ended while we looked
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me and not any(helper in cmdline for helper in HELPERS):
            found.add(int(entry.name))
    return found
