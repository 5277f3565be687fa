"""The columnar event log (app/columns.py): what goes in comes out, as events, as the
stream's JSON and through compressed blocks."""

from __future__ import annotations

import json
import random

import pytest

from app.columns import INTERNED_DETAILS, EventColumns, decode_block, encode_block
from app.timeline import Event, Kind

DETAILS = [None, 0, 1, 1.5, True, False, "thread", "ü ✓", {"cycle": [["A", "Lock-1"]]}, [1, "b"], "0", ""]


def some_events(n: int, seed: int = 7) -> list[Event]:
    pick = random.Random(seed)
    t = 0
    events = []
    for i in range(n):
        t += pick.randint(0, 5_000)
        events.append(
            Event(
                t,
                f"Thread-{pick.randint(1, 4)}",
                pick.choice(list(Kind)),
                pick.choice(["", "Lock-1", "Queue-2"]),
                pick.choice(DETAILS),
                pick.choice(["", "main", "Thread-2"]),
            )
        )
        if i % 97 == 0:  # a child's batch can land slightly earlier than the last event
            events[-1] = events[-1]._replace(t_ns=max(0, t - 10_000))
    return events


def test_the_log_reads_back_every_event_by_index_slice_and_iteration() -> None:
    events = some_events(3_000)
    log = EventColumns()
    log.extend(events[:1_000])
    log.extend(iter(events[1_000:]))  # any iterable
    assert len(log) == len(events)
    assert list(log) == events
    assert log[0] == events[0]
    assert log[-1] == events[-1]
    assert log[1_234] == events[1_234]
    assert log[10:20] == events[10:20]
    assert log[::500] == events[::500]
    assert all(isinstance(e.kind, Kind) for e in log[:50])
    with pytest.raises(IndexError):
        log[len(events)]


def test_the_stream_json_is_the_events_wire_format() -> None:
    events = some_events(500)
    log = EventColumns()
    log.extend(events)
    assert json.loads(log.wire_json(0, 500)) == [e.to_wire() for e in events]
    assert json.loads(log.wire_json(120, 121)) == [events[120].to_wire()]
    assert log.wire_json(500, 500) == "[]"


def test_a_block_is_self_contained_and_reads_back_into_any_log() -> None:
    events = some_events(2_000)
    log = EventColumns()
    log.extend(events)
    first, second = log.to_block(0, 700), log.to_block(700, 2_000)
    assert decode_block(first) == events[:700]
    assert decode_block(second) == events[700:]
    other = EventColumns()
    other.extend([Event(1, "elsewhere", Kind.RUN, "x", "y", "")])
    assert other.extend_block(second) == 1_300  # ids are remapped to the receiving log's
    assert list(other)[1:] == events[700:]
    assert decode_block(encode_block(events[:10])) == events[:10]
    with pytest.raises(ValueError, match="magic"):
        decode_block(b"nope" + first[4:])


def test_details_are_interned_up_to_a_bound_and_never_shared_when_mutable() -> None:
    log = EventColumns()
    log.extend([Event(i, "main", Kind.PRINT, "", f"line {i}") for i in range(INTERNED_DETAILS + 10)])
    log.extend([Event(0, "main", Kind.MARK, "", {"a": [1]})] * 2)
    assert log[-1].detail == {"a": [1]}
    assert log[-1].detail is not log[-2].detail
    assert [e.detail for e in log[:3]] == ["line 0", "line 1", "line 2"]
    assert log[INTERNED_DETAILS + 5].detail == f"line {INTERNED_DETAILS + 5}"


def test_a_lock_heavy_log_is_compact_in_memory_and_on_disk() -> None:
    # The shape of a lock counter: four lanes taking turns, acquire/release/run/wait.
    pattern = [(Kind.ACQUIRE, "Lock-1", 1), (Kind.RELEASE, "Lock-1", 0), (Kind.WAIT, "Lock-1", None)]
    pattern.append((Kind.RUN, "", None))
    events = [
        Event(i * 1_700 + (i * 7919) % 900, f"increment-{i % 4}", *pattern[i % 4], "") for i in range(100_000)
    ]
    log = EventColumns()
    log.extend(events)
    assert log.nbytes() / len(log) <= 40
    assert len(log.to_block()) / len(log) <= 12
