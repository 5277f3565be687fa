"""The CPU-clock sampler, with real threads doing real work: what it draws, and that
every lane's events still leave the recorder in time order."""

from __future__ import annotations

import os
import subprocess
import sys
import threading as std_threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import pytest

from app.sampler import MAX_OPEN_NS, Sampler, split_interval
from app.scenarios.proc_work import count_primes
from app.timeline import Event, Kind, LaneKind
from app.traced import threading
from app.traced import time as traced_time
from app.tracing import Recorder, bind, current_lane
from tests.helpers import gil_share, wait_until

ROOT = Path(__file__).resolve().parents[1]
STATES = {Kind.START, Kind.RUN, Kind.IO, Kind.WAIT, Kind.GIL, Kind.DONE, Kind.CRASH}
JOB = 60_000  # count the primes below this: ~0.2 s of CPU here


def time_in_states(events: Iterable[Event], lane: str) -> dict[str, int]:
    """ns per state of one lane, from its first event to its end; gil split by what it waits for."""
    spent: dict[str, int] = defaultdict(int)
    mine = [e for e in events if e.worker == lane and e.kind in STATES]
    for here, following in pairwise(mine):
        name = f"gil:{here.obj}" if here.kind is Kind.GIL else str(here.kind)
        spent[name] += following.t_ns - here.t_ns
    return dict(spent)


def sampled_run(
    workers: int,
    *,
    together: bool = False,
    first_computes_before_the_rest: bool = False,
    main_cpu: list[int] | None = None,
    ticking: bool = True,
) -> list[Event]:
    """`workers` threads each count primes, with the sampler on; every event, drained
    as the runner drains them (while the threads run), in the order they left. With
    `together`, they start counting only once all are started (a traced Barrier): on
    a loaded machine main may otherwise start the next thread only once the last has
    run alone for a while, which is not what a lesson about contention draws. With
    `first_computes_before_the_rest`, main starts the others only once the first is
    computing: from then on every start() has to win the interpreter from it; the CPU
    time main used to start them is appended to `main_cpu`. Not `ticking`: the
    sampler's thread never runs, as if it never got the interpreter."""
    rec = Recorder()
    sampler = Sampler(rec)
    if ticking:
        sampler.start()
    else:
        rec.watcher = sampler
    left: list[Event] = []
    done = std_threading.Event()

    def drain() -> None:
        while not done.wait(0.016):
            left.extend(rec.take())

    drainer = std_threading.Thread(target=drain)
    drainer.start()
    try:
        with bind(rec, "main", LaneKind.MAIN):
            computing = std_threading.Event()

            def signal_then_count(below: int) -> None:
                computing.set()
                count_primes(below)

            all_started = threading.Barrier(workers, name="all started")

            def count_together(below: int) -> None:
                all_started.wait()
                count_primes(below)

            rest = count_together if together else count_primes
            first = signal_then_count if first_computes_before_the_rest else rest
            threads = [threading.Thread(target=first, args=(JOB,))]
            threads += [threading.Thread(target=rest, args=(JOB,)) for _ in range(workers - 1)]
            for t in threads:
                t.start()
                if t is threads[0] and first_computes_before_the_rest:
                    assert computing.wait(60), "the first thread never started computing"
                    cpu_before = time.thread_time_ns()
            if first_computes_before_the_rest and main_cpu is not None:
                main_cpu.append(time.thread_time_ns() - cpu_before)
            for t in threads:
                t.join()
    finally:
        done.set()
        drainer.join()
        sampler.stop()
    left.extend(rec.take())
    return left


def four_threads_time(events: list[Event]) -> tuple[dict[str, int], int]:
    """ns per state of Thread-1 to Thread-4 together, and how much of it was a wait for
    the GIL or a core."""
    spent: dict[str, int] = defaultdict(int)
    for n in range(1, 5):
        for state, ns in time_in_states(events, f"Thread-{n}").items():
            spent[state] += ns
    return spent, spent["gil:GIL"] + spent["gil:CPU"]


def test_a_lone_cpu_bound_thread_is_drawn_waiting_for_the_gil_at_most_2_percent_of_its_time() -> None:
    events = sampled_run(1)
    spent = time_in_states(events, "Thread-1")
    assert spent.get("run", 0) > 0
    # Waiting for a core (another program had it) is not waiting for the GIL: only
    # the GIL share is bounded. The server's own threads must not show up.
    assert gil_share(spent) <= 0.02, spent


