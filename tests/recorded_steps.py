"""`python -m tests.recorded_steps SLUG...`: each lesson at its defaults, stepped by a
fixed rule (the first worker ready, else the first parked), on the recorder this
process runs. Prints one JSON object: the recorder, and per lesson and lane the
events without their times (a lane's order is its program's; how two lanes' events
share a nanosecond is not). Run once per recorder, the two outputs must be equal
(tests/test_recorder_paths.py): under a gate the steps decide the order, not the OS.
"""

from __future__ import annotations

import json
import re
import sys
import threading

from app import hotpath
from app.gate import Pending
from app.scenarios.registry import SCENARIOS
from app.stepping import STEP_TIMEOUT_S, attach_gate
from app.timeline import JSON, LaneKind
from app.tracing import Recorder, Stop, bind

MAX_STEPS = 20_000
# A lesson may print what it measured ("tick 2: 4.1 ms late"): the clock differs
# between any two runs, recorder or not.
MEASURED = re.compile(r"-?\d+(?:\.\d+)? ?(?:ms|µs|s)\b")


def first_ready(pending: list[Pending]) -> str:
    ready = [p.worker for p in pending if p.ready]
    return (ready or [p.worker for p in pending])[0]


def recorded(slug: str) -> dict[str, list[list[JSON]]]:
    scenario = SCENARIOS[slug]
    params = scenario.params()
    rec = Recorder(max_workers=64, stop_grace_s=1.0)
    rec.keep_history()
    gate = attach_gate(rec, real_sleep=False)

    def program() -> None:
        try:
            with bind(rec, "main", LaneKind.MAIN):
                scenario.main(params)
        except Stop:
            pass

    main = threading.Thread(target=program, daemon=True)
    main.start()
    steps = 0
    while gate.wait_settled(STEP_TIMEOUT_S) and gate.live() and steps < MAX_STEPS:
        pending = gate.pending()
        if not any(p.ready for p in pending):
            break  # a deadlock: both recorders must have walked into the same one
        if not gate.step(first_ready(pending), STEP_TIMEOUT_S):
            raise RuntimeError(f"{slug}: a worker did not reach its next step")
        steps += 1
    rec.stop("recorded")
    main.join(STEP_TIMEOUT_S)
    for thread in rec.threads():
        if thread.ident is not None:
            threading.Thread.join(thread, STEP_TIMEOUT_S)
    rec.finalize()
    lanes: dict[str, list[list[JSON]]] = {}
    for e in rec.events_so_far():
        detail = MEASURED.sub("<time>", e.detail) if isinstance(e.detail, str) else e.detail
        lanes.setdefault(e.worker, []).append([str(e.kind), e.obj, detail, e.link])
    return lanes


if __name__ == "__main__":
    out = {"recorder": hotpath.RECORDER, "lessons": {slug: recorded(slug) for slug in sys.argv[1:]}}
    json.dump(out, sys.stdout)
