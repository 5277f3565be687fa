"""Against a real uvicorn: runs execute off the event loop."""

from __future__ import annotations

import httpx

from tests.helpers import parse_sse


def test_the_server_answers_other_requests_while_a_run_is_running(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=10) as http:
        run = http.post(
            "/runs", json={"scenario": "threads-print-numbers", "params": {"squares": 500_000, "work": "cpu"}}
        )
        run_id = run.json()["id"]
        # Ten CPU-bound numbers of 500,000 squares each: the run lasts over a second.
        # While it does, the loop still serves pages and status.
        page = http.get("/")
        status = http.get(f"/runs/{run_id}").json()
        assert page.status_code == 200
        assert status["status"] == "running"
        done = parse_sse(http.get(f"/runs/{run_id}/events").text)[-1].data
        assert done["status"] == "done"
