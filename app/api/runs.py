"""/runs: start a run, read its status, stream its events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field, ValidationError

from app.api.deps import AppSettings, Manager, RunDep, find_scenario
from app.runner import Run, RunManager, TooManyRuns
from app.scenarios import params as scenario_params
from app.timeline import JSON

router = APIRouter(prefix="/runs", tags=["runs"])


class RunRequest(BaseModel):
    scenario: str = Field(description="A scenario slug, as listed by GET /scenarios")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The scenario's parameters; omitted ones take defaults"
    )


def start_run(manager: RunManager, slug: str, raw: dict[str, Any]) -> Run:
    """Validate and start; shared by the JSON API and the page's form."""
    scenario = find_scenario(slug)
    try:
        params = scenario_params.parse(scenario.params, raw)
    except ValidationError as error:
        raise HTTPException(422, scenario_params.explain(scenario.params, error)) from None
    try:
        return manager.start(scenario, params)
    except TooManyRuns as error:
        raise HTTPException(429, str(error)) from None


@router.post("", status_code=201)
async def create_run(request: RunRequest, manager: Manager, response: Response) -> dict[str, JSON]:
    """Start a run of a scenario; returns its summary (status "running")."""
    run = start_run(manager, request.scenario, request.params)
    response.headers["Location"] = f"/runs/{run.id}"
    return run.summary()


@router.get("/{run_id}")
async def read_run(run: RunDep) -> dict[str, JSON]:
    """A run's status, parameters, result and timing."""
    return run.summary()


@router.post("/{run_id}/stop")
async def stop_run(run: RunDep, manager: Manager) -> dict[str, JSON]:
    """Ask a running run to stop; its workers end at their next traced call."""
    manager.stop(run, "stopped by a viewer")
    return run.summary()


@router.get("/{run_id}/events", response_class=EventSourceResponse)
async def stream_events(
    run: RunDep,
    settings: AppSettings,
    last_event_id: Annotated[int | None, Header(ge=-1, description="Resume after this event index")] = None,
) -> AsyncIterator[ServerSentEvent]:
    """The run's events as SSE, from the start or after Last-Event-ID.

    Each `events` message holds a JSON array of events (`[t_ns, worker, kind, obj,
    detail, link]`) and has the index of its last event as id; the stream ends with
    one `done` message carrying the run's summary.
    """
    start = 0 if last_event_id is None else last_event_id + 1
    async for first, batch in run.follow(start, settings.batch_events):
        yield ServerSentEvent(
            raw_data=json.dumps([event.to_wire() for event in batch], separators=(",", ":")),
            event="events",
            id=str(first + len(batch) - 1),
        )
    yield ServerSentEvent(raw_data=json.dumps(run.summary()), event="done")
