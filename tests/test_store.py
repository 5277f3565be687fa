"""The run history (app/store): runs written as they go, read back the same, orphans
marked interrupted, the oldest pruned first."""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

from app.columns import EventColumns
from app.config import Settings
from app.main import create_app
from app.store import INTERRUPTED, RUNNING, Block, Changes, Ending, RunRecord, process_alive, this_process
from app.store.sqlite import SCHEMA_VERSION, SqliteStore
from app.store.writer import INTERRUPTED_REASON, HistoryWriter, open_history
from app.timeline import Event, Kind
from tests.helpers import events_of, finished_run, parse_sse

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "runs.sqlite")
    yield opened
    opened.close()


def record(run_id: str, created_at: float, status: str = "done", owner: str = "") -> RunRecord:
    return RunRecord(
        id=run_id,
        scenario="lock-counter",
        title="Lock counter",
        params={"pairs": 1},
        interpreter="cpython 3.11",
        created_at=created_at,
        owner=owner or this_process(),
        status=status,
    )


def block_of(n: int) -> Block:
    log = EventColumns()
    log.extend([Event(i, "main", Kind.PRINT, "", f"line {i}") for i in range(n)])
    return Block(0, n, log.to_block())


def test_the_writer_writes_a_run_in_order_and_in_blocks(store: SqliteStore) -> None:
    writer = HistoryWriter(
        store, flush_seconds=0.05, max_runs=100, max_bytes=1 << 30, block_events=1_000
    ).start()
    log = EventColumns()
    writer.created(record("r1", 1.0, status=RUNNING))
    for n in range(5):
        log.extend([Event(n * 1_000 + i, "main", Kind.RUN, "", None) for i in range(700)])
        writer.logged("r1", log, len(log))
    assert writer.flush()
    assert store.record("r1").events == 3_500  # type: ignore[union-attr]
    writer.ended("r1", Ending("done", 10.0, 3_500_000, None, None, {"summary": "ok", "values": {}}))
    writer.close()
    stored = store.record("r1")
    assert stored is not None
    assert stored.status == "done"
    assert stored.result == {"summary": "ok", "values": {}}
    blocks = list(store.blocks("r1"))
    assert all(len(b) < 700 * 25 for b in blocks)  # compressed
    assert list(EventColumns.from_blocks(blocks)) == list(log)


def test_runs_whose_server_died_are_marked_interrupted_and_keep_their_events(store: SqliteStore) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_owner = this_process().rsplit("/", 2)[0] + f"/{gone.stdout.strip()}/0"
    store.apply(
        Changes(
            created=[record("dead", 1.0, RUNNING, owner=dead_owner), record("alive", 2.0, RUNNING)],
            blocks={"dead": [block_of(50)]},
        )
    )
    assert not process_alive(dead_owner)
    assert process_alive(this_process())
    assert store.interrupt_orphans(process_alive, "the server died") == ["dead"]
    dead = store.record("dead")
    assert dead is not None
    assert dead.status == INTERRUPTED
    assert dead.reason == "the server died"
    assert dead.events == 50
    assert len(EventColumns.from_blocks(store.blocks("dead"))) == 50
    assert store.record("alive").status == RUNNING  # type: ignore[union-attr]


def test_retention_deletes_the_oldest_finished_runs_first_by_count_and_by_size(store: SqliteStore) -> None:
    runs = [record(f"r{i}", float(i)) for i in range(6)]
    runs[0].status = RUNNING  # the oldest is still running: never pruned
    store.apply(Changes(created=runs, blocks={r.id: [block_of(2_000)] for r in runs}))
    size = store.record("r1").stored_bytes  # type: ignore[union-attr]
    assert store.prune(max_runs=4, max_bytes=1 << 40) == ["r1", "r2"]
    assert [r.id for r in store.recent(None, 10, None)] == ["r5", "r4", "r3", "r0"]
    assert store.prune(max_runs=100, max_bytes=2 * size) == ["r3", "r4"]
    assert {r.id for r in store.recent(None, 10, None)} == {"r5", "r0"}
    assert list(store.blocks("r3")) == []  # the events went with the run


