"""The traced shared memory block in one process: what its reads and writes record,
what a stopped run does to them, and that closing and cleaning up really unmap it.
(Children use the same class: tests/test_process_scenarios.py runs it across processes.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from multiprocessing import shared_memory as std_shared_memory
from pathlib import Path

import pytest

from app.timeline import Kind
from app.traced.shared_memory import SharedMemory
from app.tracing import Recorder, Stop, bind


@pytest.fixture
def block() -> Iterator[SharedMemory]:
    name = f"interleave_{os.getpid()}_test"
    traced = SharedMemory(std_shared_memory.SharedMemory(name, create=True, size=16), "block")
    yield traced
    traced.release_block()


def test_item_and_slice_reads_and_writes_are_recorded_with_what_was_seen(block: SharedMemory) -> None:
    rec = Recorder()
    with bind(rec, "main"):
        block.buf[0] = 7
        block.buf[1:3] = b"\x01\xff"
        assert block.buf[0] == 7
        assert block.buf[0:3] == b"\x07\x01\xff"
    recorded = [(e.kind, e.obj, e.detail) for e in rec.take() if e.kind in (Kind.READ, Kind.WRITE)]
    assert recorded == [
        (Kind.WRITE, "block[0]", 7),
        (Kind.WRITE, "block[1:3]", "01 ff"),
        (Kind.READ, "block[0]", 7),
        (Kind.READ, "block[0:3]", "07 01 ff"),
    ]


def test_in_a_stopped_run_a_read_or_a_write_ends_the_worker_and_touches_nothing(block: SharedMemory) -> None:
    rec = Recorder()
    with bind(rec, "main"):
        rec.stop("test says stop")
        with pytest.raises(Stop):
            block.buf[0] = 9
        with pytest.raises(Stop):
            block.buf[0]
    assert block.peek("B") == 0
    assert [e for e in rec.take() if e.kind in (Kind.READ, Kind.WRITE)] == []


def test_a_closed_block_can_no_longer_be_read_through_its_view(block: SharedMemory) -> None:
    view = block.buf
    block.close()
    with bind(Recorder(), "main"), pytest.raises(ValueError, match="released"):
        view[0]


def test_cleanup_releases_views_left_open_then_closes_and_unlinks(block: SharedMemory) -> None:
    as_ints = block.buf.cast("q")  # a lesson that never released its cast view
    assert len(as_ints) == 2
    block.release_block()  # no BufferError: the cast view is released first
    with pytest.raises(FileNotFoundError):
        std_shared_memory.SharedMemory(block.name)
    # and this process no longer maps it (an unlinked block stays mapped until closed)
    assert block.name not in Path("/proc/self/maps").read_text()
