"""Runs outlive their server: real servers (`python -m app`) one after another on the
same INTERLEAVE_DATABASE; a run's page, summary, stream and exports are the same after a
restart, and a run cut off by a kill -9 is `interrupted` with what it recorded kept."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.store.sqlite import SqliteStore
from tests.helpers import events_of, parse_sse, wait_until
from tests.live import live_server


def server_env(database: Path) -> dict[str, str]:
    return {"INTERLEAVE_DATABASE": str(database), "INTERLEAVE_WARM_UP_PROCESSES": "false"}


def stored_events(database: Path, run_id: str) -> int:
    store = SqliteStore(database)
    try:
        record = store.record(run_id)
        return 0 if record is None else record.events
    finally:
        store.close()


def test_a_run_survives_a_restart_its_page_and_stream_replay_in_full(tmp_path: Path) -> None:
    database = tmp_path / "runs.sqlite"
    params = {"pairs": 2, "iterations": 50, "hold": 0}
    with live_server(server_env(database)) as first:
        created = httpx.post(f"{first.url}/runs", json={"scenario": "lock-counter", "params": params})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        before = parse_sse(httpx.get(f"{first.url}/runs/{run_id}/events", timeout=60).text)
        trace_before = httpx.get(f"{first.url}/runs/{run_id}/trace.json").json()
    # The first server stopped (SIGTERM): a new process knows the run only from the file.
    with live_server(server_env(database)) as second:
        summary = httpx.get(f"{second.url}/runs/{run_id}")
        assert summary.status_code == 200
        assert summary.json() == before[-1].data
        assert summary.json()["status"] == "done"
        assert summary.json()["params"] == params | {"use_lock": True}
        after = parse_sse(httpx.get(f"{second.url}/runs/{run_id}/events", timeout=60).text)
        assert events_of(after) == events_of(before)
        assert after[-1].event == "done"
        assert after[-1].data == before[-1].data
        assert [m.id for m in after if m.event == "events"][-1] == str(len(events_of(before)) - 1)
        resumed = parse_sse(
            httpx.get(f"{second.url}/runs/{run_id}/events", headers={"Last-Event-ID": "99"}, timeout=60).text
        )
        assert events_of(resumed) == events_of(before)[100:]
        assert httpx.get(f"{second.url}/runs/{run_id}/trace.json").json() == trace_before
        page = httpx.get(f"{second.url}/watch/{run_id}")
        assert page.status_code == 200
        assert f'data-run-id="{run_id}"' in page.text
        history = httpx.get(f"{second.url}/history")
        assert f"/watch/{run_id}" in history.text


def test_a_run_cut_off_by_a_killed_server_is_interrupted_with_its_events_kept(tmp_path: Path) -> None:
    database = tmp_path / "runs.sqlite"
    env = server_env(database) | {"INTERLEAVE_HISTORY_FLUSH_SECONDS": "0.05"}
    # A lesson's pace (two threads taking turns, 50 ms holds): it runs for tens of seconds.
    long_run = {"scenario": "lock-counter", "params": {"pairs": 1, "iterations": 1000, "hold": 0.05}}
    with live_server(env) as first:
        created = httpx.post(f"{first.url}/runs", json=long_run)
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        wait_until(lambda: stored_events(database, run_id) >= 20, timeout=30, what="20 events stored")
        first.process.kill()  # kill -9: no shutdown, no last write
        first.process.wait(timeout=10)
    kept = stored_events(database, run_id)
    with live_server(env) as second:
        summary = httpx.get(f"{second.url}/runs/{run_id}").json()
        assert summary["status"] == "interrupted"
        assert "server stopped" in summary["reason"]
        assert summary["events"] == kept >= 20
        assert summary["result"] is None
        stream = parse_sse(httpx.get(f"{second.url}/runs/{run_id}/events", timeout=60).text)
        events = events_of(stream)
        assert len(events) == kept
        assert events[0][:3] == [events[0][0], "main", "start"]
        assert stream[-1].event == "done"
        assert stream[-1].data["status"] == "interrupted"
        rows = httpx.get(f"{second.url}/history").text
        assert 'data-status="interrupted"' in rows
