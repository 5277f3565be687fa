"""Settings: every limit an operator may need, with a help text, read from the
environment (prefix ``INTERLEAVE_``, e.g. ``INTERLEAVE_MAX_CONCURRENT_RUNS=2``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.store import default_database


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTERLEAVE_")

    max_concurrent_runs: int = Field(
        4, ge=1, le=64, description="Runs executing at once; more are refused with 429 until one ends."
    )
    max_workers_per_run: int = Field(
        64, ge=1, le=512, description="Threads and processes one run may start (lanes other than main)."
    )
    max_run_seconds: float = Field(
        30.0, gt=0, le=600, description="Wall-clock limit of a run; it is stopped (not killed) after this."
    )
    max_events_per_run: int = Field(
        1_000_000,
        ge=1_000,
        le=5_000_000,
        description="Events one run may record; it is stopped when it reaches this.",
    )
    kept_runs: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Finished runs kept in memory for viewers and exports; oldest go first.",
    )
    kept_events: int = Field(
        5_000_000,
        ge=1_000,
        le=100_000_000,
        description="Events kept in memory across finished runs (~25 bytes each); oldest runs go "
        "first. Runs beyond it are read back from the history when someone asks for them.",
    )
    database: Path = Field(
        default_factory=default_database,
        description="The SQLite file that keeps every run (its facts and events) across restarts; "
        "created on first use. Default: runs.sqlite in the user's data folder "
        "(~/.local/share/interleave on Linux).",
    )
    history_max_runs: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="Runs the history keeps at most; past it the oldest finished runs are deleted.",
    )
    history_max_bytes: int = Field(
        1 << 30,
        ge=1 << 20,
        le=1 << 40,
        description="Bytes of stored events the history keeps at most (a 1M-event run takes "
        "~5 MB); past it the oldest finished runs are deleted.",
    )
    history_flush_seconds: float = Field(
        0.5,
        gt=0,
        le=10,
        description="How often a run's new events are written to the history: what a server "
        "that dies loses of a run in flight, at most.",
    )
    warm_up_processes: bool = Field(
        True, description="Start the forkserver at start-up, so the first process lesson is not slower."
    )
    frame_seconds: float = Field(
        0.016, gt=0, le=1, description="How often recorded events are published to viewers (one SSE batch)."
    )
    batch_events: int = Field(2_000, ge=1, le=100_000, description="Most events in one SSE message.")
    stop_grace_seconds: float = Field(
        3.0,
        gt=0,
        le=60,
        description="After a run is stopped, how long its workers get to unwind before its "
        "processes are terminated, then killed.",
    )
    max_runs_per_client: int = Field(
        2,
        ge=1,
        le=64,
        description="Runs one client address may have going at once. Below the server's "
        "total, so no one client takes every slot; a lesson runs for well under a second, so "
        "a class behind one address mostly waits a moment (429 with Retry-After).",
    )
    runs_per_client_per_minute: int = Field(
        60,
        ge=1,
        le=10_000,
        description="Runs one client address may start per minute (a burst of this many, then "
        "one every 60/N s). 60 lets a class of 30 behind one NAT press Run every 30 s; a script "
        "firing in a loop gets one a second.",
    )
    max_body_bytes: int = Field(
        32 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body accepted; a larger one is refused with 413 unread. "
        "A run request is a few hundred bytes.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A connection that has not sent a whole request head within this is "
        "closed (slow or idle clients cannot hold sockets).",
    )
    keep_alive_seconds: float = Field(
        5.0, gt=0, le=300, description="How long an idle keep-alive connection stays open."
    )
    max_connections: int = Field(
        1000,
        ge=8,
        le=100_000,
        description="Open connections at most; more are closed at once. Each viewer of a run "
        "holds one for its event stream, so leave room for every student's.",
    )
    explore_max_schedules: int = Field(
        2_000,
        ge=1,
        le=1_000_000,
        description="Explore mode: schedules one search may try before it gives up (each is a "
        "whole run of the lesson, a few ms for a small one).",
    )
    explore_max_seconds: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Explore mode: seconds one search may take; the run's own time limit "
        "(max_run_seconds) still applies on top.",
    )
    explore_preemptions: int = Field(
        2,
        ge=0,
        le=10,
        description="Explore mode: how many times a schedule may switch away from a worker "
        "that could have gone on. Most concurrency bugs need one or two; each more widens "
        "the search a lot.",
    )
    host: str = Field("127.0.0.1", description="Address `python -m app` listens on (0.0.0.0: every one).")
    port: int = Field(8000, ge=1, le=65535, description="Port `python -m app` listens on.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="How much the server logs."
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-For names the real client (comma-separated, "
        "or * for any): per-client limits need the real address behind a reverse proxy.",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
