"""create_app(): the FastAPI application, its lifespan and routers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app import hotpath
from app.api import claims, docs, errors, exports, history, pages, runs, scenarios, stepping, vocabulary
from app.api.middleware import BodyLimit, SecurityHeaders
from app.assets import STATIC
from app.config import Settings, get_settings
from app.runner import RunManager
from app.service import RunService
from app.store.writer import open_history
from app.traced import supervisor

# uvicorn's own logger: its lines (and this one) reach the server's log at INFO.
_log = logging.getLogger("uvicorn.error")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _log.info("%s", hotpath.describe())  # compiled, or interpreted and why
        if settings.warm_up_processes:
            await asyncio.to_thread(supervisor.warm_up)
        stored = await asyncio.to_thread(open_history, settings)
        app.state.manager = RunManager(settings, history=stored.writer)
        app.state.service = RunService(app.state.manager, settings, stored.store)
        try:
            yield
        finally:
            await app.state.manager.close()
            await asyncio.to_thread(stored.close)  # the runs' last events and endings
            # A stopped run's objects can sit in reference cycles (an exception, its
            # frames, their locals) until the cyclic GC runs: collect them now, so their
            # OS semaphores are freed and the resource tracker has nothing to report.
            gc.collect()

    app = FastAPI(
        title="Interleave",
        summary="Watch real Python threads and processes interleave, wait and race.",
        lifespan=lifespan,
        docs_url=None,  # served from vendored files instead: app/api/docs.py
        redoc_url=None,
    )
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (pages, history, runs, stepping, scenarios, exports, docs, claims, vocabulary):
        app.include_router(module.router)
    errors.install(app)
    # Outermost last: the security headers go on every answer, the 413 included.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
