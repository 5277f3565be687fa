"""Measuring models: cores this process may use, time per state, the interpreter."""

from __future__ import annotations

import os
import sys

from app.measure import allowed_cores, interpreter, lane_states, shares
from app.timeline import Event, Kind
from app.tracing import Recorder, bind


def test_the_cores_we_may_use_are_at_most_the_cpus_we_may_run_on() -> None:
    cores = allowed_cores()
    assert 0 < cores <= len(os.sched_getaffinity(0))


def test_time_per_state_counts_each_lane_from_its_first_event_to_its_end() -> None:
    events = [
        Event(0, "A", Kind.START),
        Event(10, "A", Kind.RUN),
        Event(30, "A", Kind.GIL, "GIL"),
        Event(40, "A", Kind.GIL, "CPU"),
        Event(45, "A", Kind.RUN),
        Event(50, "A", Kind.DONE),
        Event(60, "A", Kind.PRINT),  # instants and other lanes do not count
        Event(0, "B", Kind.RUN),
    ]
    spent = lane_states(events, ["A"])
    assert spent == {"start": 10, "run": 25, "io": 0, "wait": 0, "gil": 10, "cpu": 5}
    assert shares(spent)["run"] == 0.5


def test_the_interpreter_says_whether_its_gil_is_enabled() -> None:
    found = interpreter()
    assert found["version"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert found["gil_enabled"] is (sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True)


def test_a_lesson_sees_every_event_so_far_taken_or_not_in_time_order() -> None:
    rec = Recorder()
    rec.keep_history()
    with bind(rec, "main"):
        rec.emit("main", Kind.PRINT, detail="first")
        taken = rec.take()
        rec.emit("main", Kind.PRINT, detail="second")
    assert [e.detail for e in taken] == ["first"]
    assert [e.detail for e in rec.events_so_far()] == ["first", "second"]
