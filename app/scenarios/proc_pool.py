"""The tutorial's Pool.map: square a list of numbers in a pool of worker processes."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from pydantic import Field, field_validator

from app.measure import Phase, allowed_cores, lane_states, measured
from app.scenarios.base import Params, Result, Scenario, plural, stop_reason
from app.scenarios.proc_work import square
from app.timeline import JSON, Kind
from app.traced import multiprocessing
from app.tracing import here

LONGER = list(range(1, 41))


class PoolParams(Params):
    processes: int = Field(3, ge=1, le=8, description="Worker processes in the pool")
    chunksize: int = Field(1, ge=1, le=20, description="Inputs sent to a worker in one message")
    numbers: list[Annotated[int, Field(ge=-10_000, le=10_000)]] = Field(
        [1, 2, 3, 4, 5], min_length=1, max_length=40, description="The inputs to square (1 to 40 of them)"
    )
    longer: bool = Field(
        False, description="Square 1 to 40 instead: watch the chunks spread over the workers"
    )
    work: int = Field(
        200_000,
        ge=0,
        le=2_000_000,
        description="How many squares each task adds up first: fixed CPU work, so each task shows",
    )
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How the pool's processes are started"
    )

    @field_validator("numbers", mode="before")
    @classmethod
    def _from_text(cls, raw: object) -> object:
        """The page's form sends "1, 2, 3": split it; JSON lists pass through."""
        if isinstance(raw, str):
            return [part.strip() for part in raw.replace(",", " ").split()]
        return raw


def main(p: PoolParams) -> Result:
    numbers = LONGER if p.longer else p.numbers
    mp = multiprocessing.get_context(p.start_method)
    with measured("pool") as phase, mp.Pool(p.processes) as pool:
        squares = pool.map(partial(square, work=p.work), numbers, chunksize=p.chunksize)
        pool.close()  # no more tasks...
        pool.join()  # ...and wait for the workers to exit: the shutdown, drawn
    return outcome(p, phase, numbers, squares)


def outcome(p: PoolParams, phase: Phase, numbers: list[int], squares: list[int]) -> Result:
    values: dict[str, JSON] = {"numbers": numbers, "squares": squares}
    if (reason := stop_reason()) is not None:
        return Result("stopped before every square came back", {"stopped": reason})
    events = here()[0].events_so_far()
    tasks = {lane: 0 for lane in phase.lanes}
    for event in events:
        if event.kind is Kind.RESULT and event.worker in tasks:
            tasks[event.worker] += 1
    spent = lane_states(events, phase.lanes)
    busy = spent["run"] + spent["cpu"]
    waited = spent["cpu"] / busy if busy else 0.0
    values |= {"tasks_per_worker": tasks, "waited_for_a_core": round(waited, 3)}
    cores = allowed_cores()
    split = ", ".join(f"{lane} {n}" for lane, n in tasks.items())
    notice = (
        f"{len(numbers)} inputs over {plural(p.processes, 'worker')} ({split}); results come back in "
        "input order. Green is a worker computing square(x), labelled with its x."
    )
    if waited >= 0.05:
        notice += (
            f" {waited:.0%} of the task time went waiting for a free CPU core (tan): "
            f"{plural(p.processes, 'worker')} and any other programs share {cores:g} cores."
        )
    return Result(f"{numbers} squared: {squares}", values, notice=notice)


SCENARIO = Scenario(
    slug="pool-map",
    title="Pool.map",
    group="Processes",
    notice=(
        "Each worker lane starts with its start-up, then takes tasks: every green block is "
        "one square(x), labelled with its x; red is a worker waiting for its next task, tan "
        "one waiting for a free CPU core. Raise chunksize and each worker gets several inputs "
        "per message: fewer round trips, but a slow chunk can leave other workers idle at the end."
    ),
    params=PoolParams,
    main=main,
    order=20,
    code=(square, main, outcome),
)