def test_four_cpu_bound_threads_are_drawn_waiting_a_third_of_their_time_some_of_it_for_the_gil() -> None:
    """Once all four count, at most one of them runs at a time, whatever the load: the
    others are drawn waiting. For the GIL or for a core: how that splits is up to the
    machine (beside a soak's hogs and more, load 8 on 2 cores, 144 ms went to the GIL
    and 573 to a core, a GIL share of 14 %); the by-hand tests below pin the split."""
    spent, waited = four_threads_time(sampled_run(4, together=True))
    assert waited >= (spent["run"] + waited) / 3, dict(spent)
    assert spent["gil:GIL"] > 0, dict(spent)


def test_four_cpu_bound_threads_are_drawn_waiting_even_by_a_sampler_kept_from_the_interpreter() -> None:
    """A sampler needs the interpreter too: beside other load it may tick seldom while
    the lanes it watches hold it (once, four counting threads were drawn running 95 %
    of their time). Each lane's interval opens where it starts or resumes, in its own
    thread, so time it waited is drawn as waiting whenever the sampler next looks, or
    at the lane's end. Here the sampler never ticks: the lanes' ends decide it all."""
    spent, waited = four_threads_time(sampled_run(4, together=True, ticking=False))
    assert waited >= (spent["run"] + waited) / 2, dict(spent)


def test_every_lane_leaves_the_recorder_in_time_order_although_the_sampler_back_dates() -> None:
    events = sampled_run(4)
    last: dict[str, int] = {}
    for e in events:  # in the order take() handed them out, batch after batch
        assert e.t_ns >= last.get(e.worker, 0), f"{e} arrived after a later event of its lane"
        last[e.worker] = e.t_ns
    for n in range(1, 5):
        kinds = [e.kind for e in events if e.worker == f"Thread-{n}" and e.kind in STATES]
        assert kinds[0] is Kind.START
        assert kinds[-1] is Kind.DONE
        assert Kind.DONE not in kinds[:-1]  # nothing drawn on a lane after its end


def test_main_is_not_drawn_running_while_it_waits_to_start_threads_behind_the_gil() -> None:
    # The first thread computes before main starts the rest: each start then waits for
    # the interpreter. How long is up to the machine (beside CPU hogs the three starts
    # once took 0.8 ms, all of it truly running): main is drawn running only as long as
    # its own CPU clock says it ran.
    cpu: list[int] = []
    events = sampled_run(4, first_computes_before_the_rest=True, main_cpu=cpu)
    starts = [e.t_ns for e in events if e.kind is Kind.START and e.worker.startswith("Thread-")]
    joining = next(
        e.t_ns for e in events if e.worker == "main" and e.kind is Kind.WAIT and e.obj.startswith("join")
    )
    # From the second start (three threads compete by then) to main's first join.
    window = [e for e in events if e.worker == "main" and starts[1] <= e.t_ns <= joining]
    spent: dict[str, int] = defaultdict(int)
    mine = [e for e in events if e.worker == "main" and e.kind in STATES]
    for here, following in pairwise(mine):
        begin, end = max(here.t_ns, starts[1]), min(following.t_ns, joining)
        if end > begin:
            spent[f"gil:{here.obj}" if here.kind is Kind.GIL else str(here.kind)] += end - begin
    total = sum(spent.values())
    assert window, "main recorded nothing while it started the threads"
    # Starting a thread means waiting for it to get the interpreter, then for the
    # interpreter back: the time main did not run is drawn as a wait, not as running
    # (1 ms of slack: a sample's interval may straddle the window's ends).
    assert spent.get("run", 0) <= cpu[0] + 1_000_000, (dict(spent), total, cpu[0])


def test_a_stopped_sampler_holds_nothing_back_and_leaves_the_recorder() -> None:
    rec = Recorder()
    sampler = Sampler(rec).start()
    with bind(rec, "main", LaneKind.MAIN):
        count_primes(5_000)
    sampler.stop()
    assert rec.hold_from is None
    assert rec.watcher is None
    assert [e.kind for e in rec.take()][-1] is Kind.DONE


