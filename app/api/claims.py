"""/claims: the tutorial's twelve claims, each tested by real runs, and their verdicts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from app.api.deps import Service
from app.api.errors import ErrorBody, responses
from app.api.pages import templates
from app.claims import BY_NUMBER, CLAIMS, Finished, Verdict, verdict

router = APIRouter(prefix="/claims", tags=["claims"])


class ClaimVerdict(BaseModel):
    claim: int = Field(description="The claim's number, 1 to 12")
    words: str = Field(description="The claim, in the tutorial's words")
    verdict: Verdict = Field(description="demonstrated, corrected (true only in part) or not-shown")
    text: str = Field(description="Why, in the runs' own numbers")


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def claims_page(request: Request) -> HTMLResponse:
    """The claims page: each claim with a button that runs its lessons."""
    return templates.TemplateResponse(request, "claims.html", {"claims": CLAIMS})


STILL_RUNNING: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "A run is still running: ask once it has finished"}
}


@router.get("/{number}/verdict", response_model=ClaimVerdict, responses=responses(404) | STILL_RUNNING)
async def claim_verdict(
    number: int,
    service: Service,
    run: Annotated[list[str], Query(description="The ids of the claim's finished runs, in order")],
) -> ClaimVerdict:
    """A claim's verdict, drawn from the numbers of its finished runs."""
    claim = BY_NUMBER.get(number)
    if claim is None:
        raise HTTPException(404, f"no claim {number}: the claims are numbered 1 to {len(CLAIMS)}")
    runs = []
    for run_id in run:
        found = await service.find(run_id)
        if not found.finished:
            raise HTTPException(
                409, f"run {run_id} is still running: ask for the verdict once it has finished"
            )
        runs.append(Finished(found.summary(), found.events))
    finding = verdict(claim, runs)
    return ClaimVerdict(claim=number, words=claim.words, verdict=finding.verdict, text=finding.text)
