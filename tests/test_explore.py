"""The schedule search on a model program (no threads): the preemption bound, sleep
sets and the stop at the first failure. The real lessons are searched in
tests/test_stepping_api.py."""

from __future__ import annotations

from collections.abc import Callable

from app.explore import Chooser, Execution, Explored, explore, independent, preemptions
from app.gate import Pending

Program = dict[str, list[tuple[str, str]]]  # worker -> its operations (op, obj), in order


def model(program: Program, check: Callable[[dict[str, int]], str | None]) -> Callable[[Chooser], Execution]:
    """Run `program` under a chooser: each worker reads a variable into its local and
    writes its local plus one back (the race's read-modify-write)."""

    def execute(chooser: Chooser) -> Execution:
        memory: dict[str, int] = {}
        local: dict[str, int] = {}
        at = dict.fromkeys(program, 0)
        while True:
            pending = [
                Pending(w, *ops[at[w]], ready=True, waiting=False, file="", line=0)
                for w, ops in program.items()
                if at[w] < len(ops)
            ]
            if not pending:
                break
            worker = chooser.choose(pending)
            if worker is None:
                return chooser.execution
            op, obj = program[worker][at[worker]]
            if op == "read":
                local[worker] = memory.get(obj, 0)
            else:
                memory[obj] = local.get(worker, 0) + 1
            at[worker] += 1
        chooser.execution.failure = check(memory)
        return chooser.execution

    return execute


RACE: Program = {"A": [("read", "x"), ("write", "x")], "B": [("read", "x"), ("write", "x")]}


def lost(memory: dict[str, int]) -> str | None:
    return None if memory.get("x") == 2 else f"lost update: x is {memory.get('x')}"


def search(program: Program, bound: int, check: Callable[[dict[str, int]], str | None] = lost) -> Explored:
    return explore(model(program, check), preemption_bound=bound, max_schedules=1000, max_seconds=10)


def test_without_preemptions_the_race_runs_each_worker_whole_and_loses_nothing() -> None:
    found = search(RACE, bound=0)
    assert found.failing_schedule is None
    assert found.exhausted
    assert found.schedules_tried == 2  # A then B, B then A


def test_one_preemption_is_enough_for_the_lost_update() -> None:
    found = search(RACE, bound=1)
    assert found.failure == "lost update: x is 1"
    assert found.failing_schedule is not None
    schedule = found.failing_schedule
    first_write = schedule.index(schedule[0], 1)  # the first worker's second step: its write
    assert set(schedule[:first_write]) == {"A", "B"}  # both read before either wrote


def test_operations_on_different_objects_are_not_reordered_needlessly() -> None:
    apart: Program = {"A": [("write", "x")], "B": [("write", "y")]}
    found = search(apart, bound=2, check=lambda memory: None)
    assert found.exhausted
    assert found.schedules_tried == 1  # B before A only reorders two commuting steps
    assert found.pruned == 1


def test_two_reads_commute_a_read_and_a_write_do_not() -> None:
    assert independent(("read", "x"), ("read", "x"))
    assert not independent(("read", "x"), ("write", "x"))
    assert independent(("write", "x"), ("write", "y"))
    assert not independent(("sleep", ""), ("write", "y"))  # a step without an object: unsure


def test_a_switch_away_from_a_worker_that_could_go_on_is_a_preemption() -> None:
    chooser = Chooser(["A", "A"], frozenset())
    for _ in range(2):
        chooser.choose([Pending(w, "read", "x", True, False, "", 0) for w in "AB"])
    choices = chooser.execution.choices
    assert preemptions(choices, 1, "B") == 1  # A could have gone on
    assert preemptions(choices, 0, "B") == 0  # nobody ran before: a choice, not a preemption
