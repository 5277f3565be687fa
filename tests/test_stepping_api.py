"""Step, replay and explore over the HTTP API: the learner as the scheduler.

Real threads, the real runner: a step answers only once the stepped worker has
parked at its next gate, so every assertion is about a settled state, no sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.scenarios.registry import SCENARIOS
from app.stepping import supports
from tests.helpers import Wire, events_of, parse_sse

pytestmark = pytest.mark.anyio

# The race lesson with nothing artificial: two threads, one update each, no sleep window.
RACE = {"threads": 2, "iterations": 1, "window": 0.0}
SET_OFF = [  # main starts both threads and fires the starting gun; each passes it
    ("main", "start"),
    ("main", "start"),
    ("main", "set"),
    ("Thread-1", "begin"),
    ("Thread-1", "wait"),
    ("Thread-2", "begin"),
    ("Thread-2", "wait"),
]
LOST_UPDATE = [
    *SET_OFF,
    ("Thread-1", "read"),
    ("Thread-2", "read"),
    ("Thread-1", "sleep"),
    ("Thread-1", "write"),
    ("Thread-2", "sleep"),
    ("Thread-2", "write"),
]
ONE_AFTER_THE_OTHER = [
    *SET_OFF,
    ("Thread-1", "read"),
    ("Thread-1", "sleep"),
    ("Thread-1", "write"),
    ("Thread-2", "read"),
    ("Thread-2", "sleep"),
    ("Thread-2", "write"),
]


async def start(
    client: httpx.AsyncClient, scenario: str, params: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    created = await client.post("/runs", json={"scenario": scenario, "params": params, **extra})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def step(client: httpx.AsyncClient, run: dict[str, Any], worker: str) -> httpx.Response:
    return await client.post(
        f"/runs/{run['id']}/step", json={"worker": worker}, headers={"X-Run-Control": run["control"]}
    )


async def step_through(client: httpx.AsyncClient, run: dict[str, Any], steps: list[tuple[str, str]]) -> None:
    """Step each worker, checking first that it stands before the operation expected."""
    for worker, op in steps:
        state = (await client.get(f"/runs/{run['id']}/ready")).json()
        pending = {w["worker"]: w for w in state["workers"]}
        assert pending[worker]["op"] == op, (worker, op, state)
        response = await step(client, run, worker)
        assert response.status_code == 200, response.text


async def to_the_end(client: httpx.AsyncClient, run: dict[str, Any]) -> tuple[dict[str, Any], list[Wire]]:
    """Run-to-end, then read the whole stream: (the final summary, the events)."""
    response = await client.post(
        f"/runs/{run['id']}/run-to-end", json={}, headers={"X-Run-Control": run["control"]}
    )
    assert response.status_code == 200, response.text
    return await finished(client, run)


async def finished(client: httpx.AsyncClient, run: dict[str, Any]) -> tuple[dict[str, Any], list[Wire]]:
    messages = parse_sse((await client.get(f"/runs/{run['id']}/events")).text)
    assert messages[-1].event == "done"
    return messages[-1].data, events_of(messages)


def accesses(events: list[Wire]) -> list[tuple[str, str, Any]]:
    """The counter's reads and writes after its creation: (worker, kind, value)."""
    return [(e[1], e[2], e[4]) for e in events if e[3] == "counter" and e[2] in ("read", "write")][1:]


def lanes(events: list[Wire]) -> dict[str, list[tuple[Any, ...]]]:
    """Each lane's events in order, without times: what a replay must reproduce. The
    sampler's `gil` states are left out: they are a measured estimate of CPU waits,
    not something the program did."""
    per_lane: dict[str, list[tuple[Any, ...]]] = {}
    for _, worker, kind, obj, detail, link in events:
        if kind != "gil":
            per_lane.setdefault(worker, []).append((kind, obj, detail, link))
    return per_lane


async def test_stepping_the_race_by_hand_into_a_lost_update(client: httpx.AsyncClient) -> None:
    run = await start(client, "race-condition", RACE, mode="step")
    await step_through(client, run, LOST_UPDATE)
    summary, events = await to_the_end(client, run)
    assert accesses(events) == [
        ("Thread-1", "read", 0),
        ("Thread-2", "read", 0),
        ("Thread-1", "write", 1),
        ("Thread-2", "write", 1),
        ("main", "read", 1),
    ]
    values = summary["result"]["values"]
    assert (values["actual"], values["expected"], values["lost_updates"]) == (1, 2, 1)
    assert values["schedule"][: len(LOST_UPDATE)] == [worker for worker, _ in LOST_UPDATE]
    assert values["mode"] == "step"


