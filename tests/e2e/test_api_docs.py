"""The API documentation pages, in a real browser: they render from vendored files
(offline, under the CSP) and load nothing from elsewhere."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect


@pytest.mark.parametrize(("path", "title"), [("/docs", ".swagger-ui .title"), ("/redoc", "h1")])
def test_the_api_docs_render_offline(
    page: Page, live_server: str, console_errors: list[str], path: str, title: str
) -> None:
    elsewhere: list[str] = []
    local = (live_server, "data:", "blob:")  # the server, and what the page makes itself
    page.on("request", lambda r: None if r.url.startswith(local) else elsewhere.append(r.url))
    page.goto(live_server + path)
    expect(page.locator(title).first).to_contain_text("Interleave", timeout=20_000)
    expect(page.get_by_text("/runs/{run_id}/stop").first).to_be_visible()
    assert elsewhere == []
    assert console_errors == []


@pytest.mark.csp_violation_expected
def test_a_csp_violation_is_reported_in_the_console(page: Page, live_server: str) -> None:
    """The guard the other browser tests rely on: an inline script is refused, and says so."""
    page.goto(live_server + "/")
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text, timeout=10_000):
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.ran = 1'; document.head.append(s); }"
        )
    assert page.evaluate("() => window.ran") is None
