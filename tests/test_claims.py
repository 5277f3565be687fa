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


def compare_cpu(threads: dict[str, object], *, gil: bool) -> Finished:
    """A finished compare-cpu run with these threads' numbers (the rest as measured on an idle
    machine): 1000 ms in turn, 4 processes 1.9×, both cores free in every phase."""
    models = {
        "sequential": {"workers": 1, "wall_ms": 1000.0, "speedup": 1.0, "available_cores": 2.0},
        "threads": {"workers": 4, "available_cores": 2.0, **threads},
        "processes": {"workers": 4, "speedup": 1.9, "available_cores": 2.0},
    }
    values = {"models": models, "cores": 2, "interpreter": {"gil_enabled": gil}}
    return Finished({"scenario": "compare-cpu", "status": "done", "result": {"values": values}}, [])


@pytest.mark.parametrize(
    ("threads", "gil", "found", "words"),
    [
        # Beside two CPU hogs (measured in the soak): the scheduler favoured the threads, which
        # kept waking up, so they beat the sequential phase; their CPU time says one core.
        (
            {"wall_ms": 495.0, "cpu_ms": 490.0, "speedup": 2.02, "states": {"gil": 0.2, "cpu": 0.3}},
            True,
            Verdict.CORRECTED,
            "keeping 0.99 of them busy; they spent 29% of their time",
        ),
        # Idle: half their time waiting for the GIL.
        (
            {"wall_ms": 1000.0, "cpu_ms": 970.0, "speedup": 1.0, "states": {"gil": 0.5, "cpu": 0.1}},
            True,
            Verdict.CORRECTED,
            "ran 1.00× as fast",
        ),
        # Two cores busy and no GIL wait: the threads ran in parallel (C code that lets the GIL
        # go, say), which this claim's lesson cannot show on a GIL interpreter.
        (
            {"wall_ms": 550.0, "cpu_ms": 1050.0, "speedup": 1.82, "states": {"gil": 0.05, "cpu": 0.0}},
            True,
            Verdict.NOT_SHOWN,
            "keeping 1.91 of them busy",
        ),
        (
            {"wall_ms": 550.0, "cpu_ms": 1050.0, "speedup": 1.82, "states": {"gil": 0.0, "cpu": 0.0}},
            False,
            Verdict.DEMONSTRATED,
            "This interpreter has no GIL",
        ),
    ],
)
def test_claim_6_reads_the_threads_busy_cores_before_estimates_load_can_tip(
    threads: dict[str, object], gil: bool, found: Verdict, words: str
) -> None:
    judged = verdict(CLAIMS[5], [compare_cpu(threads, gil=gil)])
    assert judged.verdict is found, judged.text
    assert words in judged.text


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
