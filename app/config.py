"""Settings: every limit an operator may need, with a help text, read from the
environment (prefix ``INTERLEAVE_``, e.g. ``INTERLEAVE_MAX_CONCURRENT_RUNS=2``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        200_000,
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
        2_000_000,
        ge=1_000,
        le=100_000_000,
        description="Events kept in memory across finished runs (~150 bytes each); oldest runs go first.",
    )
    warm_up_processes: bool = Field(
        True, description="Start the forkserver at start-up, so the first process lesson is not slower."
    )
    frame_seconds: float = Field(
        0.016, gt=0, le=1, description="How often recorded events are published to viewers (one SSE batch)."
    )
    batch_events: int = Field(2_000, ge=1, le=100_000, description="Most events in one SSE message.")
    stop_grace_seconds: float = Field(
        3.0, gt=0, le=60, description="After a run is stopped, how long its workers get to unwind."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
