"""One error shape for every 4xx, a documented API, per-client limits, who may stop a
run, and the headers every answer carries. In-process, over httpx's ASGI transport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.scenarios.params import field_specs
from app.scenarios.registry import SCENARIOS
from tests.helpers import parse_sse

pytestmark = pytest.mark.anyio


def assert_error_shape(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"status", "message", "problems"}
    assert body["status"] == status
    assert body["message"]
    for problem in body["problems"]:
        assert set(problem) == {"field", "message"}
    return body


async def post_raw(client: httpx.AsyncClient, content: bytes) -> httpx.Response:
    return await client.post("/runs", content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"scenario": 5}, "scenario", "allowed: one of"),
        ({"params": {}}, "scenario", "allowed: one of"),
        ({"scenario": "lock-counter", "params": 5}, "params", "allowed: an object with the parameters pairs"),
        ({"scenario": "lock-counter", "params": {"pairs": "two"}}, "pairs", "allowed: a whole number from 1"),
        ({"scenario": "lock-counter", "colour": "red"}, "colour", "allowed: scenario, params"),
        (
            {"scenario": "pool-map", "params": {"numbers": [10**40]}},
            "numbers.0",
            "allowed: a list of whole numbers from -10000 to 10000",
        ),
        ([1, 2], "body", "allowed: a JSON object such as"),
    ],
)
async def test_every_bad_field_is_named_with_what_is_allowed(
    client: httpx.AsyncClient, body: Any, field: str, words: str
) -> None:
    response = await client.post("/runs", json=body)
    problems = assert_error_shape(response, 422)["problems"]
    assert [p["field"] for p in problems] == [field], problems
    assert words in problems[0]["message"]


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"", 422, "allowed: a JSON object such as"),
        (b"{not json", 422, "not valid JSON"),
        (b'{"scenario": "lock-counter", "params": {"pairs": \xff}}', 400, "UTF-8"),
        (b"[" * 100_00 + b"]" * 100_00, 400, "nested at most"),
        (b'{"scenario": "pool-map", "params": {"numbers": [' + b"9" * 5000 + b"]}}", 400, "4300 digits"),
    ],
)
async def test_a_body_that_is_not_json_is_refused_saying_what_is_expected(
    client: httpx.AsyncClient, content: bytes, status: int, words: str
) -> None:
    body = assert_error_shape(await post_raw(client, content), status)
    assert words in json.dumps(body)


async def test_an_unknown_scenario_is_404_naming_the_known_ones(client: httpx.AsyncClient) -> None:
    body = assert_error_shape(await client.post("/runs", json={"scenario": "nope"}), 404)
    assert "lock-counter" in body["message"]


async def test_unknown_paths_runs_and_methods_say_what_exists(client: httpx.AsyncClient) -> None:
    assert "/docs" in assert_error_shape(await client.get("/nowhere"), 404)["message"]
    assert "POST /runs" in assert_error_shape(await client.get("/runs/nope"), 404)["message"]
    assert "allowed methods" in assert_error_shape(await client.delete("/runs"), 405)["message"]


async def test_a_bad_last_event_id_says_what_an_id_is(client: httpx.AsyncClient) -> None:
    run = (await client.post("/runs", json={"scenario": "lock-counter"})).json()
    response = await client.get(f"/runs/{run['id']}/events", headers={"Last-Event-ID": "soon"})
    [problem] = assert_error_shape(response, 422)["problems"]
    assert problem["field"] == "Last-Event-ID"
    assert "whole number" in problem["message"]


def test_every_parameter_of_every_lesson_is_bounded() -> None:
    for scenario in SCENARIOS.values():
        for spec in field_specs(scenario.params):
            if spec.kind in ("int", "float", "int-list"):
                assert spec.minimum is not None, (scenario.slug, spec.name)
                assert spec.maximum is not None, (scenario.slug, spec.name)


# --- the form, the same rules --------------------------------------------------------------
async def test_the_form_refuses_bad_values_with_the_same_words(client: httpx.AsyncClient) -> None:
    response = await client.post("/ui/runs", data={"scenario": "lock-counter", "pairs": "99"})
    assert response.status_code == 422
    assert "pairs" in response.text
    assert "from 1 to 16" in response.text


# --- per-client limits ---------------------------------------------------------------------
@pytest.fixture
def settings() -> Settings:
    return Settings(max_concurrent_runs=6, max_runs_per_client=2, runs_per_client_per_minute=4)


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30)


SLOW = {"scenario": "threads-print-numbers", "params": {"pace": 0.1}}


async def stop_and_drain(http: httpx.AsyncClient, run_ids: list[str]) -> None:
    for run_id in run_ids:
        await http.post(f"/runs/{run_id}/stop")
        await http.get(f"/runs/{run_id}/events")


async def test_one_client_cannot_take_every_slot_and_is_told_when_to_retry(app: FastAPI) -> None:
    async with client_at(app, "10.0.0.1") as greedy, client_at(app, "10.0.0.2") as other:
        mine = [(await greedy.post("/runs", json=SLOW)).json()["id"] for _ in range(2)]
        third = await greedy.post("/runs", json=SLOW)
        body = assert_error_shape(third, 429)
        assert "at once" in body["message"]
        assert int(third.headers["retry-after"]) >= 1
        theirs = await other.post("/runs", json=SLOW)  # another address is not held back
        assert theirs.status_code == 201
        await stop_and_drain(greedy, mine)
        await stop_and_drain(other, [theirs.json()["id"]])
    assert app.state.service.limits.refused["concurrent"] == 1


async def test_a_client_starting_runs_in_a_loop_is_slowed_to_its_rate(app: FastAPI) -> None:
    quick = {"scenario": "lock-counter", "params": {"pairs": 1, "iterations": 1}}
    async with client_at(app, "10.0.0.3") as looping:
        codes = []
        for _ in range(5):
            response = await looping.post("/runs", json=quick)
            codes.append(response.status_code)
            if response.status_code == 201:
                await looping.get(f"/runs/{response.json()['id']}/events")  # one at a time
        assert codes == [201, 201, 201, 201, 429]
        assert int(response.headers["retry-after"]) in range(1, 16)  # one start per 15 s
        assert "within a minute" in response.json()["message"]


# --- who may stop a run -----------------------------------------------------------------------
async def test_only_the_starter_may_stop_a_run(app: FastAPI) -> None:
    async with client_at(app, "10.0.0.4") as teacher, client_at(app, "10.0.0.5") as student:
        created = await teacher.post("/runs", json=SLOW)
        run_id = created.json()["id"]
        cookie = created.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", f"Path=/runs/{run_id}"):
            assert attribute.lower() in cookie.lower(), cookie
        refused = await student.post(f"/runs/{run_id}/stop")
        assert "only whoever started this run" in assert_error_shape(refused, 403)["message"]
        forged = await student.post(f"/runs/{run_id}/stop", headers={"X-Run-Control": "guess"})
        assert forged.status_code == 403
        assert (await teacher.post(f"/runs/{run_id}/stop")).status_code == 200  # by its cookie
        done = parse_sse((await student.get(f"/runs/{run_id}/events")).text)[-1].data
        assert done["reason"] == "stopped by a viewer"


async def test_a_script_stops_its_run_with_the_token_from_the_201(app: FastAPI) -> None:
    async with client_at(app, "10.0.0.6") as script:
        created = (await script.post("/runs", json=SLOW)).json()
        script.cookies.clear()  # a script that keeps no cookies
        assert "control" not in (await script.get(f"/runs/{created['id']}")).json()  # returned once
        stopped = await script.post(
            f"/runs/{created['id']}/stop", headers={"X-Run-Control": created["control"]}
        )
        assert stopped.status_code == 200
        await script.get(f"/runs/{created['id']}/events")


async def test_the_watch_page_offers_no_stop_button(client: httpx.AsyncClient) -> None:
    started = await client.post("/ui/runs", data={"scenario": "lock-counter"})
    assert started.status_code == 201
    assert 'data-action="stop"' in started.text  # the starter's panel has one
    assert "run-control=" in started.headers["set-cookie"]
    run_id = started.text.split('data-run-id="')[1].split('"')[0]
    watch = await client.get(f"/watch/{run_id}")
    assert watch.status_code == 200
    assert 'data-action="stop"' not in watch.text
    await client.get(f"/runs/{run_id}/events")


# --- headers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/", "/scenarios", "/static/css/app.css", "/nowhere", "/docs", "/openapi.json"]
)
async def test_every_answer_is_locked_down(client: httpx.AsyncClient, path: str) -> None:
    headers = (await client.get(path)).headers
    policy = headers["content-security-policy"]
    script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src
    assert "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


# --- an honest OpenAPI -------------------------------------------------------------------------
async def test_the_run_request_is_described_per_scenario(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "scenario"
    assert len(body["oneOf"]) == len(SCENARIOS)
    counter = spec["components"]["schemas"]["RunLockCounter"]
    assert counter["properties"]["scenario"]["const"] == "lock-counter"
    pairs = spec["components"]["schemas"]["CounterParams"]["properties"]["pairs"]
    assert (pairs["minimum"], pairs["maximum"]) == (1, 16)


async def test_every_route_documents_its_errors_with_the_one_shape(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    documented = {
        (method, path): set(operation["responses"]) - {"200", "201"}
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }
    assert documented[("post", "/runs")] >= {"404", "413", "422", "429", "503"}
    assert documented[("post", "/runs/{run_id}/stop")] >= {"403", "404"}
    assert documented[("get", "/runs/{run_id}")] >= {"404"}
    error = spec["paths"]["/runs"]["post"]["responses"]["429"]["content"]["application/json"]["schema"]
    assert error["$ref"].endswith("/ErrorBody")
    created = spec["paths"]["/runs"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/CreatedRun")


@pytest.mark.parametrize(
    ("path", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
async def test_the_api_docs_load_only_local_files(client: httpx.AsyncClient, path: str, script: str) -> None:
    page = (await client.get(path)).text
    assert "/static/vendor/" in page
    assert script in page
    assert "http://" not in page
    assert "https://" not in page
    assert (
        await client.get(f"/static/vendor/{'swagger-ui' if path == '/docs' else 'redoc'}/{script}")
    ).status_code == 200


async def test_the_form_and_the_api_share_one_client_allowance(app: FastAPI) -> None:
    """One service behind both doors: runs started through the API count when the
    same client uses the page's form, and the form's refusal says when to retry."""
    async with client_at(app, "10.0.0.7") as browser:
        mine = [(await browser.post("/runs", json=SLOW)).json()["id"] for _ in range(2)]
        refused = await browser.post("/ui/runs", data={"scenario": "lock-counter"})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "at once" in refused.text
        await stop_and_drain(browser, mine)
