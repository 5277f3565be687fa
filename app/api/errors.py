"""One error shape for every 4xx the app answers, and the one place that maps the
domain's refusals (`app.service`) to HTTP.

Every error body is an `ErrorBody`: the status, a sentence saying what is wrong and
what to do instead, and for bad input one problem per field saying what is allowed.
Busy answers (429, 503) carry Retry-After.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.scenarios import params as scenario_params
from app.scenarios.registry import SCENARIOS
from app.service import (
    Busy,
    ClientBusy,
    Conflict,
    InvalidParams,
    NotAllowed,
    Problem,
    Refusal,
    RunNotFound,
    ServerBusy,
    UnknownScenario,
    WorkerNotFound,
)
from app.stepping import supports

STATUS: dict[type[Refusal], int] = {
    UnknownScenario: 404,
    RunNotFound: 404,
    WorkerNotFound: 404,
    Conflict: 409,
    NotAllowed: 403,
    InvalidParams: 422,
    ClientBusy: 429,
    ServerBusy: 503,
}
REQUEST_EXAMPLE = '{"scenario": "lock-counter", "params": {"pairs": 2}}'


class ProblemBody(BaseModel):
    field: str = Field(description="Where: a parameter name, `scenario`, `params`, `body` or a header")
    message: str = Field(description="What is wrong there, and what is allowed")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer of the API has this shape."""

    status: int
    message: str = Field(description="What is wrong, and what to do instead")
    problems: list[ProblemBody] = Field(default_factory=list, description="One per bad field")


def error_response(
    status: int, message: str, problems: list[Problem] | None = None, **headers: str
) -> JSONResponse:
    body = ErrorBody(
        status=status,
        message=message,
        problems=[ProblemBody(field=p.field, message=p.message) for p in problems or []],
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers or None)


def status_of(refusal: Refusal) -> int:
    return next(code for kind, code in STATUS.items() if isinstance(refusal, kind))


def retry_headers(refusal: Refusal) -> dict[str, str]:
    """Retry-After on every busy answer (429, 503): when trying again is worth it."""
    return {"Retry-After": str(refusal.retry_after)} if isinstance(refusal, Busy) else {}


def refusal_response(refusal: Refusal) -> JSONResponse:
    return error_response(status_of(refusal), refusal.message, refusal.problems, **retry_headers(refusal))


def responses(
    *statuses: int, also: dict[int, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: its error statuses, each with the ErrorBody shape,
    and `also` what it documents of its success (a content type, links)."""
    words = {
        400: "The request could not be read",
        403: "Not allowed: the message says who may",
        404: "Not found: the message says what exists",
        409: "Not now: the message says why (the run's state)",
        413: "The body is too large",
        422: "Bad input: each problem names a field and what is allowed",
        429: "This client has too many runs going or started: see Retry-After",
        503: "Every run slot is taken: see Retry-After",
    }
    documented: dict[int | str, dict[str, Any]] = {status: doc for status, doc in (also or {}).items()}
    # 422 always: FastAPI would otherwise document its own shape for any route with parameters.
    return documented | {
        status: {"model": ErrorBody, "description": words[status]} for status in {*statuses, 422}
    }


# --- request validation, translated into problems that say what is allowed -------------
def explain_invalid_request(error: RequestValidationError) -> Refusal:
    """FastAPI's validation errors as a refusal in our words."""
    problems: list[Problem] = []
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ())]
        kind = item.get("type", "")
        if loc[:1] == ["body"]:
            body = item.get("input")
            if kind == "union_tag_invalid" and isinstance(body, dict):
                if isinstance(body.get("scenario"), str):
                    return UnknownScenario(body["scenario"])
                problems.append(
                    Problem("scenario", f"must be a string; allowed: one of {', '.join(SCENARIOS)}")
                )
            elif kind == "union_tag_not_found":
                problems.append(Problem("scenario", f"missing; allowed: one of {', '.join(SCENARIOS)}"))
            else:
                problems.append(_body_problem(loc[1:], item))
        elif loc[:1] == ["header"]:
            problems.append(_header_problem(loc[1] if len(loc) > 1 else "", item))
        else:
            where = ".".join(loc[1:]) or "request"
            problems.append(Problem(where, str(item.get("msg", "invalid"))))
    return InvalidParams("the request is not allowed; each problem says why", problems)


def _body_problem(loc: list[str], item: Any) -> Problem:
    kind, msg = item.get("type", ""), str(item.get("msg", "invalid"))
    if kind == "json_invalid":
        return Problem("body", f"not valid JSON ({msg}); allowed: a JSON object such as {REQUEST_EXAMPLE}")
    if not loc:  # the body as a whole: missing, or not an object
        return Problem("body", f"{msg}; allowed: a JSON object such as {REQUEST_EXAMPLE}")
    scenario = SCENARIOS.get(loc[0]) if loc else None
    rest = loc[1:]
    if scenario is None:
        return Problem(".".join(loc) or "body", msg)
    if rest == ["params"]:
        names = ", ".join(scenario.params.model_fields) or "none"
        return Problem("params", f"{msg}; allowed: an object with the parameters {names}")
    if rest[:1] == ["params"]:
        return Problem(".".join(rest[1:]), scenario_params.describe(scenario.params, rest[1:], item))
    if rest == ["mode"]:
        lessons = ", ".join(slug for slug, s in SCENARIOS.items() if supports(s))
        return Problem("mode", f"{msg}: step, replay and explore are for the thread lessons ({lessons})")
    if kind == "extra_forbidden":
        allowed = "scenario, params, mode, schedule" if supports(scenario) else "scenario, params, mode"
        return Problem(".".join(rest), f"unknown field; allowed: {allowed}")
    return Problem(".".join(rest) or "body", msg)


def _header_problem(name: str, item: Any) -> Problem:
    if name == "last-event-id":
        return Problem(
            "Last-Event-ID",
            "must be the id of the last message received: a whole number of at least -1",
        )
    return Problem(name, str(item.get("msg", "invalid")))


def install(app: FastAPI) -> None:
    """Register the handlers: refusals, validation errors, and Starlette's own 4xx."""

    async def on_refusal(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refusal)
        return refusal_response(exc)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return refusal_response(explain_invalid_request(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status, detail = exc.status_code, exc.detail
        where = f"{request.method} {request.url.path}"
        if status == 404:
            message = f"no such path: {where}; the API is listed at /docs"
        elif status == 405:
            message = f"{where} is not allowed; allowed methods: {(exc.headers or {}).get('Allow', '?')}"
        elif status == 400 and "parsing the body" in str(detail):
            message = (
                "the body could not be read as JSON: send UTF-8 text, nested at most a few levels "
                f"deep, with numbers of at most 4300 digits, such as {REQUEST_EXAMPLE}"
            )
        else:
            message = detail if isinstance(detail, str) else json.dumps(detail)
        return error_response(status, message, None, **dict(exc.headers or {}))

    app.add_exception_handler(Refusal, on_refusal)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