def test_recent_runs_are_newest_first_filtered_by_lesson_and_paged(store: SqliteStore) -> None:
    runs = [record(f"r{i}", float(i)) for i in range(5)]
    runs[2].scenario, runs[2].title = "deadlock", "Deadlock"
    store.apply(Changes(created=runs))
    assert [r.id for r in store.recent(None, 2, None)] == ["r4", "r3"]
    assert [r.id for r in store.recent(None, 10, 3.0)] == ["r2", "r1", "r0"]
    assert [r.id for r in store.recent("deadlock", 10, None)] == ["r2"]
    assert store.scenarios() == [("deadlock", "Deadlock", 1), ("lock-counter", "Lock counter", 4)]


def dead_owner() -> str:
    """The owner id of a process that has ended: its server died."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return this_process().rsplit("/", 2)[0] + f"/{gone.stdout.strip()}/0"


def test_every_fact_of_a_failed_and_a_stopped_run_reads_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = SqliteStore(path)
    failed, stopped = record("failed", 1.5, RUNNING), record("stopped", 2.5, RUNNING)
    failed.control_digest = "ab" * 32
    failed.params = {"pairs": 2, "hold": 0.25, "names": ["ü", "✓"]}
    block = block_of(30)
    store.apply(Changes(created=[failed, stopped], blocks={"failed": [block]}))
    store.apply(
        Changes(
            ended={
                "failed": Ending("failed", 1.75, 123_456_789, "the program raised", "ValueError: boom", None),
                "stopped": Ending(
                    "stopped", 2.75, 5_000, "stopped by its viewer", None, {"values": {"x": 1.5}}
                ),
            }
        )
    )
    store.close()
    reopened = SqliteStore(path)  # a new server: nothing in memory
    try:
        assert reopened.record("failed") == RunRecord(
            id="failed",
            scenario="lock-counter",
            title="Lock counter",
            params={"pairs": 2, "hold": 0.25, "names": ["ü", "✓"]},
            interpreter="cpython 3.11",
            created_at=1.5,
            owner=this_process(),
            control_digest="ab" * 32,
            status="failed",
            started_at=1.75,
            duration_ns=123_456_789,
            reason="the program raised",
            error="ValueError: boom",
            result=None,
            events=30,
            stored_bytes=len(block.data),
        )
        kept = reopened.record("stopped")
        assert kept is not None
        assert (kept.status, kept.reason, kept.error, kept.result) == (
            "stopped",
            "stopped by its viewer",
            None,
            {"values": {"x": 1.5}},
        )
        assert (kept.events, kept.stored_bytes, list(reopened.blocks("stopped"))) == (0, 0, [])
        assert list(reopened.blocks("failed")) == [block.data]
    finally:
        reopened.close()


async def test_a_failed_and_a_stopped_run_read_back_by_a_new_server_say_how_they_ended(
    database: Path,
) -> None:
    """What a learner sees of a run after a restart: the error, the reason, the timing
    and who may still act on it, exactly as its first server left them."""
    store = SqliteStore(database)
    failed, stopped = record("failed", 1.5, RUNNING), record("stopped", 2.5, RUNNING)
    failed.control_digest = hashlib.sha256(b"the starter's token").hexdigest()
    store.apply(Changes(created=[failed, stopped], blocks={"failed": [block_of(30)]}))
    store.apply(
        Changes(
            ended={
                "failed": Ending("failed", 1.75, 123_456_789, None, "ValueError: boom", None),
                "stopped": Ending("stopped", 2.75, 5_000_000, "stopped by its viewer", None, None),
            }
        )
    )
    store.close()
    async for http in serve(database):
        gone_wrong = (await http.get("/runs/failed")).json()
        assert (gone_wrong["status"], gone_wrong["error"], gone_wrong["reason"]) == (
            "failed",
            "ValueError: boom",
            None,
        )
        assert (gone_wrong["started_at"], gone_wrong["duration_ms"], gone_wrong["events"]) == (
            1.75,
            123.457,
            30,
        )
        assert gone_wrong["interpreter"] == "cpython 3.11"  # what it ran on, not what reads it back
        cut_short = (await http.get("/runs/stopped")).json()
        assert (cut_short["status"], cut_short["reason"], cut_short["error"]) == (
            "stopped",
            "stopped by its viewer",
            None,
        )
        assert cut_short["duration_ms"] == 5.0
        stream = parse_sse((await http.get("/runs/stopped/events")).text)
        assert stream[-1].data == cut_short
        # Its starter's token still controls it (stopping an ended run changes nothing); a stranger's does not.
        owner = await http.post("/runs/failed/stop", headers={"X-Run-Control": "the starter's token"})
        assert (owner.status_code, owner.json()["status"]) == (200, "failed")
        stranger = await http.post("/runs/failed/stop", headers={"X-Run-Control": "a guess"})
        assert stranger.status_code == 403


def test_a_write_that_fails_leaves_nothing_behind_and_the_next_one_works(store: SqliteStore) -> None:
    store.apply(Changes(created=[record("r1", 1.0)]))
    with pytest.raises(sqlite3.IntegrityError):
        store.apply(Changes(created=[record("r2", 2.0), record("r1", 3.0)]))  # r1 exists already
    assert store.record("r2") is None  # one transaction: all or nothing
    store.apply(Changes(created=[record("r3", 3.0)]))
    assert [r.id for r in store.recent(None, 10, None)] == ["r3", "r1"]


def test_orphans_marked_interrupted_stay_so_after_the_next_restart(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = SqliteStore(path)
    store.apply(Changes(created=[record("dead", 1.0, RUNNING, owner=dead_owner())]))
    assert store.interrupt_orphans(process_alive, "the server died") == ["dead"]
    store.close()
    reopened = SqliteStore(path)
    try:
        kept = reopened.record("dead")
        assert kept is not None
        assert (kept.status, kept.reason) == (INTERRUPTED, "the server died")
        assert reopened.interrupt_orphans(process_alive, "again") == []  # settled once
    finally:
        reopened.close()


def test_the_file_says_which_schema_wrote_it_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    SqliteStore(path).close()
    SqliteStore(path).close()  # this version reopens its own files
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match=r"newer Interleave .*upgrade, or point INTERLEAVE_DATABASE"):
        SqliteStore(path)


def test_the_history_folder_is_made_with_its_parents_or_the_error_names_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data" / "interleave" / "runs.sqlite")  # a fresh volume
    store.apply(Changes(created=[record("r1", 1.0)]))
    store.close()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError, match=r"cannot create the history's folder .*a-file/sub"):
        SqliteStore(tmp_path / "a-file" / "sub" / "runs.sqlite")


def test_a_reader_never_holds_up_the_writer(store: SqliteStore) -> None:
    # The history page reads while runs are being written: WAL lets both go on.
    store.apply(Changes(created=[record("r1", 1.0)]))
    with closing(sqlite3.connect(store.path, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        store.apply(Changes(created=[record("r2", 2.0)]))  # commits beside the open read
        assert reader.execute("SELECT count(*) FROM runs").fetchone() == (1,)  # its snapshot
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM runs").fetchone() == (2,)


def test_pruning_gives_the_space_back_and_stops_exactly_at_the_limits(store: SqliteStore) -> None:
    def pages() -> int:
        with closing(sqlite3.connect(store.path)) as db:
            count: int = db.execute("PRAGMA page_count").fetchone()[0]
            size: int = db.execute("PRAGMA page_size").fetchone()[0]
        return count * size

    runs = [record(f"r{i}", float(i)) for i in range(5)]
    data = {r.id: Block(0, 1, os.urandom(200_000)) for r in runs}  # stored bytes, as they come
    store.apply(Changes(created=runs, blocks={run_id: [block] for run_id, block in data.items()}))
    total = 5 * 200_000
    assert store.prune(max_runs=5, max_bytes=total) == []  # at the limits: nothing to do
    before = pages()
    assert store.prune(max_runs=1, max_bytes=total) == ["r0", "r1", "r2", "r3"]
    assert before - pages() >= 4 * 200_000  # the file shrank: an operator's disk is freed
    assert list(store.blocks("r4")) == [data["r4"].data]


def test_a_history_file_from_before_the_prune_fix_gives_its_space_back_too(tmp_path: Path) -> None:
    """Files made before auto_vacuum was set in time (WAL first: SQLite then ignores it)
    are rewritten once when opened, keeping every run, so that pruning frees disk."""
    path = tmp_path / "runs.sqlite"
    store = SqliteStore(path)
    runs = [record(f"r{i}", float(i)) for i in range(3)]
    blocks = {r.id: [Block(0, 1, os.urandom(100_000))] for r in runs}
    store.apply(Changes(created=runs, blocks=blocks))
    store.close()
    with closing(sqlite3.connect(path, isolation_level=None)) as db:  # as the old code left it
        db.execute("PRAGMA auto_vacuum = NONE")
        db.execute("VACUUM")
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    store = SqliteStore(path)
    try:
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        assert [list(store.blocks(r.id)) for r in runs] == [[b.data for b in blocks[r.id]] for r in runs]
        size = path.stat().st_size
        assert store.prune(max_runs=1, max_bytes=10**9) == ["r0", "r1"]
        store.close()
        assert size - path.stat().st_size >= 2 * 100_000
    finally:
        store.close()


def test_after_close_the_history_is_one_complete_file(tmp_path: Path) -> None:
    # An operator backs up or moves runs.sqlite after stopping the server: nothing may be
    # left in a write-ahead log beside it, whichever thread wrote last.
    path = tmp_path / "runs.sqlite"
    store = SqliteStore(path)
    other = threading.Thread(target=store.apply, args=(Changes(created=[record("r1", 1.0)]),))
    other.start()
    other.join()
    store.apply(Changes(created=[record("r2", 2.0)]))
    assert store.record("r1") is not None
    store.close()
    assert not path.with_name("runs.sqlite-wal").exists()
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        assert db.execute("SELECT id FROM runs ORDER BY id").fetchall() == [("r1",), ("r2",)]


class WatchedStore(SqliteStore):
    """The real store, also keeping each batch it was asked to write (one transaction each)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[Changes] = []
        self.wrote = threading.Event()

    def apply(self, changes: Changes) -> None:
        super().apply(changes)
        self.batches.append(changes)
        self.wrote.set()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[WatchedStore]:
    opened = WatchedStore(tmp_path / "runs.sqlite")
    yield opened
    opened.close()