class Stuck:
    """An empty pipe that a thread reads to get stuck: to the sampler a lane that should
    run and gains no CPU, as behind the GIL. The kernel shows the thread inside that
    read (/proc/self/task/<tid>/syscall: the call and its arguments, the fd first), so a
    test knows it is stuck there, not asleep on its way there waiting for the GIL (which
    would gain it CPU time in the middle of the test's samples)."""

    def __init__(self) -> None:
        self._read_end, self._write_end = os.pipe()

    def here(self) -> None:
        """Called by the thread to get stuck, until `release()`."""
        os.read(self._read_end, 1)

    def holds(self, thread: std_threading.Thread) -> bool:
        call = Path(f"/proc/self/task/{thread.native_id}/syscall").read_text().split()
        return len(call) > 1 and call[1] == hex(self._read_end)

    def wait_until_it_holds(self, thread: std_threading.Thread) -> None:
        wait_until(lambda: self.holds(thread), timeout=30, what="the thread to be stuck")

    def release(self) -> None:
        os.write(self._write_end, b"x")

    def close(self) -> None:
        os.close(self._read_end)
        os.close(self._write_end)


def compute_for(seconds: float) -> None:
    """Count primes for this long of the thread's own CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        count_primes(2_000)


def busy_for(seconds: float) -> None:
    """Count primes for this long of wall time: the samples around it stay well within
    MAX_OPEN_NS of each other however slow the machine (a slow one computes less)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        count_primes(2_000)


def sample_while_main_computes(sampler: Sampler, meanwhile: Callable[[], None] | None = None) -> None:
    """Sample, main computes, twice; then sample once more, so that main's busy time is
    all counted. (A lane that ends or blocks decides its open interval with the other
    lanes' busy time as the last sample counted it: what main did after that would be
    missing, and beside CPU hogs the lane's own wait for a core once it was let go took
    its place, leaving 14 ms of the GIL drawn where main had computed 20.)"""
    for _ in range(2):
        sampler.sample()
        (meanwhile or (lambda: busy_for(0.02)))()
    sampler.sample()


def stuck_then(
    last: Callable[[], None],
    *,
    first: Callable[[], None] = lambda: None,
    while_stuck: Callable[[Sampler], None] = sample_while_main_computes,
    released: Callable[[Sampler], None] = lambda sampler: None,
) -> list[Event]:
    """Thread "stuck" runs `first`, then gets `Stuck`; main samples it by hand, at exact
    moments (`while_stuck`). Then it is let go and runs `last`, while main runs `released`."""
    rec = Recorder()
    sampler = Sampler(rec)
    rec.watcher = sampler  # its thread is not started: only these samples are taken
    stuck_in = Stuck()

    def stuck() -> None:
        first()
        stuck_in.here()
        last()

    try:
        with bind(rec, "main", LaneKind.MAIN):
            thread = threading.Thread(target=stuck, name="stuck")
            thread.start()
            stuck_in.wait_until_it_holds(thread)
            while_stuck(sampler)
            stuck_in.release()
            released(sampler)
            thread.join()
    finally:
        sampler.stop()
        stuck_in.close()
    return rec.take()


def never_sampled_while_main_computes(sampler: Sampler) -> None:
    """As `sample_while_main_computes`, but the sampler never looks (kept from
    the interpreter by the lanes it watches): the lane's own start and end decide."""
    busy_for(0.04)


WHILE_STUCK = pytest.mark.parametrize(
    "while_stuck",
    [sample_while_main_computes, never_sampled_while_main_computes],
    ids=["sampled", "unsampled"],
)


@WHILE_STUCK
def test_a_lane_that_gained_no_cpu_until_it_ended_is_drawn_waiting_before_its_end(
    while_stuck: Callable[[Sampler], None],
) -> None:
    """Its last interval is decided by the lane itself as it ends: the next sample
    would no longer find it. Never sampled, its one interval opened where it started."""
    events = stuck_then(lambda: None, while_stuck=while_stuck)
    spent = time_in_states(events, "stuck")
    assert spent.get("gil:GIL", 0) + spent.get("gil:CPU", 0) >= 15_000_000, spent
    assert [e.kind for e in events if e.worker == "stuck"][-1] is Kind.DONE


@WHILE_STUCK
def test_a_lane_that_gained_no_cpu_until_it_blocked_is_drawn_waiting_before_its_block(
    while_stuck: Callable[[Sampler], None],
) -> None:
    """What it waited for lands before what it does next (its sleep), not after it:
    the lane decides its open interval as it blocks, sampled or not."""
    events = stuck_then(lambda: traced_time.sleep(0.001), while_stuck=while_stuck)
    mine = [e for e in events if e.worker == "stuck" and e.kind in STATES]
    sleeping = next(i for i, e in enumerate(mine) if e.kind is Kind.IO)
    waits = [e for e in mine[:sleeping] if e.kind is Kind.GIL]
    assert waits, mine
    assert mine[sleeping].t_ns - waits[0].t_ns >= 15_000_000, mine


