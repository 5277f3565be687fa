"""The process scenarios over the HTTP API: what each one shows is in its events, and
every run leaves no child process behind, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import anyio
import httpx
import pytest

from app.traced import multiprocessing
from tests.helpers import Wire, events_of, finished_run, parse_sse
from tests.live import ROOT, wait_for_server
from tests.proc_helpers import children

pytestmark = pytest.mark.anyio


def lanes_of(events: list[Wire]) -> dict[str, list[Wire]]:
    lanes: dict[str, list[Wire]] = defaultdict(list)
    for e in events:
        lanes[e[1]].append(e)
    return lanes


@pytest.fixture
def no_children_left():
    before = children()
    yield
    # The run's finalizer reaps its children before the stream's `done`: no waiting here.
    assert children() - before == set(), "a process outlived its run"


def shared_memory_blocks(server_pid: int | None = None) -> set[str]:
    """The POSIX shared memory blocks the runs of a server (default: this process) made:
    other processes on the machine, other test sessions included, have their own."""
    mine = f"{multiprocessing.SHARED_MEMORY_PREFIX}{server_pid or os.getpid()}_*"
    return {entry.name for entry in Path("/dev/shm").glob(mine)}


@pytest.fixture
def no_shared_memory_left():
    before = shared_memory_blocks()
    yield
    # The run closes and unlinks its blocks in its finalizer, before the stream's `done`.
    assert shared_memory_blocks() - before == set(), "a shared memory block outlived its run"


@pytest.mark.usefixtures("no_children_left")
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
async def test_each_process_lane_shows_its_start_up_before_its_first_print(
    client: httpx.AsyncClient, start_method: str
) -> None:
    summary, events = await finished_run(
        client, "processes-print-numbers", processes=3, pace=0.001, start_method=start_method
    )
    assert summary["status"] == "done"
    lanes = lanes_of(events)
    assert set(lanes) == {"main", "Process-1", "Process-2", "Process-3"}
    for name in ("Process-1", "Process-2", "Process-3"):
        lane = lanes[name]
        kinds = [e[2] for e in lane]
        assert kinds[0] == "start"
        assert lane[0][4] == "process"
        # start-up, then the first line (on a busy machine the child may first wait for
        # a core, or for its own interpreter: its sampler says so, truthfully)
        first_run = kinds.index("run")
        assert set(kinds[1:first_run]) <= {"gil"}
        first_print = next(e for e in lane if e[2] == "print")
        assert lane[0][0] < lane[first_run][0] <= first_print[0]
        assert [e[4] for e in lane if e[2] == "print"] == [str(i) for i in range(1, 11)]
        assert lane[-1][2] == "done"
    assert summary["result"]["values"]["exit_codes"] == [0, 0, 0]


@pytest.mark.usefixtures("no_children_left")
async def test_pool_map_squares_the_list_with_one_labelled_segment_per_task(
    client: httpx.AsyncClient,
) -> None:
    summary, events = await finished_run(client, "pool-map", processes=2, work=10_000)
    assert summary["status"] == "done"
    assert summary["result"]["values"]["squares"] == [1, 4, 9, 16, 25]
    lanes = lanes_of(events)
    workers = {name: lane for name, lane in lanes.items() if name.startswith("PoolWorker-")}
    assert set(workers) == {"PoolWorker-1", "PoolWorker-2"}
    tasks = []
    for lane in workers.values():
        assert lane[0][2] == "start"
        assert lane[0][4] == "pool-worker"
        assert lane[-1][2] == "done"  # the pool's shutdown: every worker exits
        tasks += [e[3] for e in lane if e[2] == "run" and e[3].startswith("square(")]
    assert sorted(tasks) == [f"square({x})" for x in range(1, 6)]
    results = [e[4] for lane in workers.values() for e in lane if e[2] == "result"]
    assert sorted(int(r) for r in results) == [1, 4, 9, 16, 25]
    main = [e[3] for e in lanes["main"] if e[2] == "wait"]
    assert main == ["pool.map", "pool.join"]


@pytest.mark.usefixtures("no_children_left")
async def test_pool_map_with_the_longer_input_and_chunks(client: httpx.AsyncClient) -> None:
    summary, _ = await finished_run(client, "pool-map", processes=3, chunksize=5, longer=True, work=0)
    assert summary["result"]["values"]["squares"] == [x * x for x in range(1, 41)]


@pytest.mark.usefixtures("no_children_left")
@pytest.mark.parametrize(("channel", "consumers"), [("queue", 2), ("pipe", 1)])
async def test_every_get_is_linked_to_the_put_that_sent_its_item(
    client: httpx.AsyncClient, channel: str, consumers: int
) -> None:
    summary, events = await finished_run(
        client, "process-queue-pipe", channel=channel, consumers=consumers, items=6, pace=0.002, work=0.002
    )
    assert summary["status"] == "done"
    puts = {e[3]: e for e in events if e[2] == "put"}
    gets = [e for e in events if e[2] == "get"]
    assert len(gets) == len(puts) == 6 + consumers  # every item and one stop sign per consumer
    for get in gets:
        put = puts[get[3]]  # the same item
        assert get[5] == put[1] == "producer"  # link: who put it
        assert put[0] <= get[0]
        assert get[4] == put[4]
    received = sorted(int(e[4]) for e in gets if e[4] != "None")
    assert received == [1, 2, 3, 4, 5, 6]  # each item reached exactly one consumer


@pytest.mark.usefixtures("no_children_left", "no_shared_memory_left")
@pytest.mark.parametrize("memory", ["value", "array", "shared_memory"])
async def test_processes_lose_updates_to_shared_memory_without_the_lock(
    client: httpx.AsyncClient, memory: str
) -> None:
    summary, events = await finished_run(client, "shared-counter-processes", memory=memory)
    values = summary["result"]["values"]
    assert values["final"] == values["expected"] - values["lost"]
    writes = [e for e in events if e[2] == "write"]
    reads = [int(e[4]) for e in events if e[2] == "read"]
    assert len(reads) == len(writes) == values["expected"]  # every write happened; some overwrote others
    assert not [e for e in events if e[2] == "acquire"]
    # An update is lost exactly when a value is read twice (both readers then write
    # value + 1): the count the lesson reports is the one its lanes show. (Whether the
    # processes overlapped at all is the OS's choice: on a busy machine each may finish
    # before the next one starts, and then nothing is lost.)
    assert (values["lost"] > 0) == (len(set(reads)) < len(reads)), (values, reads)


@pytest.mark.usefixtures("no_children_left", "no_shared_memory_left")
async def test_a_lost_update_shows_two_processes_reading_the_same_bytes(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "shared-counter-processes", memory="shared_memory")
    reads = [e for e in events if e[2] == "read" and e[3] == "counter[0]"]
    writes = [e for e in events if e[2] == "write" and e[3] == "counter[0]"]
    assert len(reads) == len(writes) == summary["result"]["values"]["expected"]
    assert {e[1] for e in writes} == {f"Process-{n}" for n in range(1, 5)}
    seen: defaultdict[int, set[str]] = defaultdict(set)
    for e in reads:
        seen[int(e[4])].add(e[1])
    # the same value read by two processes: exactly when an update was lost
    assert any(len(readers) > 1 for readers in seen.values()) == (summary["result"]["values"]["lost"] > 0)
    # The final value is one a process wrote: not always the largest, since a stale
    # write can land after a fresher one (that is the lost update itself).
    written = {int(e[4]) for e in writes}
    assert summary["result"]["values"]["final"] in written


@pytest.mark.usefixtures("no_children_left", "no_shared_memory_left")
@pytest.mark.parametrize("memory", ["value", "shared_memory"])
async def test_processes_lose_no_update_when_they_hold_the_lock(
    client: httpx.AsyncClient, memory: str
) -> None:
    summary, events = await finished_run(
        client, "shared-counter-processes", use_lock=True, times=10, memory=memory
    )
    values = summary["result"]["values"]
    assert values["lost"] == 0
    assert values["final"] == values["expected"] == 40
    assert len([e for e in events if e[2] == "acquire" and e[3] == "counter.lock"]) == 40
    # (Whether two processes ever wanted the lock at once depends on how the OS started
    # them: on a busy machine each may finish before the next begins. How a wait on a
    # shared lock is drawn: test_process_tracing.)


@pytest.mark.usefixtures("no_children_left", "no_shared_memory_left")
async def test_processes_lose_no_update_to_shared_memory_at_the_default_size(
    client: httpx.AsyncClient,
) -> None:
    summary, _ = await finished_run(client, "shared-counter-processes", use_lock=True, memory="shared_memory")
    values = summary["result"]["values"]
    assert values["lost"] == 0
    assert values["final"] == values["expected"] == 100


def test_shared_memory_runs_leave_the_resource_tracker_nothing_to_complain_about(free_port: int) -> None:
    """Python 3.11's resource tracker registers a block again when a child attaches; a
    block unlinked twice, or unregistered by a child, makes it print a KeyError, and
    one never unlinked makes it warn "leaked shared_memory" when the server exits.
    Its stderr is the server's: run the scenario in a real server and read it."""
    env = os.environ | {"INTERLEAVE_PORT": str(free_port), "INTERLEAVE_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    before = shared_memory_blocks(server.pid)
    url = f"http://127.0.0.1:{free_port}"
    try:
        wait_for_server(url, server)
        with httpx.Client(base_url=url, timeout=30) as http:
            for params in (
                {"memory": "shared_memory", "times": 5},
                {"memory": "shared_memory", "times": 5, "use_lock": True, "start_method": "spawn"},
                {"memory": "shared_memory", "times": 200, "gap": 0.02},  # stopped mid-run
            ):
                run_id = http.post("/runs", json={"scenario": "shared-counter-processes", "params": params})
                run_id = run_id.json()["id"]
                if params["times"] == 200:
                    http.post(f"/runs/{run_id}/stop")
                messages = parse_sse(http.get(f"/runs/{run_id}/events").text)
                assert messages[-1].data["status"] in ("done", "stopped")
                assert shared_memory_blocks(server.pid) - before == set()
        server.send_signal(signal.SIGTERM)
        # The tracker shares the server's stderr and writes its complaints as it exits:
        # reading to the end waits for it too.
        _, stderr = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    # (Only shared memory is this test's business: a server stopped right after a
    # stopped run may still be reporting that run's semaphores, collected a moment later.)
    for complaint in ("shared_memory", "KeyError", "Traceback"):
        assert complaint not in stderr, stderr
    assert shared_memory_blocks(server.pid) - before == set()


@pytest.mark.usefixtures("no_children_left")
@pytest.mark.parametrize(
    ("death", "words", "code"),
    [
        ("exception", "ZeroDivisionError: worker 2 divided by zero", 1),
        ("os._exit", "exited with code 3", 3),
        ("SIGKILL", "killed by signal SIGKILL", -9),
    ],
)
async def test_a_crashing_process_ends_its_own_lane_and_no_other(
    client: httpx.AsyncClient, death: str, words: str, code: int
) -> None:
    summary, events = await finished_run(client, "crash-isolation", death=death, pace=0.002)
    assert summary["status"] == "done"  # the program, and the server, carry on
    lanes = lanes_of(events)
    doomed = lanes["Process-2"]
    assert doomed[-1][2] == "crash"
    assert words in doomed[-1][4]
    assert [e[4] for e in doomed if e[2] == "print"][-1] == "4"
    for name in ("Process-1", "Process-3"):
        assert lanes[name][-1][2] == "done"
        assert [e[4] for e in lanes[name] if e[2] == "print"] == [str(i) for i in range(1, 11)]
    assert summary["result"]["values"]["exit_codes"] == {"Process-1": 0, "Process-2": code, "Process-3": 0}


async def test_a_raising_thread_ends_only_its_own_lane(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(
        client, "crash-isolation", workers="threads", death="exception", pace=0.002
    )
    lanes = lanes_of(events)
    assert lanes["Thread-2"][-1][2] == "crash"
    assert lanes["Thread-1"][-1][2] == lanes["Thread-3"][-1][2] == "done"
    assert summary["result"]["values"]["crashed"] == ["Thread-2"]


async def test_a_thread_cannot_be_asked_to_die_hard(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/runs", json={"scenario": "crash-isolation", "params": {"workers": "threads", "death": "os._exit"}}
    )
    assert response.status_code == 422
    assert "whole process" in response.text


@pytest.mark.usefixtures("no_children_left")
async def test_a_dead_pool_worker_breaks_the_whole_executor(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "broken-process-pool", workers=2, numbers=8, dies_on=3)
    assert summary["status"] == "done"
    values = summary["result"]["values"]
    assert values["broken"] > 0
    assert "3" not in values["squares"]
    assert len(values["squares"]) + values["broken"] == 8
    crashed = [e for e in events if e[2] == "crash" and e[1].startswith("PoolWorker-")]
    assert any("exited with code 1" in e[4] for e in crashed), crashed
    assert any(e[2] == "print" and "BrokenProcessPool" in e[4] for e in events)


@pytest.mark.usefixtures("no_children_left", "no_shared_memory_left")
@pytest.mark.parametrize("memory", ["value", "shared_memory"])
async def test_a_stopped_run_ends_every_process_lane_and_reaps_every_child(
    client: httpx.AsyncClient, memory: str
) -> None:
    created = await client.post(
        "/runs",
        json={
            "scenario": "shared-counter-processes",
            "params": {"times": 200, "gap": 0.02, "memory": memory},
        },
    )
    run_id = created.json()["id"]
    with anyio.fail_after(20):
        while True:  # until every child has drawn something of its own
            status = (await client.get(f"/runs/{run_id}")).json()
            if status["events"] > 40:
                break
            await anyio.sleep(0.01)
    stop = await client.post(f"/runs/{run_id}/stop")
    assert stop.status_code == 200
    stream = await client.get(f"/runs/{run_id}/events")
    messages = parse_sse(stream.text)
    assert messages[-1].data["status"] == "stopped"
    lanes = lanes_of(events_of(messages))
    for name in (f"Process-{n}" for n in range(1, 5)):
        assert lanes[name][-1][2] == "done"
        assert "stopped" in lanes[name][-1][4]


@pytest.mark.usefixtures("no_children_left")
async def test_a_worker_that_dies_in_its_very_first_task_still_ends_in_crash(
    client: httpx.AsyncClient,
) -> None:
    # The task is queued before the worker exists: it runs it the moment it starts,
    # so only a batch shipped at start-up tells the parent which lane it was.
    summary, events = await finished_run(
        client, "broken-process-pool", workers=1, numbers=3, dies_on=1, work=0
    )
    assert summary["result"]["values"]["broken"] == 3
    lane = [e for e in events if e[1] == "PoolWorker-1"]
    assert lane[-1][2] == "crash", lane[-3:]
    assert "exited with code 1" in lane[-1][4]
    assert any(e[2] == "run" and e[3] == "risky_square(1)" for e in lane)
