"""Shared fixtures: the app over httpx's ASGI transport, a real uvicorn server, and an
OS slow to run new threads."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from app.config import Settings
from tests.live import ROOT, pick_free_port, wait_for_server
from tests.live import live_server as serve

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ROOT", "pick_free_port", "wait_for_server"]

# Never the user's own history: every Settings() and every server these tests start
# (they inherit the environment) uses a database of the test session's, unless a test
# names its own.
_SESSION_DIR = tempfile.TemporaryDirectory(prefix="interleave-tests-")
os.environ["INTERLEAVE_DATABASE"] = str(Path(_SESSION_DIR.name) / "runs.sqlite")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database=tmp_path / "runs.sqlite")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    # Imported here: tests that never start the app (most of them) skip FastAPI's
    # import, ~1 s per pytest process, which `make mutate` starts once per mutant.
    from app.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
        yield http


@pytest.fixture
def free_port() -> int:
    return pick_free_port()


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """A real uvicorn (`python -m app`, as `make run` starts it) on a free port."""
    with serve() as server:
        yield server.url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps its own asyncio loop alive for
    the session, which would clash with the anyio tests' loops if it started first."""
    items.sort(key=lambda item: "/e2e/" in str(item.path).replace(os.sep, "/"))


@pytest.fixture
def slow_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OS is slow to run every new thread: 20 ms pass before it can say it has
    started, as behind a thread holding the GIL on a busy machine (wrapped where the
    stdlib creates its threads; the delay is the slowness, not a synchronisation)."""
    create = threading._start_new_thread  # type: ignore[attr-defined]

    def create_late(function: Callable[..., object], args: tuple[object, ...]) -> int:
        def late() -> None:
            threading.Event().wait(0.02)
            function(*args)

        return create(late, ())  # type: ignore[no-any-return]

    monkeypatch.setattr(threading, "_start_new_thread", create_late)
