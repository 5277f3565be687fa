"""/runs: start a run, read its status, stop it, stream its events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Cookie, Header, Response
from fastapi.responses import StreamingResponse

from app.api.deps import CONTROL_COOKIE, AppSettings, ClientAddress, RunDep, Service
from app.api.errors import responses
from app.api.models import CreatedRun, RunRequest, RunSummary, scenario_and_params, scheduling
from app.config import Settings
from app.runner import Run

router = APIRouter(prefix="/runs", tags=["runs"])

EVENT_STREAM_DOC: dict[int, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `events` messages (a JSON array of events each, id = "
        "the index of its last event), then one `done` message with the run's summary",
        "content": {
            "text/event-stream": {
                "schema": {  # one message of the stream
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": {
                        "event": {"enum": ["events", "done"]},
                        "data": {"type": "string", "description": "JSON: the events, or the summary"},
                        "id": {"type": "string", "description": "The index of the message's last event"},
                    },
                }
            }
        },
    }
}
# Where a new run leads (OpenAPI links): its status, its stream, and the stop its
# control token allows. Schema-driven clients follow them.
RUN_LINKS = {
    "ReadRun": {"operationId": "read_run", "parameters": {"run_id": "$response.body#/id"}},
    "StreamEvents": {"operationId": "stream_events", "parameters": {"run_id": "$response.body#/id"}},
    "StopRun": {
        "operationId": "stop_run",
        "parameters": {"run_id": "$response.body#/id", "header.X-Run-Control": "$response.body#/control"},
    },
}


def hand_over_control(response: Response, run: Run, control: str, settings: Settings) -> None:
    """Give the starter the run's control credential as a cookie only this run's paths see."""
    response.set_cookie(
        CONTROL_COOKIE,
        control,
        max_age=int(settings.max_run_seconds) + 600,
        path=f"/runs/{run.id}",
        httponly=True,
        samesite="strict",
    )


@router.post(
    "",
    status_code=201,
    response_model=CreatedRun,
    responses=responses(400, 404, 413, 422, 429, 503, also={201: {"links": RUN_LINKS}}),
)
async def create_run(
    request: Annotated[RunRequest, Body()],
    service: Service,
    settings: AppSettings,
    client: ClientAddress,
    response: Response,
) -> CreatedRun:
    """Start a run of a scenario; returns its summary (status "running") and, once, its control token."""
    slug, params = scenario_and_params(request)
    mode, schedule = scheduling(request)
    started = service.start(slug, params, client, mode=mode, schedule=schedule)
    response.headers["Location"] = f"/runs/{started.run.id}"
    hand_over_control(response, started.run, started.control, settings)
    return CreatedRun.model_validate(started.run.summary() | {"control": started.control})


@router.get("/{run_id}", response_model=RunSummary, responses=responses(404), operation_id="read_run")
async def read_run(run: RunDep) -> RunSummary:
    """A run's status, parameters, result and timing."""
    return RunSummary.model_validate(run.summary())


@router.post(
    "/{run_id}/stop", response_model=RunSummary, responses=responses(403, 404), operation_id="stop_run"
)
async def stop_run(
    run_id: str,
    service: Service,
    control: Annotated[
        str, Header(alias="X-Run-Control", description="The control token POST /runs returned")
    ] = "",
    run_control: Annotated[str | None, Cookie(alias=CONTROL_COOKIE, include_in_schema=False)] = None,
) -> RunSummary:
    """Stop a run you started (its control cookie or X-Run-Control header); its workers end at their next traced call."""
    run = await service.stop(run_id, control or run_control)
    return RunSummary.model_validate(run.summary())


@router.get(
    "/{run_id}/events",
    response_class=StreamingResponse,
    responses=responses(404, 422, also=EVENT_STREAM_DOC),
    operation_id="stream_events",
)
async def stream_events(
    run: RunDep,
    settings: AppSettings,
    last_event_id: Annotated[
        int, Header(ge=-1, description="Resume after this event index (-1, the default: from the start)")
    ] = -1,
) -> StreamingResponse:
    """The run's events as SSE, from the start or after Last-Event-ID.

    Each `events` message holds a JSON array of events (`[t_ns, worker, kind, obj,
    detail, link]`) and has the index of its last event as id; the stream ends with
    one `done` message carrying the run's summary.
    """
    return StreamingResponse(
        _event_stream(run, last_event_id + 1, settings.batch_events),
        media_type="text/event-stream",
        # No caching, and no buffering by a proxy in front: events must arrive as they happen.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(run: Run, start: int, most: int) -> AsyncIterator[bytes]:
    """The SSE wire format, written by hand: a viewer that leaves (even mid-write, with
    its socket full) just ends this generator; nothing else runs for it."""
    async for first, stop in run.follow(start, most):
        data = run.events.wire_json(first, stop)
        yield f"id: {stop - 1}\nevent: events\ndata: {data}\n\n".encode()
        # A finished run's batches are all ready: without this the loop would write them
        # back to back, and could not notice a viewer that left until every one failed.
        await asyncio.sleep(0)
    yield f"event: done\ndata: {json.dumps(run.summary())}\n\n".encode()