def test_a_lane_that_blocked_since_its_last_sample_is_not_drawn_waiting_over_its_block() -> None:
    """Sampled once, then asleep until it ends: its time off the CPU since it slept was
    its own sleep, already drawn as such, not a wait for the GIL or a core. (Stuck
    before, it may be drawn waiting up to its sleep.)"""
    events = stuck_then(lambda: traced_time.sleep(0.02), while_stuck=lambda sampler: sampler.sample())
    mine = [e for e in events if e.worker == "stuck" and e.kind in STATES]
    sleeping = next(i for i, e in enumerate(mine) if e.kind is Kind.IO)
    assert [e.kind for e in mine[sleeping:]] == [Kind.IO, Kind.RUN, Kind.DONE], mine
    assert mine[sleeping + 1].t_ns - mine[sleeping].t_ns >= 20_000_000, mine


@pytest.mark.parametrize(("main_did", "drawn"), [("computes", "gil:GIL"), ("sleeps", "gil:CPU")])
def test_a_lane_that_gained_no_cpu_waited_for_the_gil_only_while_another_lane_ran(
    main_did: str, drawn: str
) -> None:
    """The same stuck thread, while main computes (it holds the interpreter) or sleeps
    (nobody does: an untraced sleep, so main still counts as a lane that should run).
    Main computes 20 ms of its own CPU time, not of wall time: the GIL drawn is no more
    than main was busy, and a thread left running by an earlier test in the same
    process may take the interpreter from it (the likely cause of one failure in a
    mutation baseline, which runs the whole fast suite in one process)."""
    meanwhile = (lambda: compute_for(0.02)) if main_did == "computes" else (lambda: time.sleep(0.02))
    events = stuck_then(lambda: None, while_stuck=lambda s: sample_while_main_computes(s, meanwhile))
    spent = time_in_states(events, "stuck")
    assert spent.get(drawn, 0) >= 15_000_000, spent
    if main_did == "sleeps":  # main's own waits for a core as it wakes count as busy: a little GIL
        assert spent.get("gil:GIL", 0) < spent["gil:CPU"], spent


def settle_its_interval() -> None:
    """What a pool worker does as it starts a task (it may die in it): its interval so
    far is drawn now, and the next one opens where the sampler next looks."""
    lane = current_lane()
    assert isinstance(lane.recorder.watcher, Sampler)
    lane.recorder.watcher.settle(lane.name)


def sample_once_while_main_computes(sampler: Sampler) -> None:
    sampler.sample()
    busy_for(0.02)


@pytest.mark.parametrize(
    ("first", "while_stuck", "waited_ms"),
    [
        (lambda: None, sample_while_main_computes, 30),  # main's two 20 ms, at least
        (settle_its_interval, sample_once_while_main_computes, 15),  # its interval opens at the sample
    ],
    ids=["sampled", "settled"],
)
def test_a_lane_that_waited_then_computed_is_drawn_waiting_then_running(
    first: Callable[[], None], while_stuck: Callable[[Sampler], None], waited_ms: int
) -> None:
    """Its interval closes at the first sample after it gained CPU: the wait is drawn
    there, not averaged away into the long run that follows. An interval the sampler
    opened (it held the interpreter there) is drawn waiting first, then running: at
    that sample the lane had computed for 10 ms, and is drawn running then."""
    computed, sampled = std_threading.Event(), std_threading.Event()
    sampled_at: list[int] = []

    def compute_then_more() -> None:
        compute_for(0.01)
        computed.set()
        assert sampled.wait(60)
        compute_for(0.1)

    def sample_once_it_computed(sampler: Sampler) -> None:
        assert computed.wait(60)
        sampled_at.append(sampler.rec.now())
        sampler.sample()
        sampled.set()

    events = stuck_then(
        compute_then_more, first=first, while_stuck=while_stuck, released=sample_once_it_computed
    )
    mine = [e for e in events if e.worker == "stuck" and e.kind in STATES]
    kinds = [(e.kind, e.obj) if e.kind is Kind.GIL else e.kind for e in mine]
    assert kinds[0] is Kind.START, kinds
    assert kinds[-2:] == [Kind.RUN, Kind.DONE], kinds
    waits = [e for e in mine if e.kind is Kind.GIL]
    assert waits, kinds
    running = mine[-2]
    assert running.t_ns - waits[0].t_ns >= waited_ms * 1_000_000, mine
    assert mine[-1].t_ns - running.t_ns >= 100_000_000, mine  # its last 0.1 s of CPU ran
    [at_the_sample] = sampled_at
    assert [e.kind for e in mine if e.t_ns <= at_the_sample - 5_000_000][-1] is Kind.RUN, mine