async def test_stepping_the_race_one_thread_after_the_other_loses_nothing(client: httpx.AsyncClient) -> None:
    run = await start(client, "race-condition", RACE, mode="step")
    await step_through(client, run, ONE_AFTER_THE_OTHER)
    summary, events = await to_the_end(client, run)
    assert accesses(events)[:4] == [
        ("Thread-1", "read", 0),
        ("Thread-1", "write", 1),
        ("Thread-2", "read", 1),
        ("Thread-2", "write", 2),
    ]
    assert summary["result"]["values"]["lost_updates"] == 0


STEPPABLE = [slug for slug, lesson in SCENARIOS.items() if supports(lesson)]


def test_every_lesson_under_threads_and_synchronisation_can_be_stepped() -> None:
    groups = {lesson.group for slug, lesson in SCENARIOS.items() if slug in STEPPABLE}
    assert groups == {"Threads", "Synchronisation"}
    assert [slug for slug, lesson in SCENARIOS.items() if lesson.group in groups] == STEPPABLE


@pytest.mark.parametrize("slug", STEPPABLE)
async def test_each_thread_lesson_steps_to_its_end_at_its_defaults(
    client: httpx.AsyncClient, slug: str
) -> None:
    """Every traced operation of every thread lesson parks and goes on when stepped:
    run to the end round-robin, each ends as it does when the OS schedules it."""
    run = await start(client, slug, {}, mode="step")
    summary, events = await to_the_end(client, run)
    if summary["status"] == "stopped":  # only where a deadlock is the lesson (round-robin walks into it)
        assert SCENARIOS[slug].expects_stop, summary
        assert summary["reason"].startswith("deadlock"), summary
    else:
        assert summary["status"] == "done", summary
        assert len(summary["result"]["values"]["schedule"]) > 0
    assert events, slug


async def test_a_step_runs_clock_leaves_out_the_time_spent_waiting_for_a_step(
    client: httpx.AsyncClient,
) -> None:
    """A learner who thinks for a second between two steps: the lanes show the
    program's own time, the steps side by side, not the second of thinking."""
    thinking_s = 1.0
    run = await start(client, "race-condition", RACE, mode="step")
    await step_through(client, run, SET_OFF)
    await asyncio.sleep(thinking_s)  # the pause under test, not a synchronisation
    await step_through(client, run, LOST_UPDATE[len(SET_OFF) :])
    summary, events = await to_the_end(client, run)
    times = sorted(e[0] for e in events)
    widest_gap_s = max(b - a for a, b in itertools.pairwise(times)) / 1e9
    assert widest_gap_s < thinking_s, widest_gap_s
    assert summary["duration_ms"] < thinking_s * 1000, summary["duration_ms"]
    assert accesses(events)[:4] == [  # and what happened is what was stepped
        ("Thread-1", "read", 0),
        ("Thread-2", "read", 0),
        ("Thread-1", "write", 1),
        ("Thread-2", "write", 1),
    ]


async def test_a_recorded_schedule_replays_to_the_same_lanes_every_time(client: httpx.AsyncClient) -> None:
    run = await start(client, "race-condition", RACE, mode="step")
    await step_through(client, run, LOST_UPDATE)
    summary, events = await to_the_end(client, run)
    schedule = summary["result"]["values"]["schedule"]
    for _ in range(3):
        replay = await start(client, "race-condition", RACE, mode="replay", schedule=schedule)
        again, replayed = await finished(client, replay)
        assert again["status"] == "done", again
        assert lanes(replayed) == lanes(events)
        assert again["result"]["values"]["schedule"] == schedule
        assert again["result"]["values"]["lost_updates"] == 1


