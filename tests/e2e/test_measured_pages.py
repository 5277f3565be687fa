"""A person's view of the measured lessons and the claims page: run both comparisons
from the page, run every claim from /claims, keep screenshots (projector and laptop)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.claims import CLAIMS
from tests.e2e.test_spine import run_from_page

SIZES = {"projector": {"width": 1920, "height": 1080}, "laptop": {"width": 1280, "height": 720}}
VERDICT = re.compile(r"^(demonstrated|corrected|not-shown)$")
# Claims whose verdict does not depend on how loaded the machine is.
STEADY = {1, 2, 3, 4, 5, 7, 9, 10, 12}


def screenshots(page: Page, path: Path, name: str) -> None:
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=path / f"{name}-{size}.png", full_page=size == "laptop")


@pytest.mark.parametrize(
    ("slug", "fields", "models"),
    [
        ("compare-cpu", {"workers": "4", "below": "40000"}, ("4 threads:", "4 processes:")),
        ("compare-io", {"workers": "4", "wait": "0.2"}, ("4 threads:", "4 processes:", "4 asyncio tasks:")),
    ],
)
def test_a_comparison_runs_from_its_page_and_explains_its_own_numbers(
    page: Page,
    live_server: str,
    tmp_path: Path,
    console_errors: list[str],
    slug: str,
    fields: dict[str, str],
    models: tuple[str, ...],
) -> None:
    drawn = run_from_page(page, live_server, slug, fields)
    workers = 1 + 1 + 4 + 4 + (4 if slug == "compare-io" else 0)  # main, sequential, the models
    assert drawn["lanes"] == str(workers)
    result = page.locator("[data-result]")
    for model in models:
        expect(result).to_contain_text(model)
    outcome = page.locator("[data-outcome]")
    expect(outcome).to_be_visible()
    expect(outcome).to_contain_text("Every model did the same 4 jobs")
    table = page.locator("table.models")
    expect(table.locator("tr[data-model]")).to_have_count(len(models) + 1)  # and the sequential model
    expect(table).to_contain_text("waiting for the GIL")
    expect(page.locator(".legend")).to_contain_text("estimated from CPU clocks")
    screenshots(page, tmp_path, slug)
    assert console_errors == []


def test_every_claim_runs_from_the_claims_page_and_gets_a_verdict_from_its_numbers(
    page: Page, live_server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    page.goto(f"{live_server}/")
    page.click("a.claims-link")
    expect(page).to_have_url(f"{live_server}/claims")
    claims = page.locator(".claim[data-claim]")
    expect(claims).to_have_count(12)
    for claim in CLAIMS:
        item = page.locator(f".claim[data-claim='{claim.number}']")
        expect(item.locator(".claim-words")).to_have_text(claim.words)
        item.locator("[data-run-claim]").click()
        expect(item).to_have_attribute("data-verdict", VERDICT, timeout=90_000)
        verdict = item.get_attribute("data-verdict")
        text = item.locator("[data-verdict-text]").inner_text()
        if claim.number in STEADY:
            assert verdict == "demonstrated", (claim.number, text)
        expect(item.locator("[data-watch] a")).to_have_count(len(claim.runs))
    six = page.locator(".claim[data-claim='6']")
    assert six.get_attribute("data-verdict") in ("corrected", "not-shown")
    expect(six.locator("[data-verdict-text]")).to_contain_text("4 threads doing CPU-bound Python ran")
    screenshots(page, tmp_path, "claims")
    assert console_errors == []


@pytest.mark.parametrize(
    ("slug", "fields", "lanes", "result"),
    [
        ("asyncio-tasks", {"tasks": "3", "block_for": "0.2"}, "4", "Task-1 blocked the thread for 200 ms"),
        ("responsiveness", {}, "2", "with the download in a thread: at most"),
        ("separate-memory", {}, "4", "the parent did not see it"),
        ("threads-print-numbers", {"threads": "3"}, "4", "3 threads printed 1 to 10 each"),
        # main, and 4 threads recorded by each recorder; the compiled one never invents a wait
        ("observer-effect", {"threads": "4", "iterations": "5000"}, "9", "compiled: 0 lock waits"),
    ],
)
def test_a_new_lesson_runs_from_its_page_and_says_what_happened_in_this_run(
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
    expect(page.locator("[data-outcome]")).to_be_visible()
    screenshots(page, tmp_path, slug)
    assert console_errors == []
