"""The synchronisation lessons over the HTTP API: each one's behaviour, checked in the
events it recorded (holders counted from acquire/release, links from notify to the
waiter it woke, the deadlock cycle), not just that the run finished."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import Wire, finished_run

pytestmark = pytest.mark.anyio


def holders(events: list[Wire], obj: str) -> list[int]:
    held, counts = 0, []
    for e in events:
        if e[3] == obj and e[2] in ("acquire", "release"):
            held += 1 if e[2] == "acquire" else -1
            counts.append(held)
    return counts


def stale_writes(events: list[Wire], obj: str) -> list[tuple[Wire, Wire]]:
    """(read, write) pairs where another worker wrote between a worker's read and its write."""
    last_read: dict[str, tuple[Wire, int]] = {}
    version, found = 0, []
    for e in events:
        if e[3] != obj:
            continue
        if e[2] == "read":
            last_read[e[1]] = (e, version)
        elif e[2] == "write":
            if e[1] in last_read and last_read[e[1]][1] != version:
                found.append((last_read[e[1]][0], e))
            version += 1
    return found


def threads_of(app: FastAPI, summary: dict[str, Any]) -> list[threading.Thread]:
    recorder = app.state.manager.get(summary["id"]).recorder
    return [t for t in threading.enumerate() if getattr(t, "_recorder", None) is recorder]


def assert_every_lane_ended(events: list[Wire]) -> None:
    last: dict[str, str] = {}
    for e in events:
        if e[2] in ("start", "run", "io", "wait", "gil", "done", "crash"):
            last[e[1]] = e[2]
    assert set(last.values()) == {"done"}, last


