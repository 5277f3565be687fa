"""The tutorial's twelve claims, each with the runs that test it and a verdict drawn
from what those runs measured.

A claim names one or more lesson runs (scenario and parameters), run one after the
other so they do not compete for the CPU. `verdict(claim, runs)` reads their finished
summaries and events and says whether the claim was demonstrated, corrected (true as
the tutorial says it only in part), or not shown by these runs (a run stopped or
failed, or this machine could not show it), with a sentence using the numbers.

Plain domain code: the page and the JSON API in `app/api/claims.py` call it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.measure import TOOK_TURNS_BELOW_CORES
from app.timeline import Event, Kind

Summary = dict[str, Any]  # a run's summary, as `Run.summary()` gives it


class Verdict(StrEnum):
    DEMONSTRATED = "demonstrated"  # the runs show the claim holds
    CORRECTED = "corrected"  # the runs show where the claim does not hold
    NOT_SHOWN = "not-shown"  # these runs could not tell (stopped, failed, one core...)


@dataclass(frozen=True)
class Finished:
    """One finished run of a claim: its summary and its events."""

    summary: Summary
    events: Sequence[Event]

    @property
    def values(self) -> dict[str, Any]:
        result = self.summary.get("result") or {}
        values: dict[str, Any] = result.get("values") or {}
        return values


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    text: str


@dataclass(frozen=True)
class Claim:
    number: int
    words: str  # the claim, as the tutorial makes it
    runs: tuple[tuple[str, dict[str, Any]], ...]  # (scenario slug, params), run in this order
    judge: Callable[[list[Finished]], Finding] = field(repr=False)


def verdict(claim: Claim, runs: list[Finished]) -> Finding:
    """The claim's verdict from its finished runs (in the order of `claim.runs`)."""
    if len(runs) != len(claim.runs):
        return Finding(Verdict.NOT_SHOWN, f"this claim needs {len(claim.runs)} run(s), got {len(runs)}")
    for run, (slug, _) in zip(runs, claim.runs, strict=True):
        if run.summary.get("scenario") != slug:
            return Finding(Verdict.NOT_SHOWN, f"expected a run of {slug}, got {run.summary.get('scenario')}")
        status = run.summary.get("status")
        if status != "done":
            why = run.summary.get("reason") or run.summary.get("error") or status
            return Finding(Verdict.NOT_SHOWN, f"the {slug} run did not finish ({status}: {why})")
    return claim.judge(runs)


# --- what the events say ------------------------------------------------------------
def _lanes(events: Sequence[Event], kind: str) -> list[str]:
    return [e.worker for e in events if e.kind is Kind.START and e.detail == kind]


def _ended(events: Sequence[Event], worker: str) -> Event | None:
    return next(
        (e for e in reversed(events) if e.worker == worker and e.kind in (Kind.DONE, Kind.CRASH)), None
    )


def _joined_after_each_ended(events: Sequence[Event], kind: str) -> tuple[int, bool]:
    """(how many lanes of `kind` ran, whether main's last join ended after each ended)."""
    lanes = _lanes(events, kind)
    joins = [e for e in events if e.worker == "main" and e.kind is Kind.RUN and e.obj.startswith("join ")]
    ends = [_ended(events, lane) for lane in lanes]
    last_join = max((e.t_ns for e in joins), default=-1)
    return len(lanes), bool(lanes) and all(end is not None and end.t_ns <= last_join for end in ends)


def _most_holders(events: Sequence[Event], obj: str) -> int:
    held = most = 0
    for e in events:
        if e.obj == obj and e.kind in (Kind.ACQUIRE, Kind.RELEASE):
            held += 1 if e.kind is Kind.ACQUIRE else -1
            most = max(most, held)
    return most


# --- the twelve judges ---------------------------------------------------------------
def _threads_start_and_join(runs: list[Finished]) -> Finding:
    [run] = runs
    count, joined = _joined_after_each_ended(run.events, "thread")
    prints = sum(1 for e in run.events if e.kind is Kind.PRINT)
    if count and joined:
        return Finding(
            Verdict.DEMONSTRATED,
            f"{count} threads started, printed {prints} lines between them, and main's join() "
            "returned only after the last one had ended.",
        )
    return Finding(Verdict.NOT_SHOWN, "the run did not show every thread ending before main's join returned")


