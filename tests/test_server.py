"""Against a real uvicorn: runs execute off the event loop."""

from __future__ import annotations

import httpx

from tests.helpers import parse_sse


def test_the_server_answers_other_requests_while_a_run_is_running(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=10) as http:
        # 2 threads x 1000 holds of 50 ms under one lock: at least 100 s of work, so it
        # can only end when we stop it (or at the 30 s time limit): it is running for
        # the whole test, however slow the machine. A CPU-bound run beside it keeps
        # the interpreter busy.
        held = http.post(
            "/runs",
            json={"scenario": "lock-counter", "params": {"pairs": 1, "iterations": 1000, "hold": 0.05}},
        ).json()["id"]
        busy = http.post(
            "/runs",
            json={"scenario": "threads-print-numbers", "params": {"squares": 500_000, "work": "cpu"}},
        ).json()["id"]
        page = http.get("/")
        status = http.get(f"/runs/{held}").json()
        assert page.status_code == 200
        assert status["status"] == "running"
        assert http.post(f"/runs/{held}/stop").status_code == 200
        done = parse_sse(http.get(f"/runs/{held}/events").text)[-1].data
        assert (done["status"], done["reason"]) == ("stopped", "stopped by a viewer")
        assert parse_sse(http.get(f"/runs/{busy}/events").text)[-1].data["status"] == "done"
