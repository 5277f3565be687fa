"""A person's view of the spine: run both tutorial scenarios from the page."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect


def run_from_page(page: Page, live_server: str, slug: str, fields: dict[str, str]) -> dict[str, str]:
    page.goto(f"{live_server}/")
    page.click(f".pick[data-slug={slug}]")
    expect(page.locator("form.params input[name=scenario]")).to_have_value(slug)
    for name, value in fields.items():
        page.fill(f"form.params [name={name}]", value)
    page.click("form.params .run-button")
    panel = page.locator(".run[data-run-id]")
    expect(panel).to_have_attribute("data-done", "done", timeout=20_000)
    canvas = page.locator("canvas.timeline")
    data: dict[str, str] = canvas.evaluate("c => ({...c.dataset})")
    return data


def test_print_numbers_draws_a_lane_per_thread_and_the_output(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    drawn = run_from_page(page, live_server, "threads-print-numbers", {"threads": "3", "pace": "0.01"})
    assert drawn["lanes"] == "4"  # main + 3 threads
    assert drawn["prints"] == "30"
    lines = page.locator("[data-output] li")
    expect(lines).to_have_count(30)
    expect(page.locator("[data-result]")).to_contain_text("3 threads printed 1 to 10 each")
    expect(page.locator("figure.code pre")).to_contain_text("def print_numbers")
    page.screenshot(path=tmp_path / "print-numbers.png", full_page=True)
    assert console_errors == []


def test_lock_counter_draws_waits_holds_and_the_final_value(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    drawn = run_from_page(page, live_server, "lock-counter", {"pairs": "2", "iterations": "5"})
    assert drawn["lanes"] == "5"  # main + 2 incrementers + 2 decrementers
    assert drawn["holds"] == "20"
    assert int(drawn["waits"]) > 0
    assert int(drawn["links"]) >= int(drawn["waits"])  # every lock wait ends with a hand-over arrow
    expect(page.locator("[data-result]")).to_contain_text("final counter 0, expected 0")
    page.screenshot(path=tmp_path / "lock-counter.png", full_page=True)
    assert console_errors == []


def test_bad_parameters_show_what_is_allowed_without_starting_a_run(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/?scenario=lock-counter")
    page.locator("form.params [name=pairs]").evaluate("el => { el.removeAttribute('max'); el.value = '99'; }")
    page.click("form.params .run-button")
    expect(page.locator(".errors")).to_contain_text("pairs")
    expect(page.locator(".errors")).to_contain_text("from 1 to 16")
    expect(page.locator(".run[data-run-id]")).to_have_count(0)


def test_projector_mode_enlarges_the_lanes_and_is_remembered(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    run_from_page(page, live_server, "lock-counter", {})
    canvas = page.locator("canvas.timeline")
    normal = canvas.bounding_box()
    page.click(".projector-toggle")
    expect(page.locator("html")).to_have_class("projector")
    assert normal is not None
    # taller lanes for the back row (the canvas redraws on the next animation frame)
    page.wait_for_function(
        "h => document.querySelector('canvas.timeline').getBoundingClientRect().height > h",
        arg=normal["height"] * 1.3,
    )
    page.screenshot(path=tmp_path / "projector.png", full_page=True)
    page.reload()
    expect(page.locator("html")).to_have_class("projector")
    expect(page.locator(".projector-toggle")).to_have_attribute("aria-pressed", "true")


def test_a_shared_link_shows_the_same_run_to_another_viewer(page: Page, live_server: str) -> None:
    run = httpx.post(f"{live_server}/runs", json={"scenario": "lock-counter"}).json()
    page.goto(f"{live_server}/watch/{run['id']}")
    expect(page.locator(f".run[data-run-id='{run['id']}']")).to_have_attribute(
        "data-done", "done", timeout=20_000
    )
    drawn = page.locator("canvas.timeline").evaluate("c => ({...c.dataset})")
    summary = httpx.get(f"{live_server}/runs/{run['id']}").json()
    assert drawn["events"] == str(summary["events"])  # the whole log, from the start
    assert drawn["lanes"] == "5"


def test_replay_sweeps_a_cursor_across_the_recorded_run(page: Page, live_server: str) -> None:
    run_from_page(page, live_server, "lock-counter", {})
    page.select_option("[data-speed]", "0.01")
    page.click("[data-action=replay]")
    # at 1/100 speed the ~50 ms run takes seconds to replay: the cursor is mid-way
    page.wait_for_function("() => Interleave.current.timeline.cursor > 0")
    cursor = page.evaluate("() => Interleave.current.timeline.cursor")
    assert 0 < cursor < page.evaluate("() => Interleave.current.timeline.model.tMax")


def test_the_run_panel_offers_its_trace_for_download(page: Page, live_server: str) -> None:
    run_from_page(page, live_server, "lock-counter", {})
    with page.expect_download() as download:
        page.click("a[href$='/trace.json']")
    events = download.value.path().read_text()
    assert '"traceEvents"' in events
