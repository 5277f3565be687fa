"""OS processes whose exit status is read once, whoever asks.

A child's exit status reaches its parent once. With forkserver it is four bytes on a
pipe (the sentinel): if two threads poll one process at the same moment, one reads
the status and the other reads end-of-file, which the standard library records as
exit code 255 and keeps. Many threads poll: ours, a `ProcessPoolExecutor`'s manager
thread, and `multiprocessing` itself whenever any thread starts a process (it polls
every live child of the server, of every run). So the lock goes where every one of
them passes: the process's own `Popen`. Waiting for the sentinel stays outside the
lock (many may wait); only the read is one at a time.

The classes here are pickled with each process object sent to the forkserver or a
spawned interpreter, so the child imports this module: it stays light.
"""

from __future__ import annotations

import os
import threading
from multiprocessing import connection, context
from typing import Any


class _OneReader:
    """Mixin for a `Popen` class: its exit status is read under a lock."""

    returncode: int | None
    sentinel: int

    def __init__(self, process_obj: Any) -> None:
        self._status_lock = threading.Lock()
        super().__init__(process_obj)  # type: ignore[call-arg]

    def poll(self, flag: int = os.WNOHANG) -> int | None:
        if self.returncode is None and flag != os.WNOHANG:
            connection.wait([self.sentinel])  # readable once the child has exited
        with self._status_lock:
            status: int | None = super().poll(flag)  # type: ignore[misc]
            return status


def _popen_class(method: str) -> type:
    if method == "forkserver":
        from multiprocessing import popen_forkserver

        return type("Popen", (_OneReader, popen_forkserver.Popen), {})
    from multiprocessing import popen_spawn_posix

    return type("Popen", (_OneReader, popen_spawn_posix.Popen), {})


class ForkServerProcess(context.ForkServerProcess):
    """A forkserver `Process` whose exit status is read once (see the module)."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _popen_class("forkserver")(process_obj)


class SpawnProcess(context.SpawnProcess):
    """A spawn `Process` whose exit status is read once (see the module)."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _popen_class("spawn")(process_obj)
