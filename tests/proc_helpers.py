"""Helpers for process tests: who are this process's children, read from /proc."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Long-lived helpers multiprocessing starts once per server, not per run.
HELPERS = ("forkserver", "resource_tracker")


def _processes() -> Iterator[tuple[int, int, str, str]]:
    """(pid, parent pid, state letter, command line) of every process in /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:  # it ended while we looked
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        yield int(entry.name), int(ppid), state, cmdline


def children() -> set[int]:
    """Pids of this process's children (zombies included: an unreaped child counts),
    leaving out multiprocessing's one-per-server forkserver and resource tracker."""
    me = os.getpid()
    return {
        pid
        for pid, ppid, _, cmdline in _processes()
        if ppid == me and not any(helper in cmdline for helper in HELPERS)
    }


def descendants(pid: int) -> set[int]:
    """Every process below `pid`."""
    parents = {child: parent for child, parent, _, _ in _processes()}
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie has ended: it only waits to be reaped)."""
    return any(p == pid and state != "Z" for p, _, state, _ in _processes())
