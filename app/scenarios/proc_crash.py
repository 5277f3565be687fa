"""Crash isolation: one worker dies mid-run. A process takes only itself down; a thread
that raises ends only its own lane too, but a hard exit in a thread would end them all."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Rule, Scenario
from app.scenarios.proc_work import count_then_maybe_die
from app.traced import multiprocessing, threading


class CrashParams(Params):
    workers: Literal["processes", "threads"] = Field("processes", description="Who does the counting")
    count: int = Field(3, ge=2, le=6, description="How many workers; the second one dies")
    death: Literal["exception", "os._exit", "SIGKILL"] = Field(
        "os._exit",
        description="exception: raise; os._exit: end at once; SIGKILL: killed by the OS (processes only)",
    )
    pace: float = Field(0.01, ge=0, le=0.1, description="Seconds each worker sleeps after each number")
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How processes are started"
    )

    rules = (
        Rule(
            when=("workers", "threads"),
            only=("death", ("exception",)),
            because="a thread can only die by an exception here: os._exit or SIGKILL in a thread "
            "ends the whole process, which is this server",
        ),
    )


def main(p: CrashParams) -> Result:
    doomed = 2
    if p.workers == "threads":
        threads = [
            threading.Thread(target=count_then_maybe_die, args=(n, doomed, p.death, p.pace))
            for n in range(1, p.count + 1)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return Result(
            f"thread {doomed} raised; the other {p.count - 1} threads finished",
            {"crashed": [t.name for t in threads if t.error is not None]},
        )
    mp = multiprocessing.get_context(p.start_method)
    procs = [
        mp.Process(target=count_then_maybe_die, args=(n, doomed, p.death, p.pace))
        for n in range(1, p.count + 1)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    codes = {proc.name: proc.exitcode for proc in procs}
    return Result(
        f"exit codes {codes}: only {procs[doomed - 1].name} died",
        {"exit_codes": codes, "crashed": [name for name, code in codes.items() if code != 0]},
    )


SCENARIO = Scenario(
    slug="crash-isolation",
    title="Crash isolation",
    group="Processes",
    notice=(
        "Worker 2 dies after printing 4. Its lane ends in a crash with the traceback, or, "
        "for os._exit and SIGKILL, with the exit code the parent read, since the child "
        "could say nothing. The other workers and this server carry on. With threads an "
        "exception also ends only its own thread (threading.excepthook reports it), but "
        "the threads share one process: a hard exit there would end everything."
    ),
    params=CrashParams,
    main=main,
    order=50,
    code=(count_then_maybe_die, main),
)
