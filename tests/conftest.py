"""Shared fixtures: the app over httpx's ASGI transport, and a real uvicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from app.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings() -> Settings:
    return Settings()


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def free_port() -> int:
    return _free_port()


def wait_for_server(url: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Poll until the server answers (bounded), failing early if it died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/scenarios", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not come up")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """A real uvicorn (`python -m app`, as `make run` starts it) on a free port."""
    port = _free_port()
    env = os.environ | {"INTERLEAVE_PORT": str(port), "INTERLEAVE_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps its own asyncio loop alive for
    the session, which would clash with the anyio tests' loops if it started first."""
    items.sort(key=lambda item: "/e2e/" in str(item.path).replace(os.sep, "/"))
