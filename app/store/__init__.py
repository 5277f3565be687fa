"""The run history: every run's facts and event log, kept across restarts.

Structure:
- `RunStore` is the one interface a database implements (SQLite here:
  `app.store.sqlite`; PostgreSQL could take its place with the same methods). Its
  methods are synchronous and may block: they are called from the writer thread or
  through `asyncio.to_thread`, never on the event loop.
- `RunRecord` is what is kept of a run besides its events; the events travel as the
  compressed blocks of `app.columns` (the store never looks inside them).
- `HistoryWriter` (`app.store.writer`) is what the runner publishes to: it queues,
  batches and writes from one thread of its own.
- `open_store(settings)` opens the configured store.

No FastAPI here, and no SQL outside the implementation modules.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from app import hotpath
from app.timeline import JSON

RUNNING = "running"  # the status a run is stored with until it ends (see RunStatus)
INTERRUPTED = "interrupted"


@dataclass
class RunRecord:
    """A run's facts, as stored: what ran, where, when, how it ended."""

    id: str
    scenario: str  # the lesson's slug
    title: str
    params: dict[str, JSON]
    interpreter: str  # e.g. "cpython 3.11.7"
    created_at: float  # Unix time the run was asked for
    owner: str  # the process running it (see `this_process`): who may still finish it
    control_digest: str = ""  # sha256 of its control credential: who may stop it
    status: str = RUNNING
    started_at: float | None = None  # Unix time its program started (t_ns counts from here)
    duration_ns: int | None = None
    reason: str | None = None
    error: str | None = None
    result: dict[str, JSON] | None = None
    events: int = 0  # events stored so far
    stored_bytes: int = 0  # size of its stored event blocks


@dataclass(frozen=True)
class Ending:
    """How a run ended, as `RunStore.finish` records it."""

    status: str
    started_at: float | None
    duration_ns: int | None
    reason: str | None
    error: str | None
    result: dict[str, JSON] | None


@dataclass(frozen=True)
class Block:
    """Events [first, first + count) of a run, encoded by `app.columns`."""

    first: int
    count: int
    data: bytes


@dataclass
class Changes:
    """What one write applies at once (one transaction): new runs, event blocks, endings."""

    created: list[RunRecord] = field(default_factory=list)
    blocks: dict[str, list[Block]] = field(default_factory=dict)
    ended: dict[str, Ending] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.created or self.blocks or self.ended)


class RunStore(Protocol):
    """Where runs are kept. Implementations: `app.store.sqlite.SqliteStore`."""

    def apply(self, changes: Changes) -> None:
        """Write the changes atomically, in order: runs created, blocks added, runs ended."""

    def record(self, run_id: str) -> RunRecord | None:
        """A run's facts, or None if it was never stored or has been pruned."""

    def blocks(self, run_id: str) -> Iterator[bytes]:
        """A run's event blocks, in order."""

    def recent(self, scenario: str | None, limit: int, before: float | None) -> list[RunRecord]:
        """Runs newest first (created before `before`, if given), of one lesson if given."""

    def scenarios(self) -> list[tuple[str, str, int]]:
        """(slug, title, how many runs) of every lesson with stored runs."""

    def interrupt_orphans(self, alive: Callable[[str], bool], reason: str) -> list[str]:
        """Mark `interrupted`, with `reason`, every run still `running` whose owner is
        not `alive` (its process died: it will never finish it); return their ids."""

    def prune(self, max_runs: int, max_bytes: int) -> list[str]:
        """Delete the oldest ended runs until at most `max_runs` remain and their
        blocks take at most `max_bytes`; return the ids deleted."""

    def close(self) -> None: ...


# --- who runs a run -----------------------------------------------------------------------
def _start_ticks(pid: int) -> str:
    """When the process started (clock ticks since boot), so a recycled pid is told
    apart from the process that had it; "" where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> str:
    """An id of the calling process: host, pid and start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid)}"


def process_alive(owner: str) -> bool:
    """Is the process `owner` names still running? Only this machine's can be checked:
    another host's runs count as alive (their own server settles them)."""
    host, _, rest = owner.partition("/")
    pid_text, _, ticks = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit():
        return host != socket.gethostname()
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # somebody else's process has that pid now: it still exists
    return _start_ticks(pid) == ticks


_RECORDER_SEPARATOR = " · "


def interpreter_name() -> str:
    """The Python that runs the lessons, and which recorder (app/hotpath.py) records
    them: e.g. "cpython 3.11.7 · compiled recorder"."""
    version = ".".join(map(str, sys.version_info[:3]))
    return f"{sys.implementation.name} {version}{_RECORDER_SEPARATOR}{hotpath.RECORDER} recorder"


def recorder_of(interpreter: str) -> str:
    """Which recorder a run's `interpreter_name()` names: "compiled" or "interpreted".
    Runs kept from before there was a compiled recorder ran interpreted."""
    _, separator, recorder = interpreter.partition(_RECORDER_SEPARATOR)
    return recorder.removesuffix(" recorder") if separator else hotpath.INTERPRETED


def default_database() -> Path:
    """A file in the user's data directory: $XDG_DATA_HOME (or ~/.local/share) on Linux,
    ~/Library/Application Support on macOS, %LOCALAPPDATA% on Windows."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "interleave" / "runs.sqlite"
