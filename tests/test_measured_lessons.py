"""The measured lessons over the HTTP API: the comparisons, asyncio, separate memory,
responsiveness and the lock counter without its lock, each asserted from the run's
own events and numbers, with margins that hold on a shared, noisy 2-core machine."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import httpx
import pytest

from tests.helpers import Wire, finished_run, gil_share

pytestmark = pytest.mark.anyio

STATES = {"start", "run", "io", "wait", "gil", "done", "crash"}


def band_lanes(events: list[Wire], band: str) -> list[str]:
    return [e[1] for e in events if e[2] == "start" and e[3] == band]


def time_in_states(events: list[Wire], lanes: list[str]) -> dict[str, int]:
    """ns the lanes spent in each state together; gil split by what it waits for."""
    spent: dict[str, int] = defaultdict(int)
    for lane in lanes:
        mine = [e for e in events if e[1] == lane and e[2] in STATES]
        for here, following in pairwise(mine):
            spent[f"gil:{here[3]}" if here[2] == "gil" else here[2]] += following[0] - here[0]
    return dict(spent)


def waits_in_flight_together(events: list[Wire], lanes: list[str]) -> bool:
    """Each lane's first wait on I/O began before any of them ended: at one moment all
    of them were waiting at once."""
    began, ended = [], []
    for lane in lanes:
        mine = [e for e in events if e[1] == lane and e[2] in STATES]
        waiting = next(i for i, e in enumerate(mine) if e[2] == "io")
        began.append(mine[waiting][0])
        ended.append(mine[waiting + 1][0])
    return max(began) < min(ended)


def free_cores(values: dict[str, Any], band: str) -> float:
    """Cores other programs left us during a model's phase (the run measured it)."""
    available = values["models"][band]["available_cores"]
    return values["cores"] if available is None else available


# --- the comparisons ------------------------------------------------------------------
async def test_compare_cpu_threads_gain_nothing_while_processes_use_every_free_core(
    client: httpx.AsyncClient,
) -> None:
    summary, events = await finished_run(client, "compare-cpu", workers=4, below=60_000)
    assert summary["status"] == "done", summary
    values = summary["result"]["values"]
    models = values["models"]
    assert set(models) == {"sequential", "threads", "processes"}
    assert values["interpreter"]["gil_enabled"] is True  # this suite runs on CPython 3.11
    assert band_lanes(events, "sequential") == ["sequential"]
    assert len(band_lanes(events, "threads")) == len(band_lanes(events, "processes")) == 4
    for model in models.values():
        assert model["cpu_ms"] > 0
        assert 0 < model["utilisation"] <= 1.05
        assert sum(model["states"].values()) == pytest.approx(1, abs=0.01)
    # With the GIL the threads ran one at a time: together they kept at most one core
    # busy, however loaded the machine. (Their speedup against the sequential phase is
    # not asserted: beside CPU hogs the same jobs took 892 ms of CPU in that phase and
    # 537 ms in the threads', so the baseline alone moved the ratio to 1.9x.)
    threads = models["threads"]
    assert threads["cpu_ms"] / threads["wall_ms"] <= 1.15, models
    # Other programs share this machine: the run measured the cores they left free
    # meanwhile. The processes ran at once: they kept most of those cores busy. (Not
    # their speedup: beside the hogs and a mutation run the same jobs took 682 ms of CPU
    # as processes and 468 ms in the sequential phase, 1.15x where 1.73 cores were free.)
    free = min(4, free_cores(values, "processes"))
    processes = models["processes"]
    if values["cores"] >= 2 and free >= 1.5:
        assert processes["cpu_ms"] / processes["wall_ms"] > 0.7 * free, (models, free)
    elif values["cores"] >= 2:
        # Other programs took most of the cores meanwhile (measured beside three CPU hogs:
        # 1.0 left free, a speedup of 1.28 against the 2.0 the free cores allowed, as the
        # share each program got moved): the lesson says so instead of claiming the speed.
        assert "other programs took" in summary["result"]["summary"], summary["result"]["summary"]
    # They are drawn waiting for the GIL. How much of their waiting is the GIL's and how
    # much a core's is up to the load (beside a soak's hogs: 24 ms GIL, 561 ms core, a
    # share of 3.8 %), and how much they overlap is up to the OS that starts them; the
    # sampler's tests pin the split by hand.
    spent = time_in_states(events, band_lanes(events, "threads"))
    assert spent.get("gil:GIL", 0) > 0, spent
    assert "4 threads:" in summary["result"]["summary"]
    assert "4 processes:" in summary["result"]["summary"]


