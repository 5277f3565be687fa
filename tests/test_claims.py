"""The claims: each one's runs over the API, then its verdict from their numbers."""

from __future__ import annotations

import httpx
import pytest

from app.claims import CLAIMS, Finished, Verdict, verdict
from app.scenarios.registry import SCENARIOS
from tests.helpers import finished_run

pytestmark = pytest.mark.anyio

# Claims whose outcome does not depend on how loaded the machine is.
STEADY = {1: "demonstrated", 3: "demonstrated", 4: "demonstrated", 9: "demonstrated", 10: "demonstrated"}


def test_there_are_twelve_claims_each_testing_real_lessons_with_valid_parameters() -> None:
    assert [c.number for c in CLAIMS] == list(range(1, 13))
    for claim in CLAIMS:
        for slug, params in claim.runs:
            SCENARIOS[slug].params.model_validate(params)


async def judge(client: httpx.AsyncClient, number: int) -> dict[str, str]:
    ids = []
    for slug, params in CLAIMS[number - 1].runs:
        summary, _ = await finished_run(client, slug, **params)
        ids.append(summary["id"])
    response = await client.get(f"/claims/{number}/verdict", params={"run": ids})
    assert response.status_code == 200, response.text
    found: dict[str, str] = response.json()
    return found


@pytest.mark.parametrize("number", sorted(STEADY))
async def test_a_claim_is_judged_from_its_runs(client: httpx.AsyncClient, number: int) -> None:
    found = await judge(client, number)
    assert found["verdict"] == STEADY[number], found
    assert found["words"] == CLAIMS[number - 1].words


async def test_claim_6_is_corrected_and_says_how_fast_the_threads_were(client: httpx.AsyncClient) -> None:
    found = await judge(client, 6)
    assert found["verdict"] == "corrected", found  # CPython 3.11 on >= 2 cores: the GIL
    assert "4 threads doing CPU-bound Python ran" in found["text"]


async def test_a_verdict_needs_finished_runs_of_the_claim_s_own_lessons(client: httpx.AsyncClient) -> None:
    summary, _ = await finished_run(client, "semaphore", uses=1)
    wrong = await client.get("/claims/1/verdict", params={"run": [summary["id"]]})
    assert wrong.status_code == 200
    assert wrong.json()["verdict"] == "not-shown"
    assert "expected a run of threads-print-numbers" in wrong.json()["text"]
    assert (await client.get("/claims/13/verdict", params={"run": ["x"]})).status_code == 404
    assert (await client.get("/claims/1/verdict", params={"run": ["nope"]})).status_code == 404


def test_a_stopped_run_makes_no_verdict() -> None:
    stopped = Finished({"scenario": "responsiveness", "status": "stopped", "reason": "time limit"}, [])
    found = verdict(CLAIMS[4], [stopped])
    assert found.verdict is Verdict.NOT_SHOWN
    assert "time limit" in found.text


async def test_the_claims_page_lists_every_claim_with_its_runs(client: httpx.AsyncClient) -> None:
    page = await client.get("/claims")
    assert page.status_code == 200
    for claim in CLAIMS:
        assert f'data-claim="{claim.number}"' in page.text
    assert "<script>" not in page.text  # no inline scripts: a Content-Security-Policy is coming
    assert 'href="/claims"' in (await client.get("/")).text
