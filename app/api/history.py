"""/history: every stored run, newest first, filtered by lesson; each opens at /watch/{id}.

The page and its fragment (`/ui/history`: the rows, then a button for older ones)
render the same template, so the first render and each htmx swap agree.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.api.deps import Service
from app.api.pages import templates
from app.service import RunService
from app.store import RunRecord

router = APIRouter(tags=["pages"], include_in_schema=False)
PAGE_SIZE = 50

Lesson = Annotated[str | None, Query(max_length=100, description="Only runs of this lesson (its slug)")]
Before = Annotated[float | None, Query(description="Only runs created before this Unix time")]


@router.get("/history", response_class=HTMLResponse)
async def history_page(request: Request, service: Service, scenario: Lesson = None) -> HTMLResponse:
    """The history page: past runs, newest first."""
    context = await _rows(service, scenario or None, None)
    context["lessons"] = await service.lessons_in_history()
    return templates.TemplateResponse(request, "history.html", context)


@router.get("/ui/history", response_class=HTMLResponse)
async def history_rows(
    request: Request, service: Service, scenario: Lesson = None, before: Before = None
) -> HTMLResponse:
    """Fragment: a page of rows (a lesson's, if chosen), then the button for older ones."""
    context = await _rows(service, scenario or None, before)
    response = templates.TemplateResponse(request, "_history_rows.html", context)
    if before is None:  # a new filter: the address bar follows, so the view can be shared
        response.headers["HX-Push-Url"] = f"/history?scenario={scenario}" if scenario else "/history"
    return response


async def _rows(service: RunService, scenario: str | None, before: float | None) -> dict[str, Any]:
    records = await service.history(scenario, PAGE_SIZE, before)
    return {
        "rows": [_row(record) for record in records],
        "scenario": scenario or "",
        "older": records[-1].created_at if len(records) == PAGE_SIZE else None,
    }


def _row(record: RunRecord) -> dict[str, Any]:
    when = datetime.datetime.fromtimestamp(record.created_at, tz=datetime.UTC)
    return {
        "id": record.id,
        "iso": when.isoformat(timespec="seconds"),
        "when": when.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "title": record.title,
        "scenario": record.scenario,
        "params": ", ".join(f"{name}={_value(value)}" for name, value in record.params.items()),
        "status": record.status,
        "outcome": _outcome(record),
        "events": record.events,
        "duration": None if record.duration_ns is None else f"{record.duration_ns / 1e6:,.1f} ms",
    }


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _outcome(record: RunRecord) -> str:
    """The run's key result in one line: its own summary, or why it has none."""
    summary = (record.result or {}).get("summary")
    if record.status == "done" and summary:
        return str(summary)
    if record.status == "stopped":
        return f"stopped: {record.reason}" + (f" · {summary}" if summary else "")
    if record.status == "failed":
        return f"failed: {record.error}"
    if record.status == "interrupted":
        return f"interrupted: {record.reason}"
    return "running…"
