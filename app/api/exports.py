"""/runs/{id}/trace.json and /runs/{id}/events.csv: take a run elsewhere."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from app import export
from app.api.deps import RunDep
from app.api.errors import responses

router = APIRouter(prefix="/runs", tags=["exports"])


@router.get("/{run_id}/trace.json", responses=responses(404))
async def trace_json(run: RunDep) -> JSONResponse:
    """The run as Chrome Trace Event JSON: open it in Perfetto (ui.perfetto.dev) or chrome://tracing."""
    headers = {"Content-Disposition": f'attachment; filename="interleave-{run.scenario.slug}-{run.id}.json"'}
    return JSONResponse(export.chrome_trace(run.events, f"{run.scenario.title} ({run.id})"), headers=headers)


@router.get(
    "/{run_id}/events.csv",
    response_class=Response,  # its one media type is documented below, errors stay JSON
    responses=responses(404, also={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}),
)
async def events_csv(run: RunDep) -> Response:
    """The run's events as CSV, one row per event."""
    headers = {"Content-Disposition": f'attachment; filename="interleave-{run.scenario.slug}-{run.id}.csv"'}
    return Response(export.csv_text(run.events), media_type="text/csv", headers=headers)