def _lock_prevents_races(runs: list[Finished]) -> Finding:
    unlocked, locked, plain = (run.values for run in runs)
    lost, kept = unlocked.get("lost_updates", 0), locked.get("lost_updates", 0)
    plain_text = (
        f" Without the pause, {abs(plain.get('off_by', 0))} of {plain.get('updates', 0):,} plain "
        "counter += 1 updates were lost without a lock: CPython 3.11 switches threads only at some "
        "points, so this race rarely shows there, but nothing promises it."
    )
    if lost > 0 and kept == 0:
        return Finding(
            Verdict.DEMONSTRATED,
            f"With a pause between reading and writing the counter, {lost} of "
            f"{unlocked.get('expected')} updates were lost without the lock and none with it." + plain_text,
        )
    if kept:
        return Finding(Verdict.CORRECTED, f"{kept} updates were lost even with the lock.")
    return Finding(Verdict.NOT_SHOWN, "no update was lost even without the lock this time." + plain_text)


def _semaphores_limit(runs: list[Finished]) -> Finding:
    [run] = runs
    slots = run.values.get("slots", 0)
    most = _most_holders(run.events, "slots")
    waits = sum(1 for e in run.events if e.kind is Kind.WAIT and e.obj == "slots")
    threads = len(_lanes(run.events, "thread"))
    if most <= slots and waits:
        return Finding(
            Verdict.DEMONSTRATED,
            f"{threads} threads shared {slots} slots: at most {most} held one at once (counted from "
            f"every acquire and release), and threads waited {waits} times for a free slot.",
        )
    if most > slots:
        return Finding(Verdict.CORRECTED, f"{most} threads held one of {slots} slots at once.")
    return Finding(Verdict.NOT_SHOWN, "nobody had to wait for a slot in this run.")


def _conditions_let_threads_wait(runs: list[Finished]) -> Finding:
    [run] = runs
    conditions = ("not_empty", "not_full")
    waits = [e for e in run.events if e.kind is Kind.WAIT and e.obj in conditions]
    woken = [e for e in run.events if e.kind is Kind.RUN and e.obj in conditions and e.link]
    used = run.values.get("consumed", 0)
    if waits and len(woken) == len(waits):
        return Finding(
            Verdict.DEMONSTRATED,
            f"Threads waited {len(waits)} times on a condition (buffer empty or full) without "
            f"spinning; each wait ended with a notify from another thread, and all {used} items got through.",
        )
    return Finding(Verdict.NOT_SHOWN, "no thread had to wait on a condition in this run.")


def _threads_keep_responsive(runs: list[Finished]) -> Finding:
    values = runs[0].values
    inline, threaded = values.get("inline_worst_ms", 0.0), values.get("in_a_thread_worst_ms", 0.0)
    text = (
        f"While a {values.get('download_ms', 0):g} ms download waited on I/O, the main loop's ticks "
        f"came up to {inline:.0f} ms late when it downloaded itself, and at most {threaded:.1f} ms "
        "late with the download in a thread."
    )
    if threaded * 4 < inline:
        return Finding(Verdict.DEMONSTRATED, text)
    return Finding(Verdict.NOT_SHOWN, text)


def _cpu_models(run: Finished) -> tuple[dict[str, Any], dict[str, Any], float, bool]:
    models = run.values.get("models", {})
    gil = bool(run.values.get("interpreter", {}).get("gil_enabled", True))
    return models.get("threads", {}), models.get("processes", {}), float(run.values.get("cores", 1)), gil


def ceilings(values: dict[str, Any]) -> tuple[float, float]:
    """The speedups a compare-cpu run could show with the CPU that other programs left
    free in each phase (shared machines are noisy): one worker at a time, and all
    processes at once, each against the sequential phase (which can use one core)."""
    models, cores = values.get("models", {}), float(values.get("cores", 1))

    def free(band: str) -> float:
        available = models.get(band, {}).get("available_cores")
        return cores if available is None else float(available)

    sequential = max(min(1.0, free("sequential")), 0.05)
    workers = models.get("processes", {}).get("workers", 1)
    return min(1.0, free("threads")) / sequential, min(workers, free("processes")) / sequential


