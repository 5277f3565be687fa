"""The process classes whose exit status is read once (app/traced/osprocess.py): each
start method really starts its children the way its name says."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from app.traced.osprocess import ForkServerProcess, SpawnProcess
from tests.proc_helpers import put_parent_pid


@pytest.mark.parametrize(
    ("process_class", "parent"), [(ForkServerProcess, "forkserver"), (SpawnProcess, "us")]
)
def test_each_start_method_starts_its_child_from_the_right_parent(process_class: type, parent: str) -> None:
    """A forkserver child is forked by the forkserver (cheap, ~10 ms); a spawned child is
    a fresh interpreter started by this process (~130 ms)."""
    queue = multiprocessing.get_context("spawn").SimpleQueue()
    child = process_class(target=put_parent_pid, args=(queue,))
    child.start()
    parent_pid = queue.get()
    child.join(60)
    assert child.exitcode == 0
    if parent == "us":
        assert parent_pid == os.getpid()
    else:
        assert parent_pid != os.getpid()
