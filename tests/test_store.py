"""The run history (app/store): runs written as they go, read back the same, orphans
marked interrupted, the oldest pruned first."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.columns import EventColumns
from app.config import Settings
from app.main import create_app
from app.store import INTERRUPTED, RUNNING, Block, Changes, Ending, RunRecord, process_alive, this_process
from app.store.sqlite import SqliteStore
from app.store.writer import HistoryWriter
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
    writer = HistoryWriter(store, flush_seconds=0.05, block_events=1_000).start()
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


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "shared.sqlite"


async def serve(database: Path) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(Settings(database=database, warm_up_processes=False))
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
