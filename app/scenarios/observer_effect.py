"""The observer effect: the tutorial's tight lock counter recorded twice, by the
compiled recorder and by the same recorder's sources interpreted, each in a process of
its own (app/observed.py), side by side on one time axis.

A traced lock written in Python gives the interpreter points to switch threads while
the lock is held: threads that the plain program never lets meet a held lock wait for
it. Compiled, a traced call runs no bytecode and the program keeps its own regime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from pydantic import Field

from app import hotpath
from app.scenarios.base import Params, Result, Scenario, plural, stop_reason
from app.timeline import JSON, Kind, LaneKind
from app.tracing import RawEvent, here

RECORDERS = (hotpath.COMPILED, hotpath.INTERPRETED)
POLL_S = 0.05
CHILD_TIMEOUT_S = 60.0
CHECK_EVERY = 4096  # events drawn between two looks at whether the run was stopped


class ObserverParams(Params):
    threads: int = Field(4, ge=2, le=8, description="Threads: half add one, half take one away")
    # At most 8 x 20,000: two recordings of 2 events an iteration make 640k events, in
    # 13 s (21 s beside two CPU-bound processes). 8 x 40,000 passed the default event
    # limit (1M) and took 25 s to be stopped by it.
    iterations: int = Field(10_000, ge=1_000, le=20_000, description="Times each thread takes the lock")


def record_in_a_process(recorder: str, p: ObserverParams) -> Recorded:
    """Run app/observed.py with `recorder` and read what it recorded. Stoppable: a
    stopped run kills the process."""
    rec, me = here()
    command = [sys.executable, "-m", "app.observed", recorder, str(p.threads), str(p.iterations)]
    env = {**os.environ, hotpath.ENV: recorder}
    rec.blocked(me)  # waiting for the process: not a lane that should run
    rec.emit(me, Kind.IO, f"the {recorder} recorder's process")
    try:
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as child:
            try:
                out, err = _wait_for(child)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    finally:
        rec.unblocked(me)
    rec.emit(me, Kind.RUN)
    if child.returncode != 0:
        raise RuntimeError(
            f"the {recorder} recorder's process failed: {' '.join(err.strip().splitlines()[-1:])}"
        )
    observed = json.loads(out)
    events = [
        (int(t), str(lane), Kind(kind), str(obj), detail, str(link))
        for t, lane, kind, obj, detail, link in observed["events"]
    ]
    return Recorded(recorder, observed["plain_s"], observed["recorded_s"], int(observed["t0_ns"]), events)


@dataclass
class Recorded:
    """One recording of the counter, from its own process."""

    recorder: str
    plain_s: float  # the same counter with plain `threading`, in that process
    recorded_s: float
    t0_ns: int  # its time zero on the machine's monotonic clock (the same in every process)
    events: list[RawEvent]  # its lanes' events, times from its own time zero

    @property
    def waits(self) -> int:
        return sum(1 for event in self.events if event[2] is Kind.WAIT)

    def values(self) -> dict[str, JSON]:
        name = self.recorder
        return {
            f"{name}_lock_waits": self.waits,
            f"{name}_ms": round(self.recorded_s * 1000, 2),
            f"{name}_plain_ms": round(self.plain_s * 1000, 2),
            f"{name}_slowdown": round(self.recorded_s / self.plain_s, 2),
            f"{name}_events": len(self.events),
        }

    def phrase(self) -> str:
        return (
            f"{self.recorder}: {plural(self.waits, 'lock wait')}, "
            f"{self.recorded_s / self.plain_s:.1f}× the plain program's {self.plain_s * 1000:.1f} ms"
        )


def draw(recorded: Recorded, at_ns: int) -> None:
    """Add a recording's lanes to this run under a band named after its recorder, its
    time zero placed at `at_ns` on this run's axis."""
    rec, _ = here()
    previous, rec.band = rec.band, f"{recorded.recorder} recorder"
    try:
        for i, (t_ns, worker, kind, obj, detail, link) in enumerate(recorded.events):
            if i % CHECK_EVERY == 0:
                rec.check()  # hundreds of thousands of events: a stop must not wait for them all
            if kind is Kind.START:
                rec.start_lane(worker, LaneKind(str(detail)), at_ns=at_ns + t_ns)
            else:
                rec.emit_at(at_ns + t_ns, worker, kind, obj, detail, link)
    finally:
        rec.band = previous


def _wait_for(child: subprocess.Popen[str]) -> tuple[str, str]:
    rec, _ = here()
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while True:
        try:
            return child.communicate(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            rec.check()  # a stopped run ends here (the caller kills the process)
            if time.monotonic() > deadline:
                raise RuntimeError(f"the recording took more than {CHILD_TIMEOUT_S:g} s") from None


def main(p: ObserverParams) -> Result:
    missing = hotpath.build_missing()  # no compiler where it was installed: only one recorder
    recordings: list[Recorded] = []
    for recorder in RECORDERS:
        if recorder == hotpath.COMPILED and missing:
            continue
        recordings.append(record_in_a_process(recorder, p))
        if stop_reason() is not None:
            break
    # Both start where the first one really began: one above the other, comparable.
    rec, _ = here()
    origin = recordings[0].t0_ns - rec.t0_ns
    for recorded in recordings:
        draw(recorded, origin)
    values: dict[str, JSON] = {"threads": p.threads, "iterations": p.iterations}
    for recorded in recordings:
        values.update(recorded.values())
    summary = "; ".join(recorded.phrase() for recorded in recordings)
    reason = stop_reason()
    if reason is not None:
        values["stopped"] = reason
        return Result(f"stopped before both recordings were compared; measured: {summary}", values)
    if missing:
        values["compiled_missing"] = missing
        return Result(
            f"{summary}; the compiled recorder is not here to compare with ({missing})",
            values,
            notice="Only the interpreted recorder could run on this server: install it where a C compiler "
            "exists (make) to see the compiled one beside it.",
        )
    compiled, interpreted = recordings
    invented = interpreted.waits - compiled.waits
    notice = (
        "Both recordings start at the same point; the lanes open on them (Fit shows the whole run, with "
        f"the processes starting). Interpreted, the recorder made the counter {interpreted.recorded_s / interpreted.plain_s:.1f}× "
        f"slower and recorded {plural(interpreted.waits, 'wait')} for the lock; compiled, "
        f"{compiled.recorded_s / compiled.plain_s:.1f}× and {plural(compiled.waits, 'wait')}. "
    )
    notice += (
        f"The {plural(invented, 'wait')} only the interpreted recorder saw are its own doing: its Python "
        "code let the interpreter switch threads while the lock was held."
        if invented > 0
        else "This time the slow recorder invented no waits: run it again, or with more iterations."
    )
    longest = max(recorded.recorded_s for recorded in recordings)
    focus = [origin, origin + int(longest * 1.1e9)]  # both recordings, a little room after
    return Result(summary, values, notice=notice, focus=focus)


SCENARIO = Scenario(
    slug="observer-effect",
    title="Measuring changes the program: the recorder's observer effect",
    group="Compare",
    notice=(
        "The tight lock counter recorded twice, each time in a process of its own: by the "
        "compiled recorder (top band) and by the same recorder's Python sources (bottom band). "
        "Look for red waits: the plain program never makes a thread wait here, because "
        "nothing can switch threads inside `with lock:`. Python code in the recorder can, "
        "so the slow recorder shows waits the program does not have, and takes longer."
    ),
    params=ObserverParams,
    main=main,
    order=90,
    code=(main, record_in_a_process),
)
