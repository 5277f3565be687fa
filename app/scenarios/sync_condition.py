"""Producers and consumers on a bounded buffer, with condition variables."""

from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.timeline import JSON
from app.traced import threading, time
from app.traced.shared import gauge


class BufferParams(Params):
    producers: int = Field(2, ge=1, le=16, description="Threads that make items")
    consumers: int = Field(3, ge=1, le=16, description="Threads that take items")
    capacity: int = Field(3, ge=1, le=20, description="How many items the buffer holds")
    items: int = Field(8, ge=1, le=100, description="Items each producer makes")
    produce_time: float = Field(0.004, ge=0, le=0.1, description="Seconds to make one item")
    consume_time: float = Field(0.012, ge=0, le=0.1, description="Seconds to use one item")
    wake: Literal["notify", "notify_all", "forget"] = Field(
        "notify",
        description=(
            "notify wakes one waiter; notify_all wakes every one (most go back to sleep); "
            "forget is the classic bug: nobody is told"
        ),
    )


def main(p: BufferParams) -> Result:
    buffer: deque[int | None] = deque()
    lock = threading.Lock(name="buffer lock")
    not_empty = threading.Condition(lock, name="not_empty")
    not_full = threading.Condition(lock, name="not_full")
    consumed: list[int] = []
    gauge("buffer", 0)

    def wake(condition: threading.Condition) -> None:
        if p.wake == "notify":
            condition.notify()  # wake one waiter
        elif p.wake == "notify_all":
            condition.notify_all()  # wake every waiter
        # "forget": nobody is told, so a waiter sleeps forever

    def put(item: int | None) -> None:
        with not_full:
            while len(buffer) >= p.capacity:
                not_full.wait()  # full: wait until a consumer takes one
            buffer.append(item)
            gauge("buffer", len(buffer))
            wake(not_empty)  # a consumer may be waiting for an item

    def producer(first: int) -> None:
        for item in range(first, first + p.items):
            time.sleep(p.produce_time)  # making the item
            put(item)

    def consumer() -> None:
        while True:
            with not_empty:
                while not buffer:
                    not_empty.wait()  # empty: wait until a producer puts one
                item = buffer.popleft()
                gauge("buffer", len(buffer))
                wake(not_full)  # a producer may be waiting for room
            if item is None:  # the end-of-work marker
                return
            time.sleep(p.consume_time)  # using the item
            consumed.append(item)

    producers = [
        threading.Thread(target=producer, args=(i * 1000,), name=f"producer-{i + 1}")
        for i in range(p.producers)
    ]
    consumers = [threading.Thread(target=consumer, name=f"consumer-{i + 1}") for i in range(p.consumers)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        put(None)  # one end marker per consumer
    for t in consumers:
        t.join()
    return outcome(p, len(consumed))


def outcome(p: BufferParams, used: int) -> Result:
    made = p.producers * p.items
    values: dict[str, JSON] = {"produced": made, "consumed": used, "capacity": p.capacity}
    if (reason := stop_reason()) is not None:
        values["stopped"] = reason
        del values["produced"]  # how many were made before the stop was not counted
        return Result(
            f"stopped after {used} of {made} items were used",
            values,
            notice="The run was stopped part way: only the items used before the stop are counted.",
        )
    woken = {
        "notify": "each notify woke one waiter",
        "notify_all": "each notify_all woke every waiter, and most went back to waiting",
        "forget": "nobody notified",
    }[p.wake]
    return Result(
        f"{made} items made, {used} used, through a buffer of {p.capacity}",
        values,
        notice=(
            f"{p.producers} producer(s) and {p.consumers} consumer(s) shared a buffer of "
            f"{p.capacity}: {woken}, and all {used} items went through. The gauge under the "
            "lanes is the buffer's fill."
        ),
    )


SCENARIO = Scenario(
    slug="condition-buffer",
    title="Condition: producer / consumer",
    group="Synchronisation",
    notice=(
        "Consumers wait on not_empty while the buffer is empty; producers wait on not_full "
        "while it is full (the gauge under the lanes). Each arrow goes from the notify to "
        "the thread it woke, which then queues for the lock. With notify_all every waiter "
        "wakes, most find nothing and wait again. With forget, waiters are never woken: "
        "soon every thread waits and the server calls it a deadlock."
    ),
    params=BufferParams,
    main=main,
    order=30,
    code=(main, outcome),
)
