"""The run history in one SQLite file (stdlib `sqlite3`, WAL mode): the embedded default.

Why plain `sqlite3`: the schema is two tables and a handful of statements, all here;
a wrapper would add a dependency and hide the pragmas that matter (WAL, so readers
never wait for the writer; `synchronous=NORMAL`, durable against a crash of the
server, which is what a history must survive; `busy_timeout`, for a second process
such as `interleave run` writing to the same file).

Tables: `runs`, one row per run (its `RunRecord`), and `blocks`, its events as the
compressed blocks of `app.columns` (each a few thousand to a few tens of thousands of
events), deleted with their run. Each thread gets its own connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.store import INTERRUPTED, RUNNING, Changes, RunRecord

SCHEMA_VERSION = 1
_INCREMENTAL = 2  # PRAGMA auto_vacuum: prune hands freed pages back (PRAGMA incremental_vacuum)
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    title TEXT NOT NULL,
    params TEXT NOT NULL,          -- JSON object
    interpreter TEXT NOT NULL,
    created_at REAL NOT NULL,
    owner TEXT NOT NULL,
    control_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL,
    duration_ns INTEGER,
    reason TEXT,
    error TEXT,
    result TEXT,                   -- JSON object or NULL
    events INTEGER NOT NULL DEFAULT 0,
    stored_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_newest ON runs (created_at);
CREATE INDEX IF NOT EXISTS runs_of_scenario ON runs (scenario, created_at);
CREATE INDEX IF NOT EXISTS runs_in_flight ON runs (status) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS blocks (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    first INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, first)
);
"""
_COLUMNS = (
    "id, scenario, title, params, interpreter, created_at, owner, control_digest, status, "
    "started_at, duration_ns, reason, error, result, events, stored_bytes"
)


class SqliteStore:
    """A `RunStore` in one SQLite file.

    Usage::

        store = SqliteStore(Path("runs.sqlite"))
        store.apply(Changes(created=[record]))
        store.record(record.id)
        store.close()
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(f"cannot create the history's folder {path.parent}: {error}") from error
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        db = self._db()
        db.executescript(SCHEMA)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path} was written by a newer Interleave (schema {version}, this one reads "
                f"{SCHEMA_VERSION}): upgrade, or point INTERLEAVE_DATABASE at another file"
            )
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
            # A file made before the mode was set in time: `prune` could not give its
            # space back. Rewritten once, it takes the mode this connection asked for.
            db.execute("VACUUM")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            # Lets `prune` give freed pages back to the file system. It only takes on a new
            # file, before its first table and before it turns to WAL (a no-op after that).
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    # --- writing ----------------------------------------------------------------------
    def apply(self, changes: Changes) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                f"INSERT INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * 16)})",
                [_row(record) for record in changes.created],
            )
            for run_id, blocks in changes.blocks.items():
                db.executemany(
                    "INSERT INTO blocks (run_id, first, count, data) VALUES (?, ?, ?, ?)",
                    [(run_id, b.first, b.count, b.data) for b in blocks],
                )
                db.execute(
                    "UPDATE runs SET events = ?, stored_bytes = stored_bytes + ? WHERE id = ?",
                    (blocks[-1].first + blocks[-1].count, sum(len(b.data) for b in blocks), run_id),
                )
            db.executemany(
                "UPDATE runs SET status = ?, started_at = ?, duration_ns = ?, reason = ?, error = ?, "
                "result = ? WHERE id = ?",
                [
                    (e.status, e.started_at, e.duration_ns, e.reason, e.error, _json(e.result), run_id)
                    for run_id, e in changes.ended.items()
                ],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def interrupt_orphans(self, alive: Callable[[str], bool], reason: str) -> list[str]:
        db = self._db()
        rows = db.execute("SELECT id, owner FROM runs WHERE status = ?", (RUNNING,)).fetchall()
        orphans = [run_id for run_id, owner in rows if not alive(owner)]
        db.executemany(
            "UPDATE runs SET status = ?, reason = ? WHERE id = ? AND status = ?",
            [(INTERRUPTED, reason, run_id, RUNNING) for run_id in orphans],
        )
        return orphans

    def prune(self, max_runs: int, max_bytes: int) -> list[str]:
        db = self._db()
        count, size = db.execute("SELECT count(*), coalesce(sum(stored_bytes), 0) FROM runs").fetchone()
        doomed: list[str] = []
        oldest_first = db.execute(
            "SELECT id, stored_bytes FROM runs WHERE status != ? ORDER BY created_at", (RUNNING,)
        )
        for run_id, stored in oldest_first:
            if count <= max_runs and size <= max_bytes:
                break
            doomed.append(run_id)
            count, size = count - 1, size - stored
        if not doomed:
            return []
        db.execute("BEGIN IMMEDIATE")
        db.executemany("DELETE FROM runs WHERE id = ?", [(run_id,) for run_id in doomed])
        db.execute("COMMIT")
        # Each step of this pragma frees one page, and `execute` takes one step:
        # `executescript` runs it to the end, freeing them all.
        db.executescript("PRAGMA incremental_vacuum")
        return doomed

    # --- reading ----------------------------------------------------------------------
    def record(self, run_id: str) -> RunRecord | None:
        row = self._db().execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _record(row)

    def blocks(self, run_id: str) -> Iterator[bytes]:
        rows = self._db().execute("SELECT data FROM blocks WHERE run_id = ? ORDER BY first", (run_id,))
        for (data,) in rows:
            yield bytes(data)

    def recent(self, scenario: str | None, limit: int, before: float | None) -> list[RunRecord]:
        where, args = [], list[Any]()
        if scenario:
            where.append("scenario = ?")
            args.append(scenario)
        if before is not None:
            where.append("created_at < ?")
            args.append(before)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM runs {clause} ORDER BY created_at DESC LIMIT ?", (*args, limit)
        )
        return [_record(row) for row in rows]

    def scenarios(self) -> list[tuple[str, str, int]]:
        rows = self._db().execute(
            "SELECT scenario, max(title), count(*) FROM runs GROUP BY scenario ORDER BY max(title)"
        )
        return [(slug, title, count) for slug, title, count in rows]

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _row(r: RunRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.scenario,
        r.title,
        json.dumps(r.params),
        r.interpreter,
        r.created_at,
        r.owner,
        r.control_digest,
        r.status,
        r.started_at,
        r.duration_ns,
        r.reason,
        r.error,
        _json(r.result),
        r.events,
        r.stored_bytes,
    )


def _record(row: tuple[Any, ...]) -> RunRecord:
    (run_id, scenario, title, params, interpreter, created_at, owner, digest, status) = row[:9]
    started_at, duration_ns, reason, error, result, events, stored_bytes = row[9:]
    return RunRecord(
        id=run_id,
        scenario=scenario,
        title=title,
        params=json.loads(params),
        interpreter=interpreter,
        created_at=created_at,
        owner=owner,
        control_digest=digest,
        status=status,
        started_at=started_at,
        duration_ns=duration_ns,
        reason=reason,
        error=error,
        result=None if result is None else json.loads(result),
        events=events,
        stored_bytes=stored_bytes,
    )
