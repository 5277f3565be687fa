"""Processes share nothing: they talk through a multiprocessing Queue or a Pipe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Rule, Scenario, how_it_ended, stop_reason
from app.scenarios.proc_work import consumer, pipe_consumer, pipe_producer, producer
from app.timeline import JSON
from app.traced import multiprocessing


class IpcParams(Params):
    channel: Literal["queue", "pipe"] = Field(
        "queue", description="queue: many readers and writers; pipe: exactly two ends"
    )
    consumers: int = Field(2, ge=1, le=4, description="Consumer processes (a pipe has one)")
    items: int = Field(8, ge=1, le=50, description="Items the producer makes")
    pace: float = Field(0.01, ge=0, le=0.1, description="Seconds the producer takes per item")
    work: float = Field(0.02, ge=0, le=0.2, description="Seconds a consumer takes per item")
    maxsize: int = Field(2, ge=0, le=50, description="Queue capacity (0: unbounded); a full queue blocks put")
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How processes are started"
    )

    rules = (
        Rule(
            when=("channel", "pipe"),
            only=("consumers", (1,)),
            because="a pipe has exactly one reading end: use consumers = 1, or a queue",
        ),
    )


def main(p: IpcParams) -> Result:
    mp = multiprocessing.get_context(p.start_method)
    if p.channel == "queue":
        q = mp.Queue(p.maxsize)
        workers = [mp.Process(target=producer, args=(q, p.items, p.pace, p.consumers), name="producer")]
        workers += [
            mp.Process(target=consumer, args=(q, p.work), name=f"consumer-{i + 1}")
            for i in range(p.consumers)
        ]
    else:
        reading, writing = mp.Pipe()
        workers = [
            mp.Process(target=pipe_producer, args=(writing, p.items, p.pace), name="producer"),
            mp.Process(target=pipe_consumer, args=(reading, p.work), name="consumer-1"),
        ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return outcome(p, workers)


def outcome(p: IpcParams, workers: list[multiprocessing.Process]) -> Result:
    values: dict[str, JSON] = {
        "items": p.items,
        "consumers": p.consumers,
        "exit_codes": [w.exitcode for w in workers],
    }
    if (reason := stop_reason()) is not None:
        return Result(f"stopped before all {p.items} items had gone through", values | {"stopped": reason})
    died = [w for w in workers if w.exitcode]
    if died:
        return Result(
            "; ".join(f"{w.name} {how_it_ended(w.exitcode)}" for w in died)
            + ": not every item may have arrived",
            values | {"died": [w.name for w in died]},
        )
    return Result(
        f"{p.items} items went from the producer to {p.consumers} consumer(s) through a {p.channel}",
        values,
        notice=(
            f"The producer sent {p.items} items through a {p.channel}; every arrow runs from a put "
            "to the get that received it, across processes, and each item reached exactly one consumer."
        ),
    )


SCENARIO = Scenario(
    slug="process-queue-pipe",
    title="Queue and Pipe between processes",
    group="Processes",
    notice=(
        "Every arrow runs from the put that sent an item to the get that received it, "
        "across processes. Consumers wait (red) on an empty queue; with a small maxsize "
        "the producer waits on a full one. Each item goes to exactly one consumer."
    ),
    params=IpcParams,
    main=main,
    order=30,
    code=(producer, consumer, pipe_producer, pipe_consumer, main, outcome),
)