def test_a_lane_that_settles_has_what_it_waited_for_drawn_at_once() -> None:
    """`settle()` (a pool worker about to start a task that may kill it) decides the
    lane's open interval there and then: its wait is recorded before it goes on, not
    at a sample or an end that may never come."""
    settled, looked = std_threading.Event(), std_threading.Event()
    at_the_settle: list[tuple[Kind, str]] = []

    def settle_then_hold_on() -> None:
        settle_its_interval()
        settled.set()
        assert looked.wait(60)

    def look_once_it_settled(sampler: Sampler) -> None:
        assert settled.wait(60)
        recorded = sampler.rec.take_raw(held_too=True)
        at_the_settle.extend((kind, obj) for _, worker, kind, obj, _, _ in recorded if worker == "stuck")
        looked.set()

    stuck_then(
        settle_then_hold_on, while_stuck=never_sampled_while_main_computes, released=look_once_it_settled
    )
    assert any(kind is Kind.GIL for kind, _ in at_the_settle), at_the_settle


def test_an_interval_without_cpu_progress_is_decided_when_the_lane_runs_or_after_a_tenth_of_a_second() -> (
    None
):
    """The kernel adds a wait for a core to the thread's queue time only once it runs
    again: until then its interval is not drawn (and the lane's later events wait),
    unless it has been open for MAX_OPEN_NS. Decided is seen by what it lets go: a
    mark main records meanwhile leaves the recorder. (Not by a new `gil` event: the
    lane may go on waiting for what it was already drawn waiting for, which draws
    nothing new; beside CPU hogs that failed this test once.)"""
    looks: list[tuple[bool, float, float]] = []  # (decided, at least, at most) seconds open

    def look_while_stuck(sampler: Sampler) -> None:
        time.sleep(0.12)  # the run is older than a tenth of a second: its clock is not the interval's
        before = time.monotonic()
        sampler.sample()  # draws the wait since the lane started; the next interval opens here
        opened = time.monotonic()
        sampler.rec.take()
        for pause in (0.005, 0.11):
            sampler.rec.emit("main", Kind.MARK, f"before a {pause} s pause")
            time.sleep(pause)
            sampling = time.monotonic()
            sampler.sample()
            decided = any(e.kind is Kind.MARK for e in sampler.rec.take())
            looks.append((decided, sampling - opened, time.monotonic() - before))

    stuck_then(lambda: None, while_stuck=look_while_stuck)
    (early, *_), (late, at_least, _) = looks
    assert late, looks
    assert at_least >= MAX_OPEN_NS / 1e9
    if looks[0][2] < MAX_OPEN_NS / 1e9:  # (this machine did not stall main for 0.1 s meanwhile)
        assert not early, looks


def test_a_stopped_sampler_draws_nothing_for_a_lane_that_ends_after_the_stop() -> None:
    """The run is over once the sampler stops: an open interval of a lane still alive
    then (a program left behind) is dropped, not drawn when the lane ends later."""

    def sample_then_stop(sampler: Sampler) -> None:
        sample_while_main_computes(sampler)
        sampler.stop()
        sampler.rec.take()  # what was drawn before the stop (on a slow machine, its wait may be)

    after_the_stop = stuck_then(lambda: None, while_stuck=sample_then_stop)
    mine = [e.kind for e in after_the_stop if e.worker == "stuck"]
    assert mine == [Kind.DONE], mine


def test_a_stopped_runs_sampler_ends_by_itself_and_holds_back_nothing_recorded_after() -> None:
    """A stopped run's sampler ends without `stop()` (the runner may leave a stuck
    program behind, its sampler never stopped). Lanes still unwinding then open no
    interval as they resume: their events leave at once, none held back for a sample
    that will never come."""
    rec = Recorder()
    sampler = Sampler(rec).start()
    try:
        with bind(rec, "main", LaneKind.MAIN):
            rec.blocked("main")  # as a traced wait does
            rec.stop("stopped by a test")
            wait_until(lambda: sampler.own_cpu_ns > 0, timeout=30, what="the sampler's thread to end")
            rec.take()
            rec.unblocked("main")  # its wait returns, to raise Stop
            rec.emit("main", Kind.CRASH, "Stop")
            assert [e.kind for e in rec.take()] == [Kind.CRASH]
    finally:
        sampler.stop()