async def test_compare_io_threads_and_asyncio_overlap_their_waits(client: httpx.AsyncClient) -> None:
    n = 4
    # Waits of 0.5 s: long beside starting the threads, even on a loaded machine.
    summary, events = await finished_run(client, "compare-io", workers=n, wait=0.5)
    assert summary["status"] == "done", summary
    models = summary["result"]["values"]["models"]
    assert set(models) == {"sequential", "threads", "processes", "asyncio"}
    # Their waits overlap: what the lesson shows, and what load cannot undo (a speedup
    # bar could: asyncio measured 2.28x, under the 2.4x asked, beside a soak and a
    # mutation run at load 7 on 2 cores, its loop late by 0.38 s after the processes).
    # gather() starts every sleep before the loop looks at a timer; the threads start
    # within milliseconds of each other, their waits last 0.5 s.
    for band in ("threads", "asyncio"):
        assert len(band_lanes(events, band)) == n
        assert waits_in_flight_together(events, band_lanes(events, band)), (band, models)
    tasks = time_in_states(events, band_lanes(events, "asyncio"))
    assert tasks["io"] > 0.5 * sum(tasks.values())  # tasks wait on I/O: blue, not running


async def test_a_lone_cpu_bound_thread_shows_at_most_2_percent_gil_wait(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "compare-cpu", workers=1, below=80_000)
    assert summary["status"] == "done", summary
    [lane] = band_lanes(events, "threads")
    spent = time_in_states(events, [lane])
    assert gil_share(spent) <= 0.02, spent
    assert summary["result"]["values"]["models"]["threads"]["states"]["gil"] <= 0.02


