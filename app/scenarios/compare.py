"""What `compare-cpu` and `compare-io` report: each model's time, speedup, CPU and
share of time per state, and sentences written from those numbers. Not a lesson
itself (no SCENARIO): the two lessons share it."""

from __future__ import annotations

from dataclasses import dataclass

from app.measure import (
    TOOK_TURNS_BELOW_CORES,
    Phase,
    allowed_cores,
    interpreter,
    lane_states,
    others_cpu_ns,
    shares,
)
from app.scenarios.base import Result, stop_reason
from app.timeline import JSON
from app.tracing import here

NOUNS = {"sequential": "in turn", "threads": "threads", "processes": "processes", "asyncio": "asyncio tasks"}
ONE = {"threads": "thread", "processes": "process", "asyncio": "asyncio task"}  # NOUNS, for one worker


@dataclass(frozen=True)
class Model:
    """One model's numbers, measured in its phase."""

    band: str
    workers: int
    wall_ms: float
    speedup: float
    cpu_ms: float
    utilisation: float  # CPU time / (wall x cores this process may use)
    available_cores: float | None  # cores left to us by other programs during the phase
    states: dict[str, float]  # share of the lanes' time in each state

    def values(self) -> dict[str, JSON]:
        return {
            "workers": self.workers,
            "wall_ms": round(self.wall_ms, 1),
            "speedup": round(self.speedup, 2),
            "cpu_ms": round(self.cpu_ms, 1),
            "utilisation": round(self.utilisation, 3),
            "available_cores": None if self.available_cores is None else round(self.available_cores, 2),
            "states": dict(self.states),
        }


def measure_models(phases: list[Phase]) -> tuple[list[Model], float]:
    """Each phase's numbers (the first phase is the baseline), and the cores we may use."""
    rec, _ = here()
    cores = allowed_cores()
    events = rec.events_so_far()
    baseline = phases[0].wall_ns
    models = []
    for phase in phases:
        wall = max(phase.wall_ns, 1)
        cpu = sum(rec.lane_cpu.get(lane, 0) for lane in phase.lanes)
        others = others_cpu_ns(phase, rec)
        available = None if others is None else min(cores, max(0.0, cores - others / wall))
        models.append(
            Model(
                band=phase.band,
                workers=len(phase.lanes),
                wall_ms=wall / 1e6,
                speedup=baseline / wall,
                cpu_ms=cpu / 1e6,
                utilisation=cpu / (wall * cores),
                available_cores=available,
                states=shares(lane_states(events, phase.lanes)),
            )
        )
    return models, cores


def compare_result(phases: list[Phase], jobs: int, what: str, died: list[str]) -> Result:
    """The lesson's result: every model's numbers and sentences from them. `what` names
    one job ("count the primes below 60,000"); `died` lists lanes that crashed."""
    models, cores = measure_models(phases)
    values: dict[str, JSON] = {
        "jobs": jobs,
        "models": {m.band: m.values() for m in models},
        "cores": cores,
        "interpreter": interpreter(),
    }
    measured = "; ".join(_phrase(m, cores, jobs) for m in models[1:])
    alone = models[0]
    if alone.states.get("run", 0) + alone.states.get("cpu", 0) >= 0.5 and alone.cpu_ms < 0.8 * alone.wall_ms:
        # A CPU-bound baseline that did not get its core: every speedup above is measured against it.
        measured += (
            f" (other programs left the sequential run only {alone.cpu_ms / alone.wall_ms:.0%} of a core)"
        )
    reason = stop_reason()
    if reason is not None:
        values["stopped"] = reason
        summary = f"stopped before every model ran; measured so far: {measured or 'nothing to compare'}"
        return Result(summary, values, notice="A stopped run compares only the models that finished.")
    if died:
        values["died"] = died
        return Result(
            f"{', '.join(died)} died, so these times do not compare like for like: {measured}",
            values,
            notice="A worker that crashed did less than its share of the work.",
        )
    return Result(measured, values, notice=_notice(models, cores, jobs, what))


def _phrase(model: Model, cores: float, jobs: int) -> str:
    """E.g. "4 threads: 1.03× (one ran at a time)", from the measured numbers."""
    noun = ONE.get(model.band, model.band) if model.workers == 1 else NOUNS.get(model.band, model.band)
    text = f"{model.workers} {noun}: {model.speedup:.2f}×"
    states = model.states
    busy = model.cpu_ms / model.wall_ms if model.wall_ms else 0.0  # cores busy on average
    if jobs > 1 and model.speedup >= 0.6 * jobs and states.get("io", 0) >= 0.5:
        text += " (their waits overlapped)"
    elif (
        model.band == "threads" and jobs > 1 and states.get("gil", 0) >= 0.2 and busy < TOOK_TURNS_BELOW_CORES
    ):
        # GIL waits and about one core busy: they took turns. (A speedup beside that comes
        # from a baseline that did not get its core: said once, after every model.)
        text += " (one ran at a time: they waited for the GIL)"
    elif model.band == "threads" and model.speedup >= 1.3 and busy >= TOOK_TURNS_BELOW_CORES:
        text += " (in parallel)"
    if model.band == "processes":
        text += f" on {cores:g} cores"
        computing = states.get("run", 0) + states.get("cpu", 0) >= 0.5
        if computing and model.available_cores is not None and model.available_cores < cores - 0.25:
            text += f" (other programs took {cores - model.available_cores:.1f} of them meanwhile)"
    return text


def _notice(models: list[Model], cores: float, jobs: int, what: str) -> str:
    """What to look at in this run's lanes, from its numbers."""
    parts = [f"Every model did the same {jobs} jobs ({what})."]
    for m in models:
        noun = NOUNS.get(m.band, m.band)
        line = f"{noun.capitalize()}: {m.wall_ms:.0f} ms"
        if m.band != "sequential":
            line += f", {m.speedup:.2f}× the sequential speed"
        if m.states.get("gil", 0) >= 0.05:
            line += f"; grey, waiting for the GIL, is {m.states['gil']:.0%} of its lanes' time"
        if m.states.get("cpu", 0) >= 0.05:
            line += f"; tan, waiting for a CPU core, {m.states['cpu']:.0%}"
        if m.states.get("start", 0) >= 0.05:
            line += f"; purple, starting up, {m.states['start']:.0%}"
        if m.states.get("io", 0) >= 0.5:
            line += "; blue, waiting on I/O, most of it"
        line += f" (CPU {m.cpu_ms:.0f} ms: {m.utilisation:.0%} of {cores:g} cores)."
        parts.append(line)
    return " ".join(parts)