def test_every_sample_counts_one_tick() -> None:
    """`ticks` is how the bench measures what a sample costs."""
    sampler = Sampler(Recorder())  # not started: sampled by hand
    for _ in range(3):
        sampler.sample()
    assert sampler.ticks == 3


def open_files() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_sampled_run_leaves_no_file_open_and_no_sampler_thread_running() -> None:
    before = open_files()
    sampled_run(3)  # the threads end, then the sampler stops
    assert open_files() == before
    rec = Recorder()
    others = set(std_threading.enumerate())
    sampler = Sampler(rec).start()
    # Named, for a thread dump of the server (and for this test to tell it apart); a
    # daemon, so that a run left behind never keeps the server from exiting.
    [thread] = set(std_threading.enumerate()) - others
    assert thread.name == "interleave-sampler"
    assert thread.daemon
    with bind(rec, "main", LaneKind.MAIN):
        count_primes(5_000)
        sampler.stop()  # while main is still a lane: stopping lets go of its files too
        assert open_files() == before
        sampler.started("late", LaneKind.THREAD)  # a lane that registers as the run stops
        assert open_files() == before
    assert sampler.own_cpu_ns > 0  # the sampler's thread has ended and said what it used
    assert not thread.is_alive()


def test_a_sampler_never_stopped_does_not_keep_the_server_from_exiting() -> None:
    """A run whose program is stuck is left behind (its sampler never stopped): the
    interpreter still exits."""
    code = "from app.sampler import Sampler; from app.tracing import Recorder; Sampler(Recorder()).start()"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_process_lane_counts_every_wait_off_the_cpu_as_a_wait_for_a_core() -> None:
    """A process's lane, as a child process has it: the only lane of its recorder. Kept
    off the CPU while a thread that is not a lane computes (as the child's own helper
    threads are not), its wait is for a core, never the GIL: no lane could hold it."""
    rec = Recorder()
    sampler = Sampler(rec)
    rec.watcher = sampler  # sampled by hand, at exact moments
    stuck_in = Stuck()

    def process_main() -> None:
        with bind(rec, "Process-1", LaneKind.PROCESS):
            stuck_in.here()

    lane = std_threading.Thread(target=process_main)
    lane.start()
    try:
        stuck_in.wait_until_it_holds(lane)
        for _ in range(2):
            sampler.sample()
            busy_for(0.02)  # this thread is no lane: its computing is nobody's GIL
        stuck_in.release()
        lane.join()
    finally:
        sampler.stop()
        stuck_in.close()
    spent = time_in_states(rec.take(), "Process-1")
    assert "gil:GIL" not in spent, spent
    assert spent.get("gil:CPU", 0) >= 15_000_000, spent