# --- asyncio --------------------------------------------------------------------------
async def test_a_blocking_call_in_a_coroutine_stalls_every_other_task(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(
        client, "asyncio-tasks", tasks=4, ticks=3, wait=0.02, blocking=True, block_for=0.3
    )
    assert summary["status"] == "done", summary
    tasks = band_lanes(events, "asyncio")
    assert len(tasks) == 4
    blocked = [e for e in events if e[1] == "Task-1" and e[2] == "io" and e[3] == ""]  # time.sleep
    [start] = blocked
    end = next(e[0] for e in events if e[1] == "Task-1" and e[2] == "run" and e[0] > start[0])
    assert end - start[0] >= 300_000_000
    for task in tasks[1:]:
        mine = [e for e in events if e[1] == task]
        # Nothing happens on another task while Task-1 holds the thread...
        assert not [e for e in mine if start[0] < e[0] < end and e[2] != "wait"], mine
        # ...and each shows it was ready but waited for the loop until the call returned.
        stall = next(e for e in mine if e[2] == "wait" and e[3] == "event loop")
        resumed = next(e for e in mine if e[0] > stall[0] and e[2] == "run")
        assert stall[0] < end <= resumed[0]
    assert sorted(summary["result"]["values"]["stalled"]) == tasks[1:]


async def test_asyncio_tasks_without_a_blocking_call_overlap_on_one_thread(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "asyncio-tasks", tasks=5, ticks=3, wait=0.1, blocking=False)
    assert summary["status"] == "done"
    assert len(band_lanes(events, "asyncio")) == 5
    prints = [e for e in events if e[2] == "print"]
    assert len(prints) == 15
    # 5 tasks x 3 waits of 0.1 s, overlapped: far less than the 1.5 s they add up to.
    assert prints[-1][0] - prints[0][0] < 0.75e9


# --- the claims the tutorial made without a lesson --------------------------------------
async def test_the_parent_does_not_see_a_child_process_change_a_global_but_sees_a_thread_do_it(
    client: httpx.AsyncClient,
) -> None:
    summary, events = await finished_run(client, "separate-memory")
    assert summary["status"] == "done", summary
    values = summary["result"]["values"]
    assert values["parent_after_child"] == values["parent_before"]
    assert values["child_change_seen"] is False
    assert values["parent_after_thread"] == values["parent_after_child"] + 1
    assert values["shared_value"] == 1
    child_says = next(e[4] for e in events if e[1] == "child" and e[2] == "print")
    assert child_says == "the child: counter is now 1 here"  # its own copy, from 0


async def test_a_thread_keeps_the_main_loop_answering_while_a_download_waits(
    client: httpx.AsyncClient,
) -> None:
    summary, events = await finished_run(client, "responsiveness", ticks=14, every=0.1, download=1.0)
    assert summary["status"] == "done", summary
    values = summary["result"]["values"]
    assert values["inline_worst_ms"] >= 800  # main itself waited for the download
    assert [e[1] for e in events if e[2] == "start" and e[1] != "main"] == ["download"]
    # With the download in a thread, main kept answering while it waited: ticks printed
    # during the download lane's 1 s wait (a tick every 0.1 s). How late the worst one
    # was is up to the machine: 554 ms beside a soak and two mutation runs.
    download = [e for e in events if e[1] == "download" and e[2] in STATES]
    waiting = next(i for i, e in enumerate(download) if e[2] == "io")
    began, ended = download[waiting][0], download[waiting + 1][0]
    ticks = [e for e in events if e[1] == "main" and e[2] == "print" and str(e[4]).startswith("tick")]
    assert len([e for e in ticks if began < e[0] < ended]) >= 2, (values, ticks)


async def test_the_lock_counter_without_its_lock_reports_honestly_what_was_lost(
    client: httpx.AsyncClient,
) -> None:
    summary, _ = await finished_run(client, "lock-counter", use_lock=False, iterations=200_000, hold=0)
    assert summary["status"] == "done"
    result = summary["result"]
    values = result["values"]
    assert values["updates"] == 800_000
    assert values["off_by"] == values["counter"] - values["expected"]
    if values["off_by"]:
        assert "lost" in result["summary"]
    else:  # CPython 3.11 here: the result must say why none was lost, not claim safety
        assert "none of the 800,000 unlocked updates was lost here" in result["summary"]
        assert "CPython 3.11" in result["notice"]
        assert "still a race" in result["notice"]


async def test_a_locked_counter_past_the_event_limit_is_stopped_and_says_so(
    client: httpx.AsyncClient, app: Any
) -> None:
    app.state.manager.settings.max_events_per_run = 2_000
    summary, _ = await finished_run(client, "lock-counter", use_lock=True, iterations=100_000, hold=0)
    assert summary["status"] == "stopped"
    assert summary["reason"].startswith("event limit")
    # Main is stopped in its join (no result), or its threads ended before the join looked
    # at the stop: then it counts only the updates made before the stop, and says so.
    result = summary["result"]
    assert result is None or result["summary"].startswith("stopped after"), result


async def test_lanes_with_roles_are_named_by_them(client: httpx.AsyncClient) -> None:
    _, events = await finished_run(client, "condition-buffer", producers=2, consumers=2, items=3)
    lanes = {e[1] for e in events if e[2] == "start"}
    assert lanes == {"main", "producer-1", "producer-2", "consumer-1", "consumer-2"}


async def test_a_notice_is_written_from_the_run_s_numbers(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "semaphore", threads=5, slots=2, uses=2)
    most = held = 0
    for e in events:
        if e[3] == "slots" and e[2] in ("acquire", "release"):
            held += 1 if e[2] == "acquire" else -1
            most = max(most, held)
    assert summary["result"]["notice"].startswith(f"2 slots: at most {most} held at once, measured")
