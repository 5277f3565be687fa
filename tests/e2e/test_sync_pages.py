"""A person's view of the synchronisation lessons: run each one from the page and
check what the canvas drew (its counters in canvas.dataset) and the result panel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

SHOTS = Path("/tmp/shots-sync")


def fill_lesson(page: Page, live_server: str, slug: str, fields: dict[str, str]) -> None:
    """Open the lesson and fill its form, once htmx has swapped it in (a field filled
    before would be replaced with the lesson's default)."""
    page.goto(f"{live_server}/")
    page.click(f".pick[data-slug={slug}]")
    expect(page.locator("form.params input[name=scenario]")).to_have_value(slug)
    for name, value in fields.items():
        field = page.locator(f"form.params [name={name}]").last
        if field.get_attribute("type") == "checkbox":
            field.set_checked(value == "true")
        elif field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def run_from_page(
    page: Page, live_server: str, slug: str, fields: dict[str, str], *, status: str = "done"
) -> dict[str, str]:
    fill_lesson(page, live_server, slug, fields)
    page.click("form.params .run-button")
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", status, timeout=20_000)
    # One more frame so the final draw has updated the counters.
    page.evaluate("() => new Promise(requestAnimationFrame)")
    data: dict[str, str] = page.locator("canvas.timeline").evaluate("c => ({...c.dataset})")
    return data


def shoot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def values(page: Page) -> dict[str, str]:
    rows: dict[str, str] = page.locator("[data-values] tr").evaluate_all(
        "rows => Object.fromEntries(rows.map(r => [r.dataset.key, r.querySelector('td').textContent]))"
    )
    return rows


def test_a_race_without_a_lock_highlights_a_lost_update_and_the_numbers(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    drawn = run_from_page(page, live_server, "race-condition", {})
    assert drawn["lanes"] == "5"
    assert int(drawn["lost"]) > 0
    assert drawn["reads"] == drawn["writes"] == "81"  # 4 x 20, plus main's first write and last read
    shown = values(page)
    assert int(shown["lost_updates"]) > 0
    assert int(shown["actual"]) < int(shown["expected"]) == 80
    expect(page.locator("[data-lost-note]")).to_contain_text("overwriting it")
    shoot(page, tmp_path, "race-no-lock")
    assert console_errors == []


def test_the_same_race_with_the_lock_loses_nothing(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    drawn = run_from_page(page, live_server, "race-condition", {"use_lock": "true"})
    assert drawn["lost"] == "0"
    assert drawn["holds"] == "80"
    assert values(page)["lost_updates"] == "0"
    expect(page.locator("[data-lost-note]")).to_be_hidden()
    shoot(page, tmp_path, "race-with-lock")
    assert console_errors == []


def test_a_semaphore_draws_free_slots_as_a_gauge_and_waits_while_full(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    drawn = run_from_page(page, live_server, "semaphore", {"threads": "6", "slots": "2"})
    assert drawn["levels"] == "1"
    assert int(drawn["levelPoints"]) == 1 + 2 * 18  # the start, then every acquire and release
    assert int(drawn["waits"]) > 0
    assert drawn["holds"] == "18"
    assert values(page)["max_holders"] == "2"
    shoot(page, tmp_path, "semaphore")
    assert console_errors == []


@pytest.mark.parametrize("slug", ["condition-buffer", "queue-buffer"])
def test_producers_and_consumers_draw_the_buffer_level_and_wake_up_arrows(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str], slug: str
) -> None:
    drawn = run_from_page(page, live_server, slug, {})
    assert drawn["lanes"] == "6"
    assert drawn["levels"] == "1"
    assert int(drawn["waits"]) > 0
    assert int(drawn["links"]) > 0
    if slug == "queue-buffer":
        assert drawn["puts"] == drawn["gets"] == "19"  # 16 items and 3 end markers
    else:
        assert int(drawn["notifies"]) > 0
    assert values(page)["consumed"] == "16"
    shoot(page, tmp_path, slug)
    assert console_errors == []


def test_event_and_barrier_release_every_worker_at_one_instant(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    drawn = run_from_page(page, live_server, "event-barrier", {"workers": "4", "phases": "3"})
    assert drawn["notifies"] == "4"  # the start signal, then one release per phase
    assert int(drawn["links"]) >= 3 * 3  # each phase, three workers woken by the last one
    assert drawn["prints"] == "3"
    shoot(page, tmp_path, "event-barrier")
    assert console_errors == []


def test_an_rlock_is_taken_again_and_a_plain_lock_is_caught_waiting_for_itself(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    drawn = run_from_page(page, live_server, "rlock", {"lock": "RLock"})
    assert int(drawn["reentries"]) == 6
    assert drawn["cycle"] == "0"
    shoot(page, tmp_path, "rlock")
    drawn = run_from_page(page, live_server, "rlock", {"lock": "Lock"}, status="stopped")
    assert drawn["cycle"] == "1"
    expect(page.locator("[data-cycle-panel]")).to_contain_text("which it holds itself")
    expect(page.locator("[data-result]")).to_contain_text("Deadlock caught")
    shoot(page, tmp_path, "rlock-plain-lock")
    assert console_errors == []


def test_a_deadlock_shows_who_holds_what_and_waits_for_what(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    drawn = run_from_page(page, live_server, "deadlock", {}, status="stopped")
    assert drawn["cycle"] == "2"
    cycle = page.locator("[data-cycle-panel] li")
    expect(cycle).to_have_count(2)
    expect(cycle.nth(0)).to_have_text("Thread-1 holds lock-1 and waits for lock-2, held by Thread-2")
    expect(cycle.nth(1)).to_have_text("Thread-2 holds lock-2 and waits for lock-1, held by Thread-1")
    expect(page.locator(".run-status")).to_have_text("stopped")
    shoot(page, tmp_path, "deadlock")
    drawn = run_from_page(page, live_server, "deadlock", {"same_order": "true"})
    assert drawn["cycle"] == "0"
    assert values(page)["rounds_done"] == "6"
    shoot(page, tmp_path, "deadlock-fixed")
    assert console_errors == []


def test_thirty_two_threads_stay_readable(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    # Scheduled round-robin, the ring always closes: each thread takes its first lock
    # before any tries its second (left to the OS, a busy machine can start them so
    # far apart that all rounds finish, as the lesson then says).
    fill_lesson(page, live_server, "deadlock", {"threads": "32", "mode": "step"})
    page.click("form.params .run-button")
    page.click("[data-step-end=round-robin]")  # (waits for the button: the stepper is ready)
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", "stopped", timeout=60_000)
    page.evaluate("() => new Promise(requestAnimationFrame)")  # the final draw's counters
    drawn = page.locator("canvas.timeline").evaluate("c => ({...c.dataset})")
    ended = page.locator("[data-result]").text_content()
    assert drawn["lanes"] == "33", ended
    assert drawn["cycle"] == "32", ended
    height = page.locator("canvas.timeline").evaluate("c => c.getBoundingClientRect().height")
    assert height < 700  # 33 lanes fit one screen
    shoot(page, tmp_path, "deadlock-32")
    drawn = run_from_page(page, live_server, "semaphore", {"threads": "32", "slots": "4", "uses": "2"})
    assert drawn["lanes"] == "33"
    assert values(page)["max_holders"] == "4"
    shoot(page, tmp_path, "semaphore-32")
    assert console_errors == []