def writer_of(store: SqliteStore, flush_seconds: float) -> HistoryWriter:
    return HistoryWriter(store, flush_seconds=flush_seconds, max_runs=100, max_bytes=1 << 30).start()


def test_what_comes_within_a_flush_interval_is_written_in_one_transaction(watched: WatchedStore) -> None:
    writer = writer_of(watched, flush_seconds=60)
    log = EventColumns()
    log.extend([Event(i, "main", Kind.RUN, "", None) for i in range(10)])
    writer.created(record("r1", 1.0, RUNNING))
    writer.created(record("r2", 2.0, RUNNING))
    writer.logged("r1", log, 10)
    writer.ended("r2", Ending("done", 2.0, 1_000, None, None, None))
    assert writer.flush()  # long before the interval is over
    assert [(len(b.created), list(b.blocks), list(b.ended)) for b in watched.batches] == [(2, ["r1"], ["r2"])]
    writer.close()


def test_a_lone_write_goes_out_after_the_flush_interval_without_being_asked(watched: WatchedStore) -> None:
    writer = writer_of(watched, flush_seconds=0.05)
    writer.created(record("r1", 1.0, RUNNING))  # then nothing more comes, and nobody flushes
    assert watched.wrote.wait(timeout=30)
    assert watched.record("r1") is not None
    writer.close()


