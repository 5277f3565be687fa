"""The page and the htmx fragments it swaps: scenario panel, run panel."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.api.deps import AppSettings, ClientAddress, RunDep, ScenarioDep, Service
from app.api.errors import retry_headers, status_of
from app.api.runs import hand_over_control
from app.assets import TEMPLATES
from app.scenarios.base import Scenario
from app.scenarios.params import field_specs
from app.scenarios.registry import SCENARIOS
from app.service import Refusal
from app.timeline import Kind

router = APIRouter(tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES)
LEGEND: list[tuple[str, str]] = [
    (Kind.START, "starting"),
    (Kind.RUN, "running"),
    (Kind.IO, "sleeping / I/O"),
    (Kind.WAIT, "waiting"),
    (Kind.GIL, "waiting for the GIL (estimated from CPU clocks)"),
    ("cpu", "waiting for a CPU core (estimated from CPU clocks)"),
    (Kind.CRASH, "crashed"),
]


def _groups() -> dict[str, list[Scenario]]:
    groups: dict[str, list[Scenario]] = defaultdict(list)
    for scenario in SCENARIOS.values():
        groups[scenario.group].append(scenario)
    return dict(groups)


def _scenario_context(scenario: Scenario, values: dict[str, Any] | None = None) -> dict[str, object]:
    return {"scenario": scenario, "fields": field_specs(scenario.params), "values": values or {}}


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, scenario: Annotated[str | None, Query()] = None) -> HTMLResponse:
    """The simulator page."""
    chosen = SCENARIOS.get(scenario or "") or next(iter(SCENARIOS.values()))
    context = {"groups": _groups(), "legend": LEGEND, "run": None} | _scenario_context(chosen)
    return templates.TemplateResponse(request, "index.html", context)


@router.get("/watch/{run_id}", response_class=HTMLResponse)
async def watch(request: Request, run: RunDep) -> HTMLResponse:
    """A shareable page for one run: students open the teacher's link and watch it (read-only)."""
    context = {"groups": _groups(), "legend": LEGEND, "run": run, "can_stop": False}
    # The form shows the values this run ran with: Run again repeats it.
    values = run.params.model_dump()
    return templates.TemplateResponse(
        request, "index.html", context | _scenario_context(run.scenario, values)
    )


@router.get("/ui/scenarios/{slug}", response_class=HTMLResponse)
async def scenario_panel(request: Request, scenario: ScenarioDep) -> HTMLResponse:
    """Fragment: a scenario's description, parameter form and code."""
    return templates.TemplateResponse(request, "_scenario.html", _scenario_context(scenario))


@router.post("/ui/runs", response_class=HTMLResponse)
async def start_from_form(
    request: Request, service: Service, settings: AppSettings, client: ClientAddress
) -> HTMLResponse:
    """Fragment: start a run from the form and return its live panel (or the errors)."""
    form = await request.form()
    slug = str(form.get("scenario", ""))
    # The last value wins: a checkbox posts after its hidden "false" fallback.
    raw = {key: str(form.getlist(key)[-1]) for key in form if key != "scenario"}
    try:
        started = service.start(slug, raw, client, from_text=True)
    except Refusal as refusal:
        context = {"message": refusal.message, "problems": refusal.problems}
        return templates.TemplateResponse(
            request, "_errors.html", context, status_code=status_of(refusal), headers=retry_headers(refusal)
        )
    response = templates.TemplateResponse(
        request, "_run.html", {"run": started.run, "legend": LEGEND, "can_stop": True}, status_code=201
    )
    hand_over_control(response, started.run, started.control, settings)
    return response