def _threads_use_cores(runs: list[Finished]) -> Finding:
    threads, processes, cores, gil = _cpu_models(runs[0])
    one_at_a_time, _ = ceilings(runs[0].values)
    speedup, workers = threads.get("speedup", 0.0), threads.get("workers", 0)
    wall_ms = threads.get("wall_ms", 0.0)
    busy = threads.get("cpu_ms", 0.0) / wall_ms if wall_ms else 0.0  # cores busy on average
    states = threads.get("states", {})
    # Of the time a core was there for them (other programs take the rest on a shared machine).
    waited = states.get("gil", 0.0) / max(1e-9, 1 - states.get("cpu", 0.0))
    text = (
        f"{workers} threads doing CPU-bound Python ran {speedup:.2f}× as fast as one thread doing the "
        f"same jobs in turn, on {cores:g} cores, keeping {busy:.2f} of them busy; they spent "
        f"{waited:.0%} of their time (when a core was free) waiting for the GIL. "
        f"{processes.get('workers', 0)} processes: {processes.get('speedup', 0.0):.2f}×."
    )
    if abs(one_at_a_time - 1) > 0.1:
        text += (
            f" (Other programs' load changed between the two phases: that alone accounts for "
            f"{one_at_a_time:.2f}×.)"
        )
    if cores < 2:
        return Finding(Verdict.NOT_SHOWN, text + " This server may use one core only.")
    # Their own CPU time is the steady witness: a speedup or a GIL share is an estimate that
    # other programs' load can tip (the scheduler favours threads that keep waking up).
    if gil and (busy < TOOK_TURNS_BELOW_CORES or waited >= 0.3):
        return Finding(
            Verdict.CORRECTED,
            text + " With the GIL one thread runs Python at a time: threads overlap waiting "
            "(claim 5), not computing.",
        )
    if not gil and speedup >= 1.4:
        return Finding(
            Verdict.DEMONSTRATED, text + " This interpreter has no GIL: its threads ran in parallel."
        )
    return Finding(Verdict.NOT_SHOWN, text)


def _processes_start_and_join(runs: list[Finished]) -> Finding:
    [run] = runs
    count, joined = _joined_after_each_ended(run.events, "process")
    codes = run.values.get("exit_codes", [])
    start_ms = run.values.get("start_ms")
    if count and joined and all(code == 0 for code in codes):
        return Finding(
            Verdict.DEMONSTRATED,
            f"{count} processes started ({start_ms} ms start-up each on average), ran, exited with "
            f"code 0, and main's join() returned after the last had ended.",
        )
    return Finding(Verdict.NOT_SHOWN, f"exit codes {codes}")


def _processes_parallel(runs: list[Finished]) -> Finding:
    _, processes, cores, _ = _cpu_models(runs[0])
    _, all_at_once = ceilings(runs[0].values)
    speedup, workers = processes.get("speedup", 0.0), processes.get("workers", 0)
    text = (
        f"{workers} processes ran the CPU-bound jobs {speedup:.2f}× as fast as one process in turn, "
        f"on {cores:g} cores"
    )
    if cores < 2:
        return Finding(Verdict.NOT_SHOWN, text + ": this server may use one core only.")
    if all_at_once < 1.5:
        return Finding(
            Verdict.NOT_SHOWN,
            text
            + f": other programs were using the cores meanwhile (at best {all_at_once:.2f}× was possible).",
        )
    if speedup >= 0.7 * all_at_once:
        return Finding(Verdict.DEMONSTRATED, text + ": each process has its own interpreter and GIL.")
    return Finding(Verdict.NOT_SHOWN, text + f", where the free cores allowed {all_at_once:.2f}×.")


def _crash_isolated(runs: list[Finished]) -> Finding:
    [run] = runs
    codes: dict[str, int] = run.values.get("exit_codes", {})
    crashed = [name for name, code in codes.items() if code != 0]
    others = [name for name, code in codes.items() if code == 0]
    finished = [
        name
        for name in others
        if sum(1 for e in run.events if e.worker == name and e.kind is Kind.PRINT) == 10
    ]
    if crashed and others and finished == others:
        return Finding(
            Verdict.DEMONSTRATED,
            f"{', '.join(crashed)} died (exit code {codes[crashed[0]]}); {', '.join(others)} still "
            "printed 1 to 10 and exited with 0.",
        )
    return Finding(Verdict.NOT_SHOWN, f"exit codes {codes}")


