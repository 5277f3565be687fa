"""The same I/O-bound work in turn, in N threads, N processes and N asyncio tasks, on
one time axis: waiting overlaps in every model; what differs is what it costs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.measure import measured
from app.scenarios.base import Params, Result, Scenario
from app.scenarios.compare import compare_result
from app.scenarios.proc_work import fetch
from app.traced import asyncio, multiprocessing, threading


class CompareIoParams(Params):
    workers: int = Field(4, ge=1, le=16, description="N: how many requests, and threads, processes or tasks")
    wait: float = Field(0.2, ge=0.01, le=1.0, description="Seconds each request waits for its reply")
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How the processes are started"
    )


def in_turn(waits: list[float]) -> None:
    for seconds in waits:
        fetch(seconds)


async def fetch_async(seconds: float) -> None:
    await asyncio.sleep(seconds)  # the task waits; the loop runs the others meanwhile


async def fetch_all(waits: list[float]) -> None:
    await asyncio.gather(*(fetch_async(seconds) for seconds in waits))


def main(p: CompareIoParams) -> Result:
    waits = [p.wait] * p.workers
    with measured("sequential") as sequential:
        alone = threading.Thread(target=in_turn, args=(waits,), name="sequential")
        alone.start()
        alone.join()
    with measured("threads") as in_threads:
        threads = [threading.Thread(target=fetch, args=(seconds,)) for seconds in waits]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    mp = multiprocessing.get_context(p.start_method)
    with measured("processes") as in_processes:
        processes = [mp.Process(target=fetch, args=(seconds,)) for seconds in waits]
        for proc in processes:
            proc.start()
        for proc in processes:
            proc.join()
    with measured("asyncio") as in_tasks:
        asyncio.run(fetch_all(waits))
    died = [t.name for t in [alone, *threads] if t.error is not None]
    died += [proc.name for proc in processes if proc.exitcode != 0]
    return compare_result(
        [sequential, in_threads, in_processes, in_tasks],
        p.workers,
        f"wait {p.wait:g} s for a reply",
        died,
    )


SCENARIO = Scenario(
    slug="compare-io",
    title="I/O-bound: threads, processes or asyncio?",
    group="Compare",
    notice=(
        "The same requests four ways, on one time axis: one after another, in N threads, N "
        "processes and N asyncio tasks. Waiting (blue) needs no CPU and no GIL, so every "
        "model overlaps the waits: N at once take about as long as one. Processes pay "
        "for starting (purple); asyncio tasks are the cheapest: one thread, one loop."
    ),
    params=CompareIoParams,
    main=main,
    order=20,
    code=(fetch, in_turn, fetch_async, fetch_all, main),
)
