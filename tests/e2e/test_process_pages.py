"""A person's view of the process scenarios: run each from the page, check what the
canvas drew (its dataset), keep a screenshot to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_spine import run_from_page


@pytest.mark.parametrize(
    ("slug", "fields", "lanes", "result"),
    [
        ("processes-print-numbers", {"processes": "3"}, "4", "3 processes (forkserver) printed 1 to 10 each"),
        ("pool-map", {"processes": "2"}, "3", "[1, 4, 9, 16, 25]"),
        ("process-queue-pipe", {"items": "6"}, "4", "6 items went from the producer"),
        ("shared-counter-processes", {}, "5", "updates lost"),
        ("crash-isolation", {}, "4", "only Process-2 died"),
        ("broken-process-pool", {}, "3", "raised BrokenProcessPool"),
    ],
)
def test_each_process_scenario_runs_from_its_page_and_draws_its_lanes(
    page: Page,
    live_server: str,
    tmp_path: Path,
    console_errors: list[str],
    slug: str,
    fields: dict[str, str],
    lanes: str,
    result: str,
) -> None:
    drawn = run_from_page(page, live_server, slug, fields)
    assert drawn["lanes"] == lanes
    expect(page.locator("[data-result]")).to_contain_text(result)
    if slug == "processes-print-numbers":
        assert drawn["prints"] == "30"
    if slug == "process-queue-pipe":
        assert int(drawn["links"]) >= 6 + 2  # an arrow per item (and per stop sign), put to get
    if slug == "shared-counter-processes":
        expect(page.locator("[data-result]")).not_to_contain_text(": 0 updates lost")
    if slug == "crash-isolation":
        assert drawn["crashes"] == "1"
    if slug == "broken-process-pool":
        assert int(drawn["crashes"]) >= 1
    page.screenshot(path=tmp_path / f"{slug}.png", full_page=True)
    assert console_errors == []


def test_the_shared_counter_in_a_shared_memory_block_loses_updates_and_shows_its_code(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    page.goto(f"{live_server}/")
    page.click(".pick[data-slug=shared-counter-processes]")
    expect(page.locator("form.params input[name=scenario]")).to_have_value("shared-counter-processes")
    page.select_option("form.params [name=memory]", "shared_memory")
    page.click("form.params .run-button")
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", "done", timeout=20_000)
    drawn = page.locator("canvas.timeline").evaluate("c => ({...c.dataset})")
    assert drawn["lanes"] == "5"  # main + 4 processes
    result = page.locator("[data-result]")
    expect(result).to_contain_text("updates lost")
    expect(result).not_to_contain_text(": 0 updates lost")
    code = page.locator("figure.code pre")
    expect(code).to_contain_text("mp.SharedMemory(create=True, size=8")
    expect(code).to_contain_text('counter = block.buf.cast("q")')
    expect(code).to_contain_text("block.unlink()")
    page.screenshot(path=tmp_path / "shared-memory.png", full_page=True)
    assert console_errors == []
