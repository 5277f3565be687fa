"""Browser tests: pytest-playwright's `page`, driving Debian's Chromium where it is
installed (these machines cannot download Playwright's own build), else Playwright's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    args = dict(browser_type_launch_args)
    if DEBIAN_CHROMIUM.exists():
        args["executable_path"] = str(DEBIAN_CHROMIUM)
        args["args"] = CHROMIUM_ARGS
    return args


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}}


@pytest.fixture
def console_errors(page: Any) -> list[str]:
    """Console errors and page errors seen during the test; tests assert it stays empty."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


@pytest.fixture(autouse=True)
def no_csp_violations(request: pytest.FixtureRequest) -> Any:
    """Every browser test fails if the page broke its Content-Security-Policy (an inline
    script or style, an eval, a load from elsewhere): the server sends the policy on
    every page, so a violation is a feature that is broken for real users."""
    if "page" not in request.fixturenames or request.node.get_closest_marker("csp_violation_expected"):
        yield
        return
    page = request.getfixturevalue("page")
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield
    assert violations == [], violations
