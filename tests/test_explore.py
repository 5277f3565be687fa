"""The schedule search on a model program (no threads): the preemption bound, sleep
sets and the stop at the first failure. The real lessons are searched in
tests/test_stepping_api.py."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

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


def test_steps_on_three_separate_objects_are_tried_in_one_order_only() -> None:
    apart: Program = {"A": [("write", "x")], "B": [("write", "y")], "C": [("write", "z")]}
    found = search(apart, bound=2, check=lambda memory: None)
    assert found.exhausted
    assert found.schedules_tried == 1  # the other five orders only reorder commuting steps
    assert found.pruned == 3  # B first, C first, A then C: each reaches a step where all that is left sleeps


def test_a_race_on_one_object_is_tried_in_every_order_the_bound_allows() -> None:
    found = search(RACE, bound=2, check=lambda memory: None)
    assert found.exhausted
    # A's read and write then B's (and the mirror), and the four interleavings of the
    # two reads and two writes; reads commute, so each pair of read orders counts once
    assert (found.schedules_tried, found.pruned) == (4, 0)  # and none run in vain


def test_without_a_prefix_the_worker_that_ran_last_goes_on_while_it_can() -> None:
    chooser = Chooser([], frozenset())

    def ready(*workers: str) -> list[Pending]:
        return [Pending(w, "write", w.lower(), True, False, "", 0) for w in workers]

    assert [chooser.choose(ready("A", "B")), chooser.choose(ready("A", "B"))] == ["A", "A"]
    assert chooser.choose(ready("B")) == "B"  # A is not ready: B goes
    assert chooser.choose(ready("A", "B")) == "B"  # and goes on
    assert chooser.choose([Pending("A", "acquire", "lock", False, True, "", 0)]) is None  # nobody can go
    assert chooser.execution.schedule == ["A", "A", "B", "B"]
    assert [c.ready for c in chooser.execution.choices] == [("A", "B"), ("A", "B"), ("B",), ("A", "B")]


def test_a_prefix_that_no_longer_fits_the_program_says_at_which_step() -> None:
    chooser = Chooser(["A", "B"], frozenset())
    assert chooser.choose([Pending(w, "read", "x", True, False, "", 0) for w in "AB"]) == "A"
    with pytest.raises(ValueError, match=r"^step 2: B cannot go now; ready: A$"):
        chooser.choose(
            [Pending("A", "read", "x", True, False, "", 0), Pending("B", "read", "x", False, True, "", 0)]
        )


def test_a_switch_counts_as_a_preemption_only_where_the_last_worker_could_have_gone_on() -> None:
    both = [Pending(w, "read", "x", True, False, "", 0) for w in "AB"]
    chooser = Chooser(["A", "B", "A", "B"], frozenset())
    for _ in range(4):
        chooser.choose(both)
    choices = chooser.execution.choices
    assert [preemptions(choices, upto, "B") for upto in range(4)] == [0, 1, 1, 3]
    assert preemptions(choices, 3, "A") == 2  # A, B, A, then A again
    blocked = Chooser(["A", "B"], frozenset())
    blocked.choose(both)
    blocked.choose([Pending("A", "acquire", "lock", False, True, "", 0), both[1]])
    assert preemptions(blocked.execution.choices, 1, "B") == 0  # A could not go on: no preemption


def test_explore_stops_at_its_schedule_budget_without_claiming_the_space_was_searched() -> None:
    found = explore(model(RACE, lost), preemption_bound=1, max_schedules=1, max_seconds=10)
    assert (found.schedules_tried, found.failing_schedule, found.exhausted) == (1, None, False)


def test_explore_stops_when_told_or_out_of_time_before_trying_anything() -> None:
    for found in (
        explore(
            model(RACE, lost), preemption_bound=1, max_schedules=1000, max_seconds=10, stopped=lambda: True
        ),
        explore(model(RACE, lost), preemption_bound=1, max_schedules=1000, max_seconds=0.0),
    ):
        assert (found.schedules_tried, found.failing_schedule, found.exhausted) == (0, None, False)


def test_an_execution_cut_by_the_deadline_ends_the_search_uncounted() -> None:
    def cut(chooser: Chooser) -> Execution:
        chooser.execution.cut = True
        chooser.execution.failure = "not judged"  # a cut execution's verdict is never read
        return chooser.execution

    found = explore(cut, preemption_bound=1, max_schedules=1000, max_seconds=10)
    assert (found.schedules_tried, found.failure, found.exhausted) == (0, None, False)


def test_explore_reports_how_long_it_searched() -> None:
    began = time.monotonic()
    found = search(RACE, bound=2)
    took = time.monotonic() - began
    assert 0 < found.seconds <= took


def test_reads_commute_only_with_reads_and_a_step_without_an_object_with_nothing() -> None:
    assert not independent(("write", "y"), ("sleep", ""))
    assert not independent(("begin", ""), ("begin", ""))
    assert not independent(("write", "x"), ("read", "x"))
    assert not independent(("print", "stdout"), ("print", "stdout"))  # output order is what a learner sees


def test_two_conflicting_steps_and_one_that_commutes_with_both_are_tried_in_two_orders() -> None:
    program: Program = {"A": [("write", "x")], "B": [("write", "y")], "C": [("write", "x")]}
    found = search(program, bound=2, check=lambda memory: None)
    assert found.exhausted
    assert found.schedules_tried == 2  # A before C, and C before A: where B goes changes nothing
