"""The columnar event log (app/columns.py): what goes in comes out, as events, as the
stream's JSON and through compressed blocks."""

from __future__ import annotations

import gc
import json
import random
import struct
import tracemalloc
import zlib

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


def _table(texts: list[bytes]) -> bytes:
    """A block's string or detail table: a uint32 length column, then the bytes."""
    return struct.pack(f"<{len(texts)}I", *map(len, texts)) + b"".join(texts)


def _shuffled(code: str, values: list[int]) -> bytes:
    """A little-endian column, byte-shuffled: every value's byte 0, then every byte 1..."""
    packed = struct.pack(f"<{len(values)}{code}", *values)
    width = struct.calcsize(code)
    return b"".join(packed[i::width] for i in range(width))


def _header(block: bytes) -> tuple[int, int, int]:
    """(events, strings, details) of a block."""
    events, strings, details = struct.unpack_from("<III", zlib.decompress(block[4:]))
    return events, strings, details


def test_a_block_is_byte_for_byte_the_documented_layout() -> None:
    # The store keeps blocks across restarts and upgrades: what "ILC1" promises is this
    # exact layout (module docstring), so a block written by one build reads in the next.
    cycle = {"cycle": [["A", "Lock-1"]]}
    events = [
        Event(5, "main", Kind.START, "", "thread", ""),
        Event(12, "Thread-1", Kind.ACQUIRE, "Lock-1", 1, "main"),
        Event(12, "Thread-1", Kind.MARK, "", cycle, ""),
        Event(10, "main", Kind.RELEASE, "Lock-1", None, ""),  # a child's batch, landed late
        Event(2**40, "main", Kind.MARK, "", cycle, ""),
        Event(2**40 + 1, "Thread-1", Kind.ACQUIRE, "Lock-1", 1, "main"),
    ]
    log = EventColumns()
    log.extend(events)
    block = log.to_block()
    assert block[:4] == b"ILC1"
    kind = [list(Kind).index(e.kind) for e in events]
    assert zlib.decompress(block[4:]) == b"".join(
        [
            struct.pack("<III", 6, 4, 3),  # repeated strings and details are stored once
            _table([b"", b"main", b"Thread-1", b"Lock-1"]),  # "" is id 0
            _table([b'"thread"', b"1", b'{"cycle":[["A","Lock-1"]]}']),  # compact JSON
            _shuffled("q", [5, 7, 0, -2, 2**40 - 10, 1]),  # t as a difference, may be < 0
            _shuffled("I", [1, 2, 2, 1, 1, 2]),
            bytes(kind),
            _shuffled("I", [0, 3, 0, 3, 0, 3]),
            _shuffled("I", [1, 2, 3, 0, 3, 2]),  # 0: no detail
            _shuffled("I", [0, 1, 0, 0, 0, 1]),
        ]
    )
    # A slice is self-contained: its own tables (still with "" as id 0) and its first t
    # counted from 0, not from the event before it.
    assert zlib.decompress(log.to_block(1, 2)[4:]) == b"".join(
        [
            struct.pack("<III", 1, 4, 1),
            _table([b"", b"main", b"Thread-1", b"Lock-1"]),
            _table([b"1"]),
            _shuffled("q", [12]),
            _shuffled("I", [2]),
            bytes(kind[1:2]),
            _shuffled("I", [3]),
            _shuffled("I", [1]),
            _shuffled("I", [1]),
        ]
    )
    assert decode_block(block) == events


def test_any_text_may_name_a_lane_or_an_object_even_a_kinds_name() -> None:
    # A program names its own threads and locks: "run", "start", "" or "ü ✓" are all names.
    events = [
        Event(1, "run", Kind.START, "start", "thread", ""),
        Event(2, "worker", Kind.RUN, "", None, "run"),  # a new lane, after "run" became a name
        Event(3, "ü ✓", Kind.ACQUIRE, "acquire", 1, "worker"),
        Event(4, "", Kind.PRINT, "print", "done", "ü ✓"),
    ]
    log = EventColumns()
    for event in events:
        log.append(event)
    assert list(log) == events
    assert decode_block(log.to_block()) == events


def test_a_detail_keeps_its_json_type() -> None:
    # 1, True and 1.0 are equal in Python but not on the timeline: the stream, an export
    # and a lesson show `true`, `1` or `1.0` as the program produced it.
    details = [1, True, 1.0, "1", 0, False, 0.0, "", [1], {"1": 1}]
    events = [Event(i, "main", Kind.WRITE, "counter", d, "") for i, d in enumerate(details * 2)]
    log = EventColumns()
    log.extend(events)
    for read in (list(log), decode_block(log.to_block())):
        assert [(type(e.detail), e.detail) for e in read] == [(type(d), d) for d in details * 2]
    wire = json.dumps([e.to_wire() for e in events], separators=(",", ":"))
    assert log.wire_json(0, len(events)) == wire


def test_a_detail_read_back_is_a_fresh_copy_the_reader_may_change() -> None:
    log = EventColumns()
    log.extend([Event(0, "main", Kind.MARK, "", {"cycle": [["A", "Lock-1"]]}, "")] * 2)
    first = log[0].detail
    assert isinstance(first, dict)
    first["cycle"].append(["B", "Lock-2"])  # a claim or an export building on what it read
    assert log[0].detail == log[1].detail == {"cycle": [["A", "Lock-1"]]}


def test_repeated_details_are_stored_once_up_to_the_bound_then_as_they_come() -> None:
    log = EventColumns()
    # INTERNED_DETAILS distinct details: each is stored once, however often it repeats.
    log.extend([Event(i, "main", Kind.WRITE, "x", i, "") for i in range(INTERNED_DETAILS)])
    log.extend([Event(0, "main", Kind.WRITE, "x", INTERNED_DETAILS - 1, "")] * 3)
    assert _header(log.to_block(INTERNED_DETAILS - 1))[2] == 1
    # Past the bound (a run printing new text forever) a new detail is stored each time
    # it comes, so the table that finds repeats stays bounded.
    log.extend([Event(0, "main", Kind.PRINT, "", "late line", "")] * 2)
    late = log.to_block(len(log) - 2)
    assert _header(late)[2] == 2
    assert [e.detail for e in decode_block(late)] == ["late line"] * 2


@pytest.mark.parametrize("heavy", ["names", "details"])
def test_a_log_reports_the_memory_it_holds(heavy: str) -> None:
    # A log read back from the store (all of its strings its own), with its bytes in long
    # lane names or in long printed lines: nbytes is what Python allocated for it.
    text = [f"{heavy}-{i}-" + "x" * 2_000 for i in range(300)]
    if heavy == "names":
        events = [Event(i, name, Kind.RUN, "", None, "") for i, name in enumerate(text)]
    else:
        events = [Event(i, "main", Kind.PRINT, "", line, "") for i, line in enumerate(text)]
    block = encode_block(events)
    gc.collect()
    tracemalloc.start()
    try:
        log = EventColumns.from_blocks([block])
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.8 * held <= log.nbytes() <= 1.25 * held
