"""/runs/{id}/ready, /step, /run-to-end: the learner as the scheduler of a step run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Cookie, Header

from app.api.deps import CONTROL_COOKIE, Service
from app.api.errors import responses
from app.api.models import PendingOp, RunToEndRequest, StepRequest, StepStateBody
from app.runner import LiveRun
from app.stepping import Policy, StepState

router = APIRouter(prefix="/runs", tags=["stepping"])

ControlHeader = Annotated[
    str, Header(alias="X-Run-Control", description="The control token POST /runs returned")
]
ControlCookie = Annotated[str | None, Cookie(alias=CONTROL_COOKIE, include_in_schema=False)]


def _body(run: LiveRun, state: StepState) -> StepStateBody:
    return StepStateBody(
        run=run.id,
        status=run.status,
        workers=[
            PendingOp(
                worker=p.worker,
                op=p.op,
                obj=p.obj,
                line=run.scenario.panel_line(p.file, p.line),
                ready=p.ready,
                waiting=p.waiting,
            )
            for p in state.pending
        ],
        live=state.live,
        schedule=state.schedule,
    )


@router.get("/{run_id}/ready", response_model=StepStateBody, responses=responses(404, 409))
async def ready_workers(run_id: str, service: Service) -> StepStateBody:
    """What each live worker of a step run stands before, and whether it could go on."""
    run, state = await service.step_state(run_id)
    return _body(run, state)


@router.post("/{run_id}/step", response_model=StepStateBody, responses=responses(400, 403, 404, 409, 413))
async def step_worker(
    run_id: str,
    request: Annotated[StepRequest, Body()],
    service: Service,
    control: ControlHeader = "",
    run_control: ControlCookie = None,
) -> StepStateBody:
    """Let exactly that worker perform its next operation (and the code up to its next one); answers the new state."""
    run, state = await service.step(run_id, request.worker, control or run_control)
    return _body(run, state)


@router.post(
    "/{run_id}/run-to-end", response_model=StepStateBody, responses=responses(400, 403, 404, 409, 413)
)
async def run_to_end(
    run_id: str,
    service: Service,
    request: Annotated[RunToEndRequest, Body()] = RunToEndRequest(),  # noqa: B008 - a constant default
    control: ControlHeader = "",
    run_control: ControlCookie = None,
) -> StepStateBody:
    """Step the run to its end in the background, round-robin or at random (seeded); answers the state as it starts."""
    run, state = await service.run_to_end(
        run_id, Policy(request.policy), request.seed, control or run_control
    )
    return _body(run, state)