@contextmanager
def two_hogs_on(cpu: int) -> Iterator[None]:
    """Two CPU-bound processes pinned to `cpu`, spinning until the block ends: a thread
    pinned there too spends about two thirds of its time queued for it."""
    spin = f"import os; os.sched_setaffinity(0, {{{cpu}}}); print('pinned', flush=True)\nwhile True: pass"
    hogs = [
        subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        for hog in hogs:
            assert hog.stdout is not None
            assert hog.stdout.readline() == "pinned\n"
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.communicate()  # reaps it and closes its pipe


def test_a_process_lane_that_computes_and_queues_for_a_core_is_never_drawn_waiting_for_the_gil() -> None:
    """The same lane computing between its stops, pinned to a core with two CPU hogs:
    it is queued for the core too, and its own CPU and queue time are nobody else's.
    Sampled by hand while it is stuck each time, so that one interval (the last)
    holds all three: CPU it gained, time queued, and time off the CPU."""
    rec = Recorder()
    sampler = Sampler(rec)
    rec.watcher = sampler
    cpu = min(os.sched_getaffinity(0))
    stops = [Stuck() for _ in range(3)]

    def process_main() -> None:
        os.sched_setaffinity(0, {cpu})  # this thread only
        with bind(rec, "Process-1", LaneKind.PROCESS):
            for stop in stops:
                stop.here()
                if stop is not stops[-1]:
                    compute_for(0.005)

    lane = std_threading.Thread(target=process_main)
    try:
        with two_hogs_on(cpu):
            lane.start()
            for stop in stops:
                stop.wait_until_it_holds(lane)
                if stop is stops[-1]:
                    # Off the CPU, not queued: what the last interval must draw as a core's wait.
                    time.sleep(0.02)
                sampler.sample()
                stop.release()
            lane.join()
    finally:
        sampler.stop()
        for stop in stops:
            stop.close()
    spent = time_in_states(rec.take(), "Process-1")
    assert "gil:GIL" not in spent, spent
    assert spent.get("gil:CPU", 0) >= 15_000_000, spent


def test_a_sleeping_thread_is_drawn_sleeping_never_waiting_for_the_gil() -> None:
    """A thread in sleep() gains no CPU and wants none: the traced sleep tells the
    sampler so, or its lane would turn grey while it sleeps."""
    rec = Recorder()
    sampler = Sampler(rec).start()
    try:
        with bind(rec, "main", LaneKind.MAIN):
            sleeper = threading.Thread(target=traced_time.sleep, args=(0.3,), name="sleeper")
            sleeper.start()
            sleeper.join()
    finally:
        sampler.stop()
    # Before and after its sleep it may wait for a core, truly, on a busy machine.
    mine = [e for e in rec.take() if e.worker == "sleeper" and e.kind in STATES]
    sleeping = next(i for i, e in enumerate(mine) if e.kind is Kind.IO)
    woke = mine[sleeping + 1]
    assert woke.kind is Kind.RUN, mine
    assert woke.t_ns - mine[sleeping].t_ns >= 0.3e9, mine


def _sleep_a_little(main_holds: threading.Lock) -> None:
    traced_time.sleep(0.05)


def _wait_for_a_lock(main_holds: threading.Lock) -> None:
    with main_holds:
        pass


def _start_a_thread(main_holds: threading.Lock) -> None:
    quick = threading.Thread(target=lambda: None)
    quick.start()
    std_threading.Thread.join(quick)  # untraced: only the start hands the lane back


def _decide_its_interval_as_a_pool_worker_does(main_holds: threading.Lock) -> None:
    settle_its_interval()


@pytest.mark.parametrize(
    "first",
    [_sleep_a_little, _wait_for_a_lock, _start_a_thread, _decide_its_interval_as_a_pool_worker_does],
    ids=["sleep", "lock", "start", "settle"],
)
def test_a_thread_that_waited_is_sampled_again_once_its_wait_returns(
    first: Callable[[threading.Lock], None],
) -> None:
    """After a sleep, a lock wait, starting a thread or deciding its interval early, a
    thread that cannot run is drawn waiting for the GIL while another lane holds it:
    every traced call that waits hands the lane back to the sampler when it returns.
    Without that hand-back the sampler takes it for still blocked and draws no wait at
    all. Sampled by hand, while the thread is `Stuck` and main computes."""
    rec = Recorder()
    sampler = Sampler(rec)
    rec.watcher = sampler  # its thread is not started: only these samples are taken
    stuck_in = Stuck()

    def wait_then_get_stuck() -> None:
        first(main_holds)
        stuck_in.here()

    try:
        with bind(rec, "main", LaneKind.MAIN):
            main_holds = threading.Lock(name="held")
            main_holds.acquire()
            sleeper = threading.Thread(target=wait_then_get_stuck, name="sleeper")
            sleeper.start()
            if first is _wait_for_a_lock:
                wait_until(lambda: rec.waiting_for.get("sleeper") == "held", what="the sleeper to wait")
            main_holds.release()
            stuck_in.wait_until_it_holds(sleeper)
            sample_while_main_computes(sampler, lambda: compute_for(0.02))  # CPU time: see above
            stuck_in.release()
            sleeper.join()
    finally:
        sampler.stop()
        stuck_in.close()
    spent = time_in_states(rec.take(), "sleeper")
    assert spent.get("gil:GIL", 0) >= 15_000_000, spent


def test_a_slow_start_is_drawn_as_one_wait_with_nothing_sampled_inside(slow_to_run: None) -> None:
    """While main waits in start() for the new thread to run, it is drawn waiting for
    that thread ("start late"), not sampled as a lane that wants a CPU or the GIL: the
    sampler draws nothing on it until start() has returned."""
    rec = Recorder()
    sampler = Sampler(rec).start()
    try:
        with bind(rec, "main", LaneKind.MAIN):
            lates = [threading.Thread(target=lambda: None, name=f"late-{i}") for i in range(3)]
            for late in lates:
                count_primes(2_000)  # main computes between starts: a lane the sampler watches
                late.start()
            for late in lates:
                late.join()
    finally:
        sampler.stop()
    mine = [e for e in rec.take() if e.worker == "main" and e.kind in STATES]
    waits = [i for i, e in enumerate(mine) if e.kind is Kind.WAIT and e.obj.startswith("start late")]
    assert len(waits) == 3
    for i in waits:
        assert (mine[i + 1].kind, mine[i + 1].obj) == (Kind.RUN, mine[i].obj), mine[i : i + 3]


MS = 1_000_000


@pytest.mark.parametrize(
    ("ran", "queued", "others", "drawn"),
    [
        # on a CPU half of the time or more: it ran (a short steal does not show)
        (5 * MS, 0, 10 * MS, [(0, "run")]),
        # a nanosecond less: off the CPU first, and with no other lane busy not for the GIL
        (5 * MS - 1, 0, 0, [(0, "CPU"), (5 * MS + 1, "run")]),
        # never on a CPU while the other lanes ran all along: the GIL, then nothing to run
        (0, 0, 10 * MS, [(0, "GIL")]),
        # never on a CPU, queued for one all along: a wait for a core, whatever the others did
        (0, 10 * MS, 10 * MS, [(0, "CPU")]),
        # 8 ms off the CPU, 3 of them queued, the others busy 4 ms: 4 ms for the GIL
        # (no more than the others were busy), the rest for a core, then the 2 ms it ran
        (2 * MS, 3 * MS, 4 * MS, [(0, "GIL"), (4 * MS, "CPU"), (8 * MS, "run")]),
        # the same with no other lane busy (a process's lane alone in its interpreter)
        (2 * MS, 3 * MS, 0, [(0, "CPU"), (8 * MS, "run")]),
        # a GIL wait under 0.2 ms is not drawn on its own: it goes to the next piece
        (4.9 * MS, 5 * MS, 10 * MS, [(0, "CPU"), (5 * MS, "run")]),
        # pieces of exactly 0.2 ms are drawn: a GIL wait first, then a run at the end
        (5 * MS - 1, 4.8 * MS + 1, 10 * MS, [(0, "GIL"), (200_000, "CPU"), (5 * MS + 1, "run")]),
        (200_000, 0, 10 * MS, [(0, "GIL"), (9_800_000, "run")]),
        # clocks read a hair apart can go backwards: no negative CPU or queue time
        (-1, -1, 10 * MS, [(0, "GIL")]),
    ],
)
def test_an_interval_off_the_cpu_is_split_into_gil_then_core_then_run(
    ran: float, queued: float, others: int, drawn: list[tuple[int, str]]
) -> None:
    """The sampler's estimate for one 10 ms interval of a lane that should be running,
    from its clocks: exact pieces for exact numbers."""
    assert split_interval(0, 10 * MS, int(ran), int(queued), others) == drawn


@pytest.mark.parametrize(
    ("ran", "queued", "others", "drawn"),
    [
        # 2 ms run, 3 of 8 ms off queued, the others busy 4 ms: the run first, where the
        # lane already drew it, then 4 ms for the GIL and the rest for a core
        (2 * MS, 3 * MS, 4 * MS, [(0, "run"), (2 * MS, "GIL"), (6 * MS, "CPU")]),
        # a run shorter than 0.2 ms still comes first: the lane's own `run` event is there
        (100_000, 10 * MS, 0, [(0, "run"), (100_000, "CPU")]),
        # waits under 0.2 ms are not drawn: the run goes on
        (9.9 * MS, 0, 10 * MS, [(0, "run")]),
    ],
)
def test_an_interval_the_lane_opened_holding_the_interpreter_is_drawn_running_then_waiting(
    ran: float, queued: float, others: int, drawn: list[tuple[int, str]]
) -> None:
    assert split_interval(0, 10 * MS, int(ran), int(queued), others, ran_first=True) == drawn


def test_an_interval_too_short_to_split_is_drawn_as_it_ends_running() -> None:
    assert split_interval(7 * MS, 7 * MS + 300_000, 110_000, 0, 10 * MS) == [(7 * MS, "run")]
