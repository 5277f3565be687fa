"""The history page in a real browser: runs from before a restart, newest first,
filtered by lesson, each opening its own permalink with its lanes drawn again."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.live import live_server

RUNS = [
    ("lock-counter", {"pairs": 2, "iterations": 5, "hold": 0.001}),
    ("threads-print-numbers", {"threads": 2, "pace": 0.001}),
    ("lock-counter", {"pairs": 1, "iterations": 8, "hold": 0}),
]


def finish(url: str, scenario: str, params: dict[str, object]) -> str:
    created = httpx.post(f"{url}/runs", json={"scenario": scenario, "params": params})
    assert created.status_code == 201, created.text
    run_id: str = created.json()["id"]
    done = httpx.get(f"{url}/runs/{run_id}/events", timeout=60).text  # the stream ends with the run
    assert "event: done" in done
    return run_id


def screenshots(page: Page, path: Path, name: str) -> None:
    for size, viewport in (("projector", (1920, 1080)), ("laptop", (1280, 720))):
        page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        page.screenshot(path=path / f"{name}-{size}.png")


def test_the_history_lists_runs_from_before_a_restart_filters_them_and_opens_one(
    page: Page, tmp_path: Path, console_errors: list[str]
) -> None:
    env = {"INTERLEAVE_DATABASE": str(tmp_path / "runs.sqlite"), "INTERLEAVE_WARM_UP_PROCESSES": "false"}
    with live_server(env) as first:
        ids = [finish(first.url, scenario, params) for scenario, params in RUNS]
    with live_server(env) as server:  # a restart: the runs are only in the file now
        page.goto(f"{server.url}/")
        page.click("header a[href='/history']")
        expect(page).to_have_url(f"{server.url}/history")
        rows = page.locator("tr.history-run")
        expect(rows).to_have_count(3)
        assert rows.evaluate_all("rows => rows.map(r => r.dataset.runId)") == ids[::-1]  # newest first
        newest = page.locator(f"tr[data-run-id='{ids[2]}']")
        expect(newest.locator(".h-lesson")).to_have_text("Lock counter")
        expect(newest.locator(".h-params")).to_contain_text("pairs=1, iterations=8, hold=0")
        expect(newest.locator(".h-outcome")).to_contain_text("final counter 0, expected 0")
        expect(newest.locator("time[data-local]")).to_have_count(1)  # in the viewer's time zone
        screenshots(page, tmp_path, "history")

        page.select_option("select[name=scenario]", "threads-print-numbers")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-run-id", ids[1])
        expect(page).to_have_url(re.compile(r"/history\?scenario=threads-print-numbers$"))
        page.select_option("select[name=scenario]", "")
        expect(rows).to_have_count(3)

        page.set_viewport_size({"width": 1400, "height": 1000})
        page.locator(f"tr[data-run-id='{ids[0]}'] .h-open a").click()
        expect(page).to_have_url(f"{server.url}/watch/{ids[0]}")
        panel = page.locator(f".run[data-run-id='{ids[0]}']")
        expect(panel).to_have_attribute("data-done", "done", timeout=20_000)
        expect(page.locator("[data-result]")).to_contain_text("final counter 0, expected 0")
        expect(page.locator("form.params [name=iterations]")).to_have_value("5")  # the run's own values
        drawn = page.locator("canvas.timeline").evaluate("c => ({...c.dataset})")
        assert drawn["lanes"] == "5"
        assert drawn["holds"] == "20"
        screenshots(page, tmp_path, "history-watch")
    assert console_errors == []
