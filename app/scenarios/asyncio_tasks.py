"""asyncio: many tasks on one thread. They overlap while they await; one blocking
call inside a coroutine stops the loop, and every task with it."""

from __future__ import annotations

from pydantic import Field

from app.measure import Phase, measured
from app.scenarios.base import Params, Result, Scenario, plural, stop_reason
from app.timeline import JSON, Kind
from app.traced import asyncio, print, time
from app.tracing import here


class TasksParams(Params):
    tasks: int = Field(3, ge=1, le=16, description="How many tasks run at once on the loop")
    ticks: int = Field(4, ge=1, le=20, description="How many times each task waits, then prints")
    wait: float = Field(0.05, ge=0.001, le=0.5, description="Seconds each await asyncio.sleep() waits")
    blocking: bool = Field(
        True, description="Task 1 calls time.sleep() once, a blocking call, instead of awaiting"
    )
    block_for: float = Field(0.2, ge=0.01, le=2.0, description="Seconds that blocking call takes")


async def worker(n: int, p: TasksParams) -> None:
    for tick in range(1, p.ticks + 1):
        if p.blocking and n == 1 and tick == 2:
            time.sleep(p.block_for)  # blocks the thread: the loop cannot run anyone else
        else:
            await asyncio.sleep(p.wait)  # gives the loop back: the others run meanwhile
        print(f"task {n}: tick {tick}")


async def all_tasks(p: TasksParams) -> None:
    await asyncio.gather(*(worker(n, p) for n in range(1, p.tasks + 1)))


def main(p: TasksParams) -> Result:
    with measured("asyncio") as phase:
        asyncio.run(all_tasks(p))
    return outcome(p, phase)


def outcome(p: TasksParams, phase: Phase) -> Result:
    """How long each task was ready but not run: its waits on the event loop."""
    late: dict[str, float] = {lane: 0.0 for lane in phase.lanes}
    waiting: dict[str, int] = {}
    for event in here()[0].events_so_far():
        if event.worker not in late:
            continue
        if event.worker in waiting:
            late[event.worker] = max(late[event.worker], (event.t_ns - waiting.pop(event.worker)) / 1e6)
        if event.kind is Kind.WAIT and event.obj == asyncio.LOOP:
            waiting[event.worker] = event.t_ns
    values: dict[str, JSON] = {"longest_stall_ms": {lane: round(ms, 1) for lane, ms in late.items()}}
    if (reason := stop_reason()) is not None:
        return Result("stopped before every task had finished", values | {"stopped": reason})
    worst = max(late.values(), default=0.0)
    stalled = [lane for lane, ms in late.items() if ms >= p.block_for * 500]  # half the block or more
    wall = phase.wall_ns / 1e6
    if p.blocking:
        summary = (
            f"Task-1 blocked the thread for {p.block_for * 1000:g} ms: "
            f"{len(stalled)} of the other {p.tasks - 1} tasks stalled, up to {worst:.0f} ms late"
        )
        notice = (
            f"While Task-1 sat in time.sleep (blue on its lane), the loop could run nobody: each "
            f"other task's sleep ended but it waited (red, 'event loop') until the blocking call "
            f"returned, up to {worst:.0f} ms. All took {wall:.0f} ms."
        )
    else:
        summary = (
            f"{plural(p.tasks, 'task')} waited {p.ticks} times each on one thread in {wall:.0f} ms; "
            f"the longest any waited for the loop: {worst:.1f} ms"
        )
        notice = (
            f"One thread, {plural(p.tasks, 'task')}: while one awaits, the loop runs another, so "
            f"their waits overlap and the whole run took {wall:.0f} ms, about one task's."
        )
    return Result(summary, values | {"stalled": stalled}, notice=notice)


SCENARIO = Scenario(
    slug="asyncio-tasks",
    title="asyncio: tasks and a blocking call",
    group="asyncio",
    notice=(
        "Every task is a lane, yet one thread runs them all: the event loop resumes one "
        "task at a time, whenever another awaits. A blocking call inside a coroutine "
        "(time.sleep instead of await asyncio.sleep) holds the thread, and every other "
        "task stalls until it returns: drawn as a wait on the event loop."
    ),
    params=TasksParams,
    main=main,
    order=10,
    code=(worker, all_tasks, main),
)