# --- races -----------------------------------------------------------------------
async def test_without_a_lock_updates_are_lost_at_default_parameters_every_time(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        summary, events = await finished_run(client, "race-condition")
        values = summary["result"]["values"]
        assert values["expected"] == 80
        assert values["lost_updates"] == values["expected"] - values["actual"] > 0
        writes = [e for e in events if e[2] == "write" and e[3] == "counter"]
        assert writes[-1][4] == values["actual"]
        # The interleaving that lost one: a read, another thread's write, then the
        # first thread's write of its stale value plus one.
        read, write = stale_writes(events, "counter")[0]
        assert read[1] == write[1]
        assert write[4] == read[4] + 1
        between = [e for e in events if e[2] == "write" and read[0] < e[0] < write[0]]
        assert any(e[1] != read[1] for e in between)


async def test_with_the_lock_no_update_is_lost(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        summary, events = await finished_run(client, "race-condition", use_lock=True)
        values = summary["result"]["values"]
        assert values["actual"] == values["expected"] == 80
        assert values["lost_updates"] == 0
        assert stale_writes(events, "counter") == []
        assert max(holders(events, "lock")) == 1


async def test_thirty_two_racing_threads_lose_updates_too(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "race-condition", threads=32, iterations=5)
    assert summary["status"] == "done"
    assert summary["result"]["values"]["lost_updates"] > 0
    assert len({e[1] for e in events}) == 33


# --- semaphore ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
async def test_a_semaphore_never_lets_more_than_k_threads_hold_a_slot(
    client: httpx.AsyncClient, kind: str
) -> None:
    summary, events = await finished_run(client, "semaphore", threads=6, slots=2, kind=kind)
    counts = holders(events, "slots")
    assert max(counts) == 2 == summary["result"]["values"]["max_holders"]
    assert counts[-1] == 0
    levels = [e[4] for e in events if e[2] == "level" and e[3] == "slots"]
    assert levels == [2] + [2 - c for c in counts]  # the gauge: free slots, event for event
    free = 2
    waits = 0
    for e in events:
        if e[3] == "slots" and e[2] == "level":
            free = e[4]
        if e[3] == "slots" and e[2] == "wait":
            waits += 1
            assert free == 0  # a thread waits only while every slot is taken
    assert waits > 0
    wakes = [e for e in events if e[2] == "run" and e[3] == "slots"]
    assert len(wakes) == waits
    assert all(e[5].startswith("Thread-") and e[5] != e[1] for e in wakes)


# --- condition and queue ----------------------------------------------------------
async def test_every_notify_that_woke_a_waiter_is_linked_to_it(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "condition-buffer", produce_time=0.005, consume_time=0.005)
    assert summary["status"] == "done"
    assert summary["result"]["values"]["consumed"] == 16
    notifies = [e for e in events if e[2] == "notify"]
    woke = [(n, name) for n in notifies for name in n[4]]
    assert woke, "three consumers share two producers' items: some must wait, and be woken"
    for notify, name in woke:
        wake = next(
            e for e in events if e[1] == name and e[2] == "run" and e[3] == notify[3] and e[0] >= notify[0]
        )
        assert wake[5] == notify[1]
    # ...and every wait on a condition ended by such a wake-up.
    cond_waits = [e for e in events if e[2] == "wait" and e[3] in ("not_empty", "not_full")]
    cond_wakes = [e for e in events if e[2] == "run" and e[3] in ("not_empty", "not_full")]
    assert len(cond_waits) == len(cond_wakes) == len(woke)


@pytest.mark.parametrize(
    ("faster", "produce_time", "consume_time"), [("consumers", 0.01, 0.0), ("producers", 0.0, 0.01)]
)
async def test_consumers_wait_on_empty_and_producers_on_full(
    client: httpx.AsyncClient, faster: str, produce_time: float, consume_time: float
) -> None:
    _, events = await finished_run(
        client, "condition-buffer", capacity=2, produce_time=produce_time, consume_time=consume_time
    )
    level, seen = 0, Counter[str]()
    for e in events:
        if e[2] == "level" and e[3] == "buffer":
            level = e[4]
            assert 0 <= level <= 2
        if e[2] == "wait" and e[3] == "not_empty":
            assert level == 0
            seen["empty"] += 1
        if e[2] == "wait" and e[3] == "not_full":
            assert level == 2
            seen["full"] += 1
    # Whichever side is faster waits for the other: on empty or on full.
    assert seen["empty" if faster == "consumers" else "full"] > 0


async def test_notify_all_wakes_every_waiter_and_is_still_linked(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "condition-buffer", wake="notify_all")
    assert summary["result"]["values"]["consumed"] == 16
    for notify in (e for e in events if e[2] == "notify"):
        for name in notify[4]:
            assert any(e[1] == name and e[2] == "run" and e[5] == notify[1] for e in events)


@pytest.mark.parametrize(
    ("faster", "produce_time", "consume_time"), [("consumers", 0.01, 0.0), ("producers", 0.0, 0.01)]
)
async def test_queue_gets_link_to_the_putter_and_blocking_calls_are_waits(
    client: httpx.AsyncClient, faster: str, produce_time: float, consume_time: float
) -> None:
    summary, events = await finished_run(
        client, "queue-buffer", maxsize=2, produce_time=produce_time, consume_time=consume_time
    )
    assert summary["result"]["values"]["consumed"] == 16
    puts = [e for e in events if e[2] == "put"]
    gets = [e for e in events if e[2] == "get"]
    assert len(puts) == len(gets) == 16 + 3  # and one end marker per consumer
    putter = {}
    for e in puts:
        if e[4] != "None":
            putter[e[4]] = e[1]
    for e in gets:
        if e[4] != "None":
            assert e[5] == putter[e[4]]  # GET links to the worker whose PUT it took
    level, waits = 0, Counter[str]()
    for e in events:
        if e[2] == "level" and e[3] == "queue":
            level = e[4]
            assert 0 <= level <= 2
        if e[2] == "wait" and e[3] == "queue":
            waits["full" if level == 2 else "empty"] += 1
            assert level in (0, 2)
    assert waits["empty" if faster == "consumers" else "full"] > 0
    wakes = [e for e in events if e[2] == "run" and e[3] == "queue"]
    assert len(wakes) == sum(waits.values())
    assert all(e[5].startswith(("producer-", "consumer-", "main")) and e[5] != e[1] for e in wakes)


# --- event and barrier ------------------------------------------------------------
async def test_workers_start_on_one_signal_and_are_released_together_each_phase(
    client: httpx.AsyncClient,
) -> None:
    summary, events = await finished_run(client, "event-barrier", workers=5, phases=3)
    assert summary["status"] == "done"
    workers = {f"Thread-{i}" for i in range(1, 6)}
    starts = [e for e in events if e[2] == "run" and e[3] == "start"]
    assert {e[1] for e in starts} == workers
    assert all(e[5] == "main" for e in starts)
    releases = [e for e in events if e[2] == "notify" and e[3] == "barrier"]
    assert [e[4] for e in releases] == [1, 2, 3]
    for release in releases:
        woken = [
            e for e in events if e[2] == "run" and e[3] == "barrier" and e[4] is None and e[5] == release[1]
        ]
        after = [e for e in woken if e[0] >= release[0]]
        assert len(after) >= 4  # the four others, every one linked to the last arrival
    assert len([e for e in events if e[2] == "run" and e[3] == "barrier"]) == 3 * 4


# --- rlock ----------------------------------------------------------------------
async def test_an_rlock_is_re_entered_and_the_run_completes(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "rlock")
    assert summary["status"] == "done"
    assert summary["result"]["values"] == {"withdrawals": 6, "balance": 940}
    reentries = [e for e in events if e[2] == "acquire" and e[4] == 2]
    assert len(reentries) == 6
    assert max(holders(events, "account")) == 2  # one thread, twice; never two threads
    owner = None
    for e in events:
        if e[3] == "account" and e[2] == "acquire" and e[4] == 1:
            assert owner is None
            owner = e[1]
        if e[3] == "account" and e[2] == "release" and e[4] == 0:
            owner = None


async def test_a_plain_lock_taken_twice_is_caught_as_a_self_deadlock(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    started = time.monotonic()
    summary, events = await finished_run(client, "rlock", lock="Lock")
    assert time.monotonic() - started < 5
    assert summary["status"] == "stopped"
    assert summary["expects_stop"] is True
    # Whichever customer takes the lock first waits for it again, forever: on a busy
    # machine that is not always the first one started.
    [mark] = [e for e in events if e[2] == "mark" and e[3] == "deadlock"]
    [[holder, lock]] = mark[4]["cycle"]
    assert (holder, lock) in {("Thread-1", "account"), ("Thread-2", "account")}
    assert summary["reason"] == f"deadlock: {holder} waits for account"
    first_acquire = next(e for e in events if e[2] == "acquire" and e[3] == "account")
    assert first_acquire[1] == holder
    assert_every_lane_ended(events)
    assert threads_of(app, summary) == []


# --- deadlock -------------------------------------------------------------------
async def test_a_deadlock_is_detected_and_the_run_stopped_within_bounded_time(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    started = time.monotonic()
    summary, events = await finished_run(client, "deadlock")
    assert time.monotonic() - started < 5
    assert summary["status"] == "stopped"
    assert summary["reason"].startswith("deadlock: ")
    [mark] = [e for e in events if e[2] == "mark" and e[3] == "deadlock"]
    assert mark[4] == {"cycle": [["Thread-1", "lock-2"], ["Thread-2", "lock-1"]]}
    # The cycle is real in the events: each holds the lock the other waits for.
    for worker, held, wanted in (("Thread-1", "lock-1", "lock-2"), ("Thread-2", "lock-2", "lock-1")):
        mine = [e for e in events if e[1] == worker and e[0] <= mark[0]]
        assert holders([e for e in mine], held)[-1] == 1
        assert [e for e in mine if e[2] in ("wait", "run", "io")][-1][2:4] == ["wait", wanted]
    assert_every_lane_ended(events)
    assert threads_of(app, summary) == []
    assert all(holders(events, lock)[-1] == 0 for lock in ("lock-1", "lock-2"))  # every lock given back


async def test_the_same_lock_order_runs_to_completion(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "deadlock", same_order=True)
    assert summary["status"] == "done"
    assert summary["result"]["values"] == {"rounds_done": 6, "rounds_planned": 6}
    assert not [e for e in events if e[2] == "mark"]


async def test_a_ring_of_thirty_two_threads_is_one_cycle_of_thirty_two(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    summary, events = await finished_run(client, "deadlock", threads=32)
    assert summary["status"] == "stopped"
    [mark] = [e for e in events if e[2] == "mark" and e[3] == "deadlock"]
    cycle = mark[4]["cycle"]
    assert [w for w, _ in cycle] == [f"Thread-{i}" for i in range(1, 33)]
    assert [o for _, o in cycle] == [f"lock-{i % 32 + 1}" for i in range(1, 33)]
    assert_every_lane_ended(events)
    assert threads_of(app, summary) == []


async def test_a_forgotten_notify_leaves_every_thread_waiting_and_is_caught(
    client: httpx.AsyncClient,
) -> None:
    summary, events = await finished_run(client, "condition-buffer", wake="forget")
    assert summary["status"] == "stopped"
    assert summary["reason"].startswith("deadlock: every thread is waiting")
    [mark] = [e for e in events if e[2] == "mark" and e[3] == "deadlock"]
    stuck = dict(mark[4]["stuck"])
    # main is joining a thread, or (if the producers got to finish first, as on a busy
    # machine) putting an end marker into a full buffer
    assert stuck["main"].startswith("join ") or stuck["main"] == "not_full", stuck["main"]
    assert {obj for worker, obj in stuck.items() if worker != "main"} <= {"not_empty", "not_full"}
    assert not [e for e in events if e[2] == "notify"]  # nobody was ever told
