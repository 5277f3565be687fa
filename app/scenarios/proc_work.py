"""The functions the process scenarios run *in child processes*.

Kept apart from the scenario modules on purpose: a child imports the module of its
target to unpickle it, and this one imports only the traced drop-ins, never pydantic,
FastAPI or the scenario registry. It defines no SCENARIO, so the registry skips it.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from app.traced import print, time


def print_numbers(pace: float) -> None:
    for i in range(1, 11):
        print(i)
        time.sleep(pace)


def count_primes(below: int) -> int:
    """How many primes are smaller than `below`, by trial division: plain CPU work,
    the same amount every time it is called with the same number."""
    count = 0
    for n in range(2, below):
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            count += 1
    return count


def sum_of_squares(n: int) -> int:
    return sum(i * i for i in range(n))


def square(x: int, work: int = 0) -> int:
    sum_of_squares(work)  # some real CPU work, so each task is wide enough to see
    return x * x


def risky_square(x: int, work: int = 0, dies_on: int = 3) -> int:
    sum_of_squares(work)
    if x == dies_on:
        os._exit(1)  # the worker process dies on the spot: no exception, no goodbye
    return x * x


def producer(q: Any, items: int, pace: float, consumers: int) -> None:
    for i in range(1, items + 1):
        time.sleep(pace)  # making the item
        q.put(i)
    for _ in range(consumers):
        q.put(None)  # one "no more items" sign per consumer


def consumer(q: Any, work: float) -> None:
    while (item := q.get()) is not None:
        time.sleep(work)  # using the item
        print(f"used {item}")


def pipe_producer(conn: Any, items: int, pace: float) -> None:
    for i in range(1, items + 1):
        time.sleep(pace)
        conn.send(i)
    conn.send(None)


def pipe_consumer(conn: Any, work: float) -> None:
    while (item := conn.recv()) is not None:
        time.sleep(work)
        print(f"used {item}")


def add_many(counter: Any, times: int, gap: float, use_lock: bool) -> None:
    for _ in range(times):
        if use_lock:
            with counter.get_lock():  # nobody else can read until we have written
                value = counter.value
                time.sleep(gap)
                counter.value = value + 1
        else:
            value = counter.value  # read...
            time.sleep(gap)  # ...another process reads the same value meanwhile...
            counter.value = value + 1  # ...and one of the two updates is lost


def add_many_in_array(cells: Any, times: int, gap: float, use_lock: bool) -> None:
    for _ in range(times):
        if use_lock:
            with cells.get_lock():
                value = cells[0]
                time.sleep(gap)
                cells[0] = value + 1
        else:
            value = cells[0]
            time.sleep(gap)
            cells[0] = value + 1


def add_many_in_shared_memory(block: Any, lock: Any, times: int, gap: float, use_lock: bool) -> None:
    # `block` came pickled by name: unpickling attached this process to the parent's block
    counter = block.buf.cast("q")  # its 8 bytes seen as one 64-bit int: counter[0]
    try:
        for _ in range(times):
            if use_lock:
                with lock:  # a multiprocessing.Lock: a SharedMemory block has no get_lock()
                    value = counter[0]
                    time.sleep(gap)
                    counter[0] = value + 1
            else:
                value = counter[0]  # read...
                time.sleep(gap)  # ...another process reads the same value meanwhile...
                counter[0] = value + 1  # ...and one of the two updates is lost
    finally:
        counter.release()  # close() refuses while a view of the mapping is alive
        block.close()  # detach this process; only the creator unlinks the block


def count_then_maybe_die(me: int, doomed: int, death: str, pace: float) -> None:
    for i in range(1, 11):
        print(i)
        time.sleep(pace)
        if me == doomed and i == 4:
            if death == "exception":
                raise ZeroDivisionError(f"worker {me} divided by zero")
            if death == "os._exit":
                os._exit(3)  # ends the process at once: nothing after this runs
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does


def fetch(seconds: float) -> None:
    """A request whose reply takes `seconds`: the worker only waits (I/O)."""
    time.sleep(seconds)


counter = 0  # a global variable: every process has its own copy of this module


def add_one(who: str) -> None:
    global counter
    counter += 1
    print(f"{who}: counter is now {counter} here")


def add_one_shared(shared: Any, who: str) -> None:
    with shared.get_lock():
        shared.value += 1  # a Value lives in shared memory: the parent sees this
    print(f"{who}: the shared value is now {shared.value}")