async def test_a_waiting_worker_is_drawn_waiting_and_becomes_ready_once_the_lock_is_free(
    client: httpx.AsyncClient,
) -> None:
    run = await start(client, "race-condition", RACE | {"use_lock": True}, mode="step")
    await step_through(client, run, [*SET_OFF, ("Thread-1", "acquire"), ("Thread-2", "acquire")])
    waiting = {w["worker"]: w for w in (await client.get(f"/runs/{run['id']}/ready")).json()["workers"]}
    assert waiting["Thread-2"] | {"line": 0} == {
        "worker": "Thread-2",
        "op": "acquire",
        "obj": "lock",
        "line": 0,
        "ready": False,
        "waiting": True,
    }
    refused = await step(client, run, "Thread-2")
    assert refused.status_code == 409
    assert "held by Thread-1" in refused.json()["message"]
    await step_through(client, run, [("Thread-1", "read"), ("Thread-1", "sleep"), ("Thread-1", "write")])
    await step_through(client, run, [("Thread-1", "release")])
    now = {w["worker"]: w for w in (await client.get(f"/runs/{run['id']}/ready")).json()["workers"]}
    assert now["Thread-2"]["ready"]
    assert now["Thread-2"]["waiting"]
    summary, events = await to_the_end(client, run)
    assert [e[2] for e in events if e[1] == "Thread-2" and e[3] == "lock"][:3] == ["wait", "run", "acquire"]
    assert summary["result"]["values"]["lost_updates"] == 0


async def test_the_ready_list_names_each_workers_line_of_the_lesson(client: httpx.AsyncClient) -> None:
    run = await start(client, "race-condition", RACE, mode="step")
    await step_through(client, run, [*SET_OFF])
    state = (await client.get(f"/runs/{run['id']}/ready")).json()
    source = (await client.get("/scenarios/race-condition")).json()["source"].splitlines()
    read = next(w for w in state["workers"] if w["worker"] == "Thread-1")
    assert read["op"] == "read"
    assert "value = counter.value" in source[read["line"] - 1]
    main = next(w for w in state["workers"] if w["worker"] == "main")
    assert (main["op"], main["obj"]) == ("join", "join Thread-1")
    assert "t.join()" in source[main["line"] - 1]
    await to_the_end(client, run)


async def test_explore_finds_the_lost_update_in_a_handful_of_schedules(client: httpx.AsyncClient) -> None:
    run = await start(client, "race-condition", RACE, mode="explore")
    summary, events = await finished(client, run)
    values = summary["result"]["values"]
    assert summary["status"] == "done", summary
    assert values["failure"] == "lost update: counter is 1, expected 2"
    assert values["schedules_tried"] <= 5, values
    tried, steps = values["schedules_tried"], len(values["failing_schedule"])
    assert (
        summary["result"]["summary"]
        == f"explore found a failing schedule after {tried} schedules: {values['failure']}"
    )
    assert summary["result"]["notice"].startswith(
        f"Explore tried {tried} schedules before one failed the lesson's check: {values['failure']}. "
        f"The lanes show that schedule ({steps} steps) replayed"
    )
    assert (values["mode"], values["preemption_bound"], values["exhausted"]) == ("explore", 2, False)
    assert isinstance(values["pruned"], int)
    assert values["seconds"] == round(values["seconds"], 3)  # to the millisecond
    assert values["replay"]["schedule"] == values["failing_schedule"]
    # The run's own lanes show the failing schedule replayed, and so does a replay of it.
    assert values["lesson"]["lost_updates"] == 1
    assert accesses(events)[:4] in (
        [
            ("Thread-1", "read", 0),
            ("Thread-2", "read", 0),
            ("Thread-2", "write", 1),
            ("Thread-1", "write", 1),
        ],
        [
            ("Thread-1", "read", 0),
            ("Thread-2", "read", 0),
            ("Thread-1", "write", 1),
            ("Thread-2", "write", 1),
        ],
    )
    page = await client.get(values["replay_link"])  # the page, its form set to replay it
    assert page.status_code == 200
    assert '<option value="replay" selected>' in page.text
    replay = await client.post("/runs", json=values["replay"])
    assert replay.status_code == 201, replay.text
    again, _ = await finished(client, replay.json())
    assert again["result"]["values"]["lost_updates"] == 1


async def test_explore_finds_no_lost_update_with_the_lock_in_the_whole_bounded_space(
    client: httpx.AsyncClient,
) -> None:
    run = await start(client, "race-condition", RACE | {"use_lock": True}, mode="explore")
    summary, _ = await finished(client, run)
    values = summary["result"]["values"]
    assert values["failing_schedule"] is None
    assert values["failure"] is None
    assert values["exhausted"] is True
    assert values["schedules_tried"] >= 2
    tried = values["schedules_tried"]
    assert (
        summary["result"]["summary"] == f"no failing schedule in {tried} schedules (the whole bounded space)"
    )
    assert summary["result"]["notice"] == (
        f"Explore ran the lesson under {tried} different schedules (at most 2 preemptions each) and its "
        "check never failed: with these parameters no interleaving breaks it."
    )
    assert (values["replay"], values["replay_link"], values["mode"]) == (None, None, "explore")
    assert isinstance(values["pruned"], int)


