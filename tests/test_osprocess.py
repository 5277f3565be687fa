"""The process classes whose exit status is read once (app/traced/osprocess.py): each
start method really starts its children the way its name says."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading

import pytest

from app.traced.osprocess import ForkServerProcess, SpawnProcess
from tests.helpers import wait_until
from tests.proc_helpers import put_parent_pid, wait_for


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


def in_a_blocking_wait(thread: threading.Thread) -> bool:
    """Is `thread` blocked in multiprocessing's wait for a process's sentinel?"""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith("connection.py"):
            return True
        frame = frame.f_back
    return False


@pytest.mark.parametrize("process_class", [ForkServerProcess, SpawnProcess])
def test_a_thread_joining_a_process_does_not_hold_up_one_asking_if_it_is_alive(process_class: type) -> None:
    """Joining waits for the child without the status lock: the runner asks whether a
    process is alive while a pool's manager thread (or a lesson's main) joins it."""
    release = multiprocessing.get_context("spawn").Event()
    child = process_class(target=wait_for, args=(release,))
    child.start()
    try:
        joining = threading.Thread(target=child.join, daemon=True)
        joining.start()
        wait_until(lambda: in_a_blocking_wait(joining), timeout=30)
        answered = threading.Event()
        asker = threading.Thread(target=lambda: (child.is_alive(), answered.set()), daemon=True)
        asker.start()
        # immediate unless the joiner holds the lock for as long as the child lives
        assert answered.wait(10), "is_alive() waited for a join to end"
        assert child.is_alive()
    finally:
        release.set()
        child.join(60)
    joining.join(10)
    assert child.exitcode == 0