def _separate_memory(runs: list[Finished]) -> Finding:
    values = runs[0].values
    child, thread = values.get("child_change_seen"), values.get("thread_change_seen")
    text = (
        f"A child process added 1 to a global counter and the parent still read "
        f"{values.get('parent_after_child')}; a thread did the same and the parent read "
        f"{values.get('parent_after_thread')}; through a multiprocessing.Value the parent read "
        f"{values.get('shared_value')}."
    )
    if child is False and thread is True:
        return Finding(Verdict.DEMONSTRATED, text)
    return Finding(Verdict.CORRECTED if child else Verdict.NOT_SHOWN, text)


def _pool_map_distributes(runs: list[Finished]) -> Finding:
    values = runs[0].values
    tasks: dict[str, int] = values.get("tasks_per_worker", {})
    used = [f"{lane} {n}" for lane, n in tasks.items() if n]
    text = f"Pool.map returned {values.get('squares')} (in input order); tasks per worker: {', '.join(used)}."
    if values.get("squares") == [x * x for x in values.get("numbers", [])] and len(used) > 1:
        return Finding(Verdict.DEMONSTRATED, text)
    if len(used) == 1:
        return Finding(
            Verdict.NOT_SHOWN, text + " One worker took every task: the others were still starting."
        )
    return Finding(Verdict.NOT_SHOWN, text)


def _processes_communicate(runs: list[Finished]) -> Finding:
    queue, pipe, shared = runs
    crossed = 0
    for run in (queue, pipe):
        for e in run.events:
            if e.kind is Kind.GET and e.link and e.link != e.worker and e.detail != "None":
                crossed += 1
    final, expected = shared.values.get("final"), shared.values.get("expected")
    text = (
        f"{crossed} items crossed from one process to another through a queue and a pipe (each get "
        f"linked to the put that sent it), and processes counted to {final} of {expected} in a "
        "shared Value under its lock."
    )
    items = queue.values.get("items", 0) + pipe.values.get("items", 0)
    if crossed == items and final == expected:
        return Finding(Verdict.DEMONSTRATED, text)
    return Finding(Verdict.NOT_SHOWN, text)


CLAIMS: tuple[Claim, ...] = (
    Claim(
        1,
        "Threads are started with start() and waited for with join().",
        (("threads-print-numbers", {"threads": 3}),),
        _threads_start_and_join,
    ),
    Claim(
        2,
        "A Lock prevents race conditions on a shared counter.",
        (
            ("race-condition", {"use_lock": False}),
            ("race-condition", {"use_lock": True}),
            ("lock-counter", {"use_lock": False, "iterations": 200_000, "hold": 0}),
        ),
        _lock_prevents_races,
    ),
    Claim(
        3,
        "A Semaphore limits how many threads use a resource at once.",
        (("semaphore", {"threads": 6, "slots": 2}),),
        _semaphores_limit,
    ),
    Claim(
        4,
        "Condition variables let threads wait until a condition holds.",
        (("condition-buffer", {}),),
        _conditions_let_threads_wait,
    ),
    Claim(
        5,
        "Threads keep a program responsive while it waits for I/O.",
        (("responsiveness", {}),),
        _threads_keep_responsive,
    ),
    Claim(
        6,
        "Threads take advantage of multicore processors.",
        (("compare-cpu", {"workers": 4}),),
        _threads_use_cores,
    ),
    Claim(
        7,
        "Processes are started with start() and waited for with join().",
        (("processes-print-numbers", {"processes": 3}),),
        _processes_start_and_join,
    ),
    Claim(
        8,
        "Processes give true parallelism: each runs on its own core.",
        (("compare-cpu", {"workers": 4}),),
        _processes_parallel,
    ),
    Claim(
        9,
        "A process that crashes does not affect the others.",
        (("crash-isolation", {"workers": "processes", "death": "os._exit"}),),
        _crash_isolated,
    ),
    Claim(
        10,
        "Processes have separate memory.",
        (("separate-memory", {}),),
        _separate_memory,
    ),
    Claim(
        11,
        "Pool.map(square, [1, 2, 3, 4, 5]) distributes the work over the pool's processes.",
        (("pool-map", {"processes": 3, "numbers": [1, 2, 3, 4, 5]}),),
        _pool_map_distributes,
    ),
    Claim(
        12,
        "Queues, pipes and shared memory let processes communicate.",
        (
            ("process-queue-pipe", {"channel": "queue"}),
            ("process-queue-pipe", {"channel": "pipe", "consumers": 1}),
            ("shared-counter-processes", {"use_lock": True}),
        ),
        _processes_communicate,
    ),
)
BY_NUMBER = {claim.number: claim for claim in CLAIMS}