async def test_explore_finds_the_deadlock_and_replays_it_into_its_cycle(client: httpx.AsyncClient) -> None:
    run = await start(client, "deadlock", {"threads": 2, "rounds": 1}, mode="explore")
    summary, events = await finished(client, run)
    values = summary["result"]["values"]
    assert values["failure"].startswith("deadlock: "), values
    assert "Thread-1 waits for lock-2 (held by Thread-2)" in values["failure"]
    assert "Thread-2 waits for lock-1 (held by Thread-1)" in values["failure"]
    # Replayed on the run's own lanes, the watchdog catches the same cycle.
    assert summary["status"] == "stopped"
    assert summary["reason"].startswith("deadlock: ")
    assert any(e[2] == "mark" and e[3] == "deadlock" for e in events)


async def test_thread_modes_are_refused_for_other_lessons_naming_those_that_allow_them(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/runs", json={"scenario": "processes-print-numbers", "mode": "step"})
    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert problem["field"] == "mode"
    assert "thread lessons" in problem["message"]
    assert "race-condition" in problem["message"]
    assert "deadlock" in problem["message"]


async def test_replay_needs_a_schedule_and_only_replay_takes_one(client: httpx.AsyncClient) -> None:
    missing = await client.post("/runs", json={"scenario": "race-condition", "mode": "replay"})
    assert missing.status_code == 422
    assert missing.json()["problems"][0]["field"] == "schedule"
    stray = await client.post("/runs", json={"scenario": "race-condition", "schedule": ["main"]})
    assert stray.status_code == 422
    assert "replay" in stray.json()["message"]


async def test_a_schedule_that_does_not_fit_stops_the_replay_saying_where(client: httpx.AsyncClient) -> None:
    run = await start(client, "race-condition", RACE, mode="replay", schedule=["main", "Thread-7"])
    summary, _ = await finished(client, run)
    assert summary["status"] == "stopped"
    assert "step 2" in summary["reason"]
    assert "Thread-7" in summary["reason"]


async def test_steps_refused_with_the_reason(client: httpx.AsyncClient) -> None:
    run = await start(client, "race-condition", RACE, mode="step")
    unknown = await step(client, run, "Thread-9")
    assert unknown.status_code == 404
    assert "main" in unknown.json()["message"]
    no_run = await client.post("/runs/feedfacecafe/step", json={"worker": "main"})
    assert no_run.status_code == 404
    client.cookies.clear()  # the control cookie POST /runs set: a stranger has none
    anonymous = await client.post(f"/runs/{run['id']}/step", json={"worker": "main"})
    assert anonymous.status_code == 403
    await step_through(client, run, LOST_UPDATE)  # Thread-1 has finished: its update was its last step
    finished_worker = await step(client, run, "Thread-1")
    assert finished_worker.status_code == 409
    assert "Thread-1 has finished" in finished_worker.json()["message"]
    await to_the_end(client, run)
    ended = await step(client, run, "main")
    assert ended.status_code == 409
    assert "has ended" in ended.json()["message"]
    after = await client.get(f"/runs/{run['id']}/ready")  # reading it still answers: nobody is left
    assert after.status_code == 200
    assert after.json()["workers"] == []
    assert after.json()["status"] == "done"

    normal = await start(client, "race-condition", RACE)
    not_stepped = await step(client, normal, "main")
    assert not_stepped.status_code == 409
    assert "not a step run" in not_stepped.json()["message"]
    await finished(client, normal)


@pytest.fixture
async def impatient(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app with a one-second time limit."""
    from app.main import create_app

    application = create_app(Settings(database=tmp_path / "runs.sqlite", max_run_seconds=1.0))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
            yield http, application.state.manager


async def test_a_step_run_left_alone_ends_by_the_time_limit_without_leaving_threads(
    impatient: tuple[httpx.AsyncClient, Any],
) -> None:
    client, manager = impatient
    run = await start(client, "race-condition", RACE, mode="step")
    await step_through(client, run, SET_OFF[:2])  # two threads started and parked
    summary, _ = await finished(client, run)
    assert summary["status"] == "stopped"
    assert summary["reason"] == "time limit: nobody stepped it for 1 s"
    threads = manager.get(run["id"]).recorder.threads()
    assert len(threads) == 2
    assert not any(thread.is_alive() for thread in threads)


async def test_stepping_the_deadlock_lesson_into_its_cycle_stops_the_run(client: httpx.AsyncClient) -> None:
    run = await start(client, "deadlock", {"threads": 2, "rounds": 1, "hold": 0.0}, mode="step")
    await step_through(
        client,
        run,
        [
            ("main", "start"),
            ("main", "start"),
            ("Thread-1", "begin"),
            ("Thread-1", "acquire"),  # lock-1
            ("Thread-1", "sleep"),
            ("Thread-2", "begin"),
            ("Thread-2", "acquire"),  # lock-2
            ("Thread-2", "sleep"),
            ("Thread-1", "acquire"),  # lock-2: held, so Thread-1 waits
            ("Thread-2", "acquire"),  # lock-1: held, so Thread-2 waits
        ],
    )
    state = (await client.get(f"/runs/{run['id']}/ready")).json()
    assert [(w["worker"], w["ready"], w["waiting"]) for w in state["workers"]] == [
        ("main", False, False),  # before its join: it would block
        ("Thread-1", False, True),
        ("Thread-2", False, True),
    ]
    await step_through(client, run, [("main", "join")])  # into its wait: nobody can go on now
    summary, events = await finished(client, run)
    assert summary["status"] == "stopped"
    assert summary["reason"] == "deadlock: Thread-1 waits for lock-2 -> Thread-2 waits for lock-1"
    assert any(e[2] == "mark" and e[3] == "deadlock" for e in events)
    # the schedule that led into the cycle is kept, and replays into it again
    assert summary["result"]["summary"] == "stopped after 11 steps"
    assert summary["result"]["values"]["mode"] == "step"
    schedule = summary["result"]["values"]["schedule"]
    assert schedule == [*["main"] * 2, *["Thread-1"] * 3, *["Thread-2"] * 3, "Thread-1", "Thread-2", "main"]
    replay = await start(
        client, "deadlock", {"threads": 2, "rounds": 1, "hold": 0.0}, mode="replay", schedule=schedule
    )
    replayed, _ = await finished(client, replay)
    assert (replayed["status"], replayed["reason"]) == (summary["status"], summary["reason"])


async def test_workers_all_in_their_waits_are_no_deadlock_while_one_of_them_could_go_on(
    app: Any, client: httpx.AsyncClient
) -> None:
    from app.runner import Watchdog

    params = {"workers": 1, "phases": 1, "work": 0.0, "get_ready": 0.0}
    run = await start(client, "event-barrier", params, mode="step")
    await step_through(
        client,
        run,
        [
            ("main", "start"),
            ("Thread-1", "begin"),
            ("Thread-1", "wait"),  # for the start signal: into its wait
            ("main", "sleep"),
            ("main", "set"),  # Thread-1 could go on now, when stepped
            ("main", "join"),  # into its wait
        ],
    )
    live = app.state.manager.get(run["id"])
    assert set(live.recorder.waiting_for) == {"main", "Thread-1"}  # every lane is in a wait

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    watchdog = Watchdog(live, app.state.settings, 0.0, clock=clock)
    for _ in range(3):  # well past the watchdog's confirmation time
        watchdog.check()
        clock.now += 1.0
    assert live.recorder.stop_reason is None
    summary, _ = await to_the_end(client, run)
    assert summary["status"] == "done"


async def test_run_to_the_end_at_random_takes_the_same_schedule_for_the_same_seed(
    client: httpx.AsyncClient,
) -> None:
    schedules = []
    for _ in range(2):
        run = await start(client, "race-condition", RACE | {"threads": 3}, mode="step")
        response = await client.post(
            f"/runs/{run['id']}/run-to-end",
            json={"policy": "random", "seed": 7},
            headers={"X-Run-Control": run["control"]},
        )
        assert response.status_code == 200, response.text
        summary, _ = await finished(client, run)
        assert summary["status"] == "done"
        schedules.append(summary["result"]["values"]["schedule"])
    assert schedules[0] == schedules[1]
    assert len(set(schedules[0])) == 4  # main and the three threads each took steps
