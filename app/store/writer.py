"""HistoryWriter: what the runner publishes to. It queues each run's start, events and
end, and writes them from one thread of its own, in batches.

Why one writer thread rather than `asyncio.to_thread` per write: the event loop only
puts a tuple on a queue (never waits for the disk); the thread writes each run's facts
in order (created, then its blocks, then its end) without any lock; it gathers every
run's writes of the last `flush_seconds` into one transaction (one sync to disk,
whatever the number of runs); and it encodes the event blocks off the loop (zlib
releases the GIL while it compresses). A database allows one writer at a time anyway.

A run's events are read straight from its `EventColumns` (append-only: the events the
writer is told about never change), so nothing is copied while they wait.

Usage::

    history = open_history(settings)      # opens the store, settles orphans, prunes
    history.writer.created(record)
    history.writer.logged(run_id, log, len(log))   # once a frame
    history.writer.ended(run_id, ending)
    history.close()                       # writes what is queued, then stops
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from app.columns import EventColumns
from app.config import Settings
from app.store import Block, Changes, Ending, RunRecord, RunStore, process_alive
from app.store.sqlite import SqliteStore

_log = logging.getLogger("interleave.history")
INTERRUPTED_REASON = "the server stopped while this run was in flight; what it recorded until then is kept"
_FLUSH, _CLOSE = "flush", "close"


@dataclass
class _Pending:
    log: EventColumns
    written: int  # events of the log already written
    logged: int = 0  # events the runner says the log holds


@dataclass
class HistoryWriter:
    """Writes runs to a `RunStore` from its own thread (see the module docstring)."""

    store: RunStore
    flush_seconds: float  # these three come from `Settings` (open_history), their one source
    max_runs: int
    max_bytes: int
    block_events: int = 65_536  # events per stored block at most: a reader decodes one at a time
    _queue: queue.SimpleQueue[tuple[str, Any, Any]] = field(default_factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None

    def start(self) -> HistoryWriter:
        self._thread = threading.Thread(target=self._work, name="interleave-history", daemon=True)
        self._thread.start()
        return self

    # --- called from the event loop (or any thread): never blocks -------------------------
    def created(self, record: RunRecord) -> None:
        self._queue.put(("created", record, None))

    def logged(self, run_id: str, log: EventColumns, count: int) -> None:
        """The run's log now holds `count` events: write those not written yet."""
        self._queue.put(("logged", run_id, (log, count)))

    def ended(self, run_id: str, ending: Ending) -> None:
        self._queue.put(("ended", run_id, ending))

    # --- waiting for the disk (not on the event loop: use asyncio.to_thread) -------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued before this call is written."""
        done = threading.Event()
        self._queue.put((_FLUSH, done, None))
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put((_CLOSE, None, None))
            self._thread.join(timeout)

    # --- the writer thread -----------------------------------------------------------
    def _work(self) -> None:
        pending: dict[str, _Pending] = {}
        while True:
            batch = Changes()
            waiters: list[threading.Event] = []
            closing = False
            item = self._queue.get()
            deadline = time.monotonic() + self.flush_seconds
            while True:
                kind, a, b = item
                if kind == _FLUSH:
                    waiters.append(a)
                    break
                if kind == _CLOSE:
                    closing = True
                    break
                self._take(kind, a, b, batch, pending)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            self._write(batch, pending)
            for waiter in waiters:
                waiter.set()
            if closing:
                return

    def _take(self, kind: str, a: Any, b: Any, batch: Changes, pending: dict[str, _Pending]) -> None:
        if kind == "created":
            batch.created.append(a)
        elif kind == "logged":
            log, count = b
            entry = pending.setdefault(a, _Pending(log, written=0))
            entry.logged = max(entry.logged, count)
        elif kind == "ended":
            batch.ended[a] = b

    def _write(self, batch: Changes, pending: dict[str, _Pending]) -> None:
        for run_id, entry in pending.items():
            blocks = []
            for first in range(entry.written, entry.logged, self.block_events):
                stop = min(first + self.block_events, entry.logged)
                blocks.append(Block(first, stop - first, entry.log.to_block(first, stop)))
            if blocks:
                batch.blocks[run_id] = blocks
                entry.written = entry.logged
        for run_id in batch.ended:
            pending.pop(run_id, None)  # its last events are in this batch
        if not batch:
            return
        try:
            self.store.apply(batch)
            if batch.ended:
                pruned = self.store.prune(self.max_runs, self.max_bytes)
                if pruned:
                    _log.info("history: pruned %d oldest runs to stay within its limits", len(pruned))
        except Exception:
            # The runs go on (viewers read them from memory); only their history is lost.
            _log.exception("history: writing %d runs failed", len(batch.created) + len(batch.blocks))


@dataclass
class History:
    """The store and its writer, opened once by the server or the command line."""

    store: RunStore
    writer: HistoryWriter

    def close(self) -> None:
        self.writer.close()
        self.store.close()


def open_history(settings: Settings) -> History:
    """Open the configured store, mark runs orphaned by a dead server `interrupted`,
    apply the retention limits, and start the writer."""
    store = SqliteStore(settings.database)
    orphans = store.interrupt_orphans(process_alive, INTERRUPTED_REASON)
    if orphans:
        _log.warning("history: %d runs were in flight when their server stopped: interrupted", len(orphans))
    store.prune(settings.history_max_runs, settings.history_max_bytes)
    writer = HistoryWriter(
        store,
        flush_seconds=settings.history_flush_seconds,
        max_runs=settings.history_max_runs,
        max_bytes=settings.history_max_bytes,
    )
    return History(store, writer.start())
