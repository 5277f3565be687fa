"""Producers and consumers through a queue.Queue(maxsize): the locking is inside."""

from __future__ import annotations

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.timeline import JSON
from app.traced import queue, threading, time


class QueueParams(Params):
    producers: int = Field(2, ge=1, le=16, description="Threads that put items")
    consumers: int = Field(3, ge=1, le=16, description="Threads that get items")
    maxsize: int = Field(3, ge=1, le=20, description="How many items the queue holds")
    items: int = Field(8, ge=1, le=100, description="Items each producer puts")
    produce_time: float = Field(0.004, ge=0, le=0.1, description="Seconds to make one item")
    consume_time: float = Field(0.012, ge=0, le=0.1, description="Seconds to use one item")


def main(p: QueueParams) -> Result:
    q = queue.Queue(maxsize=p.maxsize, name="queue")
    consumed: list[int] = []

    def producer(first: int) -> None:
        for item in range(first, first + p.items):
            time.sleep(p.produce_time)  # making the item
            q.put(item)  # waits while the queue is full

    def consumer() -> None:
        while (item := q.get()) is not None:  # waits while the queue is empty
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
        q.put(None)  # one end marker per consumer
    for t in consumers:
        t.join()
    return outcome(p, len(consumed))


def outcome(p: QueueParams, used: int) -> Result:
    made = p.producers * p.items
    values: dict[str, JSON] = {"produced": made, "consumed": used, "maxsize": p.maxsize}
    if (reason := stop_reason()) is not None:
        values["stopped"] = reason
        del values["produced"]
        return Result(
            f"stopped after {used} of {made} items were used",
            values,
            notice="The run was stopped part way: only the items used before the stop are counted.",
        )
    return Result(
        f"{made} items put, {used} used, through a queue of {p.maxsize}",
        values,
        notice=(
            f"{p.producers} producer(s) put {made} items into a queue of {p.maxsize}; "
            f"{p.consumers} consumer(s) got all {used}. Each arrow joins a get to the producer "
            "that put that item; a put waits (red) while the queue is full, a get while it is empty."
        ),
    )


SCENARIO = Scenario(
    slug="queue-buffer",
    title="Queue: producer / consumer",
    group="Synchronisation",
    notice=(
        "The same producers and consumers with a queue.Queue: no lock or condition in our "
        "code, the queue has them inside. get() waits while it is empty, put() while it is "
        "full; each arrow joins a get to the thread that put that item."
    ),
    params=QueueParams,
    main=main,
    order=40,
    code=(main, outcome),
)
