"""Helpers for process tests: which processes a run started, read from /proc.

A forkserver child is a child of the forkserver, not of this process, and it shares
the forkserver's command line (it is a fork of it): so a run's processes are every
descendant of this process except the long-lived helpers themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def helpers(pid: int | None = None) -> set[int]:
    """The forkserver and resource tracker started by `pid` (default: this process)."""
    parent = os.getpid() if pid is None else pid
    return {
        child
        for child, ppid, _, cmdline in _processes()
        if ppid == parent and any(helper in cmdline for helper in HELPERS)
    }


def children() -> set[int]:
    """Every process below this one that a run started (zombies included: an unreaped
    child counts), leaving out the one-per-server forkserver and resource tracker."""
    return descendants(os.getpid()) - helpers()


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


def state(pid: int) -> str:
    """The state letter of `pid` (R, S, T for stopped, Z...), or "" if it is gone."""
    return next((s for p, _, s, _ in _processes() if p == pid), "")


def put_parent_pid(queue: Any) -> None:
    """A child's target: which process is its parent (the forkserver, or whoever spawned it)."""
    queue.put(os.getppid())


def wait_for(event: Any) -> None:
    """A child that lives until the parent sets `event` (bounded: never an orphan)."""
    event.wait(60)
