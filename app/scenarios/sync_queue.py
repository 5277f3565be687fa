"""Producers and consumers through a queue.Queue(maxsize): the locking is inside."""

from __future__ import annotations

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario
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

    producers = [threading.Thread(target=producer, args=(i * 1000,)) for i in range(p.producers)]
    consumers = [threading.Thread(target=consumer) for _ in range(p.consumers)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        q.put(None)  # one end marker per consumer
    for t in consumers:
        t.join()
    return Result(
        f"{p.producers * p.items} items put, {len(consumed)} used, through a queue of {p.maxsize}",
        {"produced": p.producers * p.items, "consumed": len(consumed), "maxsize": p.maxsize},
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
)
