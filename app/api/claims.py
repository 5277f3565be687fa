"""/claims: the tutorial's twelve claims, each tested by real runs, and their verdicts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from app.api.deps import Manager
from app.api.pages import templates
from app.claims import BY_NUMBER, CLAIMS, Finished, verdict
from app.timeline import JSON

router = APIRouter(prefix="/claims", tags=["claims"])


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def claims_page(request: Request) -> HTMLResponse:
    """The claims page: each claim with a button that runs its lessons."""
    return templates.TemplateResponse(request, "claims.html", {"claims": CLAIMS})


@router.get("/{number}/verdict")
async def claim_verdict(
    number: int,
    manager: Manager,
    run: Annotated[list[str], Query(description="The ids of the claim's finished runs, in order")],
) -> dict[str, JSON]:
    """A claim's verdict, drawn from the numbers of its finished runs."""
    claim = BY_NUMBER.get(number)
    if claim is None:
        raise HTTPException(404, f"no claim {number}: the claims are numbered 1 to {len(CLAIMS)}")
    runs = []
    for run_id in run:
        found = manager.get(run_id)
        if found is None:
            raise HTTPException(404, f"no run {run_id!r}: it never existed or has been forgotten")
        if not found.finished:
            raise HTTPException(
                409, f"run {run_id} is still running: ask for the verdict once it has finished"
            )
        runs.append(Finished(found.summary(), found.events))
    finding = verdict(claim, runs)
    return {"claim": number, "words": claim.words, "verdict": str(finding.verdict), "text": finding.text}