def test_a_frame_with_no_new_events_writes_no_block(store: SqliteStore) -> None:
    writer = writer_of(store, flush_seconds=0.05)
    log = EventColumns()
    writer.created(record("r1", 1.0, RUNNING))
    writer.logged("r1", log, 0)  # a frame in which nothing happened
    assert writer.flush()
    log.extend([Event(1, "main", Kind.RUN, "", None)])
    writer.logged("r1", log, 1)
    writer.logged("r1", log, 1)  # and one that adds nothing to the last
    writer.ended("r1", Ending("done", 1.0, 1, None, None, None))
    writer.close()
    assert store.record("r1").events == 1  # type: ignore[union-attr]
    assert [len(EventColumns.from_blocks([b])) for b in store.blocks("r1")] == [1]


def test_the_writer_lets_go_of_a_runs_events_once_it_has_ended(store: SqliteStore) -> None:
    # A server runs for weeks: an ended run's log must not stay alive in the writer.
    writer = writer_of(store, flush_seconds=0.05)
    log = EventColumns()
    log.extend([Event(i, "main", Kind.RUN, "", None) for i in range(5)])
    gone = weakref.ref(log)
    writer.created(record("r1", 1.0, RUNNING))
    writer.logged("r1", log, 5)
    writer.ended("r1", Ending("done", 1.0, 5, None, None, None))
    assert writer.flush()
    del log
    gc.collect()
    assert gone() is None
    writer.close()


