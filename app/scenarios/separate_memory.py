"""The tutorial's "processes have separate memory": a child process changes a global
variable and the parent does not see it; a thread's change it does; a Value is shared."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios import proc_work
from app.scenarios.base import Params, Result, Scenario, how_it_ended, stop_reason
from app.scenarios.proc_work import add_one, add_one_shared
from app.traced import multiprocessing, print, threading


class MemoryParams(Params):
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How the child processes are started"
    )


def main(p: MemoryParams) -> Result:
    mp = multiprocessing.get_context(p.start_method)
    before = proc_work.counter
    print(f"the parent's counter is {before}")

    child = mp.Process(target=add_one, args=("the child",), name="child")
    child.start()
    child.join()
    after_child = proc_work.counter
    print(f"after the child added 1: the parent's counter is {after_child}")

    thread = threading.Thread(target=add_one, args=("the thread",), name="thread")
    thread.start()
    thread.join()
    after_thread = proc_work.counter
    print(f"after the thread added 1: the parent's counter is {after_thread}")

    shared = mp.Value("i", 0, name="shared")
    sharer = mp.Process(target=add_one_shared, args=(shared, "the child with a Value"), name="child-2")
    sharer.start()
    sharer.join()
    print(f"after that child added 1 to the Value: the parent reads {shared.value}")
    return outcome(before, after_child, after_thread, shared.peek(), [child, sharer])


def outcome(
    before: int, after_child: int, after_thread: int, shared: int, children: list[multiprocessing.Process]
) -> Result:
    values = {
        "parent_before": before,
        "parent_after_child": after_child,
        "parent_after_thread": after_thread,
        "shared_value": shared,
        "child_change_seen": after_child != before,
        "thread_change_seen": after_thread != after_child,
    }
    if (reason := stop_reason()) is not None:
        return Result("stopped before all three changes were made", values | {"stopped": reason})
    died = [f"{c.name} {how_it_ended(c.exitcode)}" for c in children if c.exitcode]
    if died:
        return Result("; ".join(died) + ": its change was never made", values | {"died": died})
    seen = f"did not see it (still {after_child})" if after_child == before else f"saw it ({after_child})"
    return Result(
        f"a child process added 1 to a global: the parent {seen}; a thread "
        f"did the same: the parent read {after_thread}; through a Value: the parent read {shared}",
        values,
        notice=(
            f"The child process changed its own copy of the global (its print shows it), and the "
            f"parent's stayed {after_child}. The thread shares the parent's memory: its "
            f"change made it {after_thread}. A multiprocessing.Value lives in shared memory, so "
            f"the parent read the child's {shared}. (The parent's counter is the server's own: "
            "it keeps counting from one run to the next.)"
        ),
    )


SCENARIO = Scenario(
    slug="separate-memory",
    title="Separate memory",
    group="Processes",
    notice=(
        "A global counter, changed three ways: by a child process (the parent does not see "
        "it: the child changed its own copy), by a thread (the parent sees it: threads share "
        "memory), and through a multiprocessing.Value (shared memory: the parent sees it)."
    ),
    params=MemoryParams,
    main=main,
    order=35,
    code=(add_one, add_one_shared, main),
)