def test_a_failed_write_is_logged_and_the_writer_goes_on(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.apply(Changes(created=[record("r1", 1.0)]))
    writer = writer_of(store, flush_seconds=60)
    log = EventColumns()
    log.extend([Event(1, "main", Kind.RUN, "", None)])
    with caplog.at_level(logging.ERROR, logger="interleave.history"):
        writer.created(record("r1", 2.0, RUNNING))  # the same id again: this batch fails
        writer.logged("r9", log, 1)
        assert writer.flush()
    (failed,) = caplog.records
    assert failed.getMessage() == "history: writing 2 runs failed"
    assert failed.exc_info is not None
    writer.created(record("r2", 3.0))
    writer.close()
    assert store.record("r2") is not None  # the next batch is written


def test_a_writer_never_started_closes_quietly_and_a_started_one_never_holds_up_exit(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.sqlite")
    HistoryWriter(store, 0.05, 100, 1 << 30).close()  # a server that failed before it started writing
    writer = HistoryWriter(store, 0.05, 100, 1 << 30).start()
    assert {"interleave-history"} <= {t.name for t in threading.enumerate()}  # named in a thread dump
    writer.close()
    store.close()
    # A program that started a writer and forgot to close it (a server failing at start-up,
    # a script) still exits.
    program = (
        "import sys, threading; from pathlib import Path\n"
        "from app.store.sqlite import SqliteStore\n"
        "from app.store.writer import HistoryWriter\n"
        "HistoryWriter(SqliteStore(Path(sys.argv[1])), 0.05, 100, 1 << 30).start()\n"
        "print(sorted(t.name for t in threading.enumerate()))\n"  # then exit without close()
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path / "b.sqlite")],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['MainThread', 'interleave-history']"  # named in a thread dump


def test_opening_the_history_settles_orphans_prunes_and_closing_writes_everything(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "runs.sqlite"
    before = SqliteStore(path)  # what the last server left
    orphan = record("orphan", 3.0, RUNNING, owner=dead_owner())
    before.apply(Changes(created=[record("r0", 0.0), record("r1", 1.0), record("r2", 2.0), orphan]))
    before.close()
    settings = Settings(database=path, history_max_runs=2, history_flush_seconds=10, warm_up_processes=False)
    with caplog.at_level(logging.INFO, logger="interleave.history"):
        history = open_history(settings)
        assert [r.id for r in history.store.recent(None, 10, None)] == ["orphan", "r2"]  # pruned to 2
        log = EventColumns()
        log.extend([Event(i, "main", Kind.RUN, "", None) for i in range(10)])
        history.writer.created(record("new", 4.0, RUNNING))
        history.writer.logged("new", log, 10)
        history.writer.ended("new", Ending("done", 4.0, 10, None, None, None))
        history.close()  # long before the 10 s flush interval: close writes what is queued
    assert [r.getMessage() for r in caplog.records] == [
        "history: 1 runs were in flight when their server stopped: interrupted",
        "history: pruned 1 oldest runs to stay within its limits",  # the limit holds as runs end
    ]
    assert not path.with_name("runs.sqlite-wal").exists()
    after = SqliteStore(path)
    try:
        assert [r.id for r in after.recent(None, 10, None)] == ["new", "orphan"]
        assert (after.record("orphan").status, after.record("orphan").reason) == (  # type: ignore[union-attr]
            INTERRUPTED,
            INTERRUPTED_REASON,
        )
        assert list(EventColumns.from_blocks(after.blocks("new"))) == list(log)
    finally:
        after.close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "shared.sqlite"


async def serve(database: Path, **settings: float) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(Settings(database=database, warm_up_processes=False, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
            yield http


async def test_a_run_reads_back_the_same_after_its_server_is_gone(database: Path) -> None:
    async for first in serve(database):
        summary, events = await finished_run(first, "lock-counter", pairs=2, iterations=20, hold=0)
        csv_before = (await first.get(f"/runs/{summary['id']}/events.csv")).text
    async for second in serve(database):  # a new app: nothing in memory
        run_id = summary["id"]
        again = await second.get(f"/runs/{run_id}")
        assert again.status_code == 200
        assert again.json() == summary
        stream = parse_sse((await second.get(f"/runs/{run_id}/events")).text)
        assert events_of(stream) == events
        assert stream[-1].data == summary
        resumed = parse_sse((await second.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": "9"})).text)
        assert events_of(resumed) == events[10:]
        assert (await second.get(f"/runs/{run_id}/events.csv")).text == csv_before
        assert (await second.get(f"/watch/{run_id}")).status_code == 200
        stop = await second.post(f"/runs/{run_id}/stop")
        assert stop.status_code == 403  # no control credential: the same answer as before
        missing = await second.get("/runs/0123456789ab")
        assert missing.status_code == 404
        assert "pruned" in missing.json()["message"]


async def events_stored(http: httpx.AsyncClient, run_id: str) -> int:
    seen = await http.get(f"/runs/{run_id}")  # 404 until the run's first batch is written
    return int(seen.json()["events"]) if seen.status_code == 200 else 0


async def test_a_run_another_server_runs_streams_what_the_history_holds_then_ends(database: Path) -> None:
    """Two servers on one history (an operator's two workers): the one that is not
    running a run shows it as far as the history has it, still running, and its stream
    ends there rather than wait for events only the other server will ever see."""
    # A lesson's pace (two threads taking turns, 50 ms holds): it runs for tens of seconds.
    long_run = {"scenario": "lock-counter", "params": {"pairs": 1, "iterations": 1000, "hold": 0.05}}
    async for running in serve(database, history_flush_seconds=0.05):
        created = await running.post("/runs", json=long_run)
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        async for other in serve(database):
            with anyio.fail_after(30):
                while await events_stored(other, run_id) < 20:
                    await anyio.sleep(0.05)  # the running server writes a batch every 50 ms
            with anyio.fail_after(10):
                stream = parse_sse((await other.get(f"/runs/{run_id}/events")).text)
            assert len(events_of(stream)) >= 20
            assert stream[-1].event == "done"
            assert stream[-1].data["status"] == "running"
            assert stream[-1].data["events"] == len(events_of(stream))


async def test_the_starter_of_a_run_still_controls_it_after_a_restart(database: Path) -> None:
    async for first in serve(database):
        created = await first.post("/runs", json={"scenario": "lock-counter", "params": {"iterations": 10}})
        assert created.status_code == 201, created.text
        run_id, control = created.json()["id"], created.json()["control"]
        assert parse_sse((await first.get(f"/runs/{run_id}/events")).text)[-1].event == "done"
    async for second in serve(database):  # knows the run only from the history
        mine = await second.post(f"/runs/{run_id}/stop", headers={"X-Run-Control": control})
        assert (mine.status_code, mine.json()["status"]) == (200, "done")  # allowed; an ended run stays so
        theirs = await second.post(f"/runs/{run_id}/stop", headers={"X-Run-Control": "a guess"})
        assert theirs.status_code == 403


async def test_the_history_pages_fifty_runs_at_a_time_newest_first(database: Path) -> None:
    store = SqliteStore(database)
    runs = [record(f"run{i:02d}", 1_700_000_000.0 + i) for i in range(60)]
    runs[59].status, runs[59].reason = INTERRUPTED, "the server stopped"
    store.apply(Changes(created=runs))
    store.close()
    async for http in serve(database):
        page = await http.get("/history")
        assert page.status_code == 200
        ids = re.findall(r'<tr class="history-run" data-run-id="(\w+)"', page.text)
        assert ids == [f"run{i:02d}" for i in range(59, 9, -1)]
        assert "interrupted: the server stopped" in page.text
        (older,) = re.findall(r'hx-get="(/ui/history\?before=[^"]+)"', page.text)
        rest = await http.get(older.replace("&amp;", "&"))
        assert re.findall(r'data-run-id="(\w+)"', rest.text) == [f"run{i:02d}" for i in range(9, -1, -1)]
        assert "Older runs" not in rest.text
        none = await http.get("/ui/history", params={"scenario": "deadlock"})
        assert "No runs kept yet for this lesson" in none.text
        assert none.headers["HX-Push-Url"] == "/history?scenario=deadlock"
