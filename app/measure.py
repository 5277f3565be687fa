"""Measuring models side by side: how many cores this process may use, how much of
them other programs took meanwhile, and how a band of lanes spent its time.

- `allowed_cores()`: the CPUs this process may run on (its affinity), capped by its
  cgroup's CPU quota: in a container `os.cpu_count()` reports the host's CPUs.
- `measured(band)`: a lesson's phase. Lanes started inside it are drawn under `band`
  (the `start` event's obj); it times the phase and reads, from /proc/stat, the CPU
  time every program used on our CPUs, so a result can say how much of the machine
  other programs took while the phase ran (shared machines are noisy).
- `lane_states(events, lanes)`: time per state of some lanes, from their events;
  `gil` is split into waiting for the GIL and waiting for a CPU core (its obj).
- `interpreter()`: the Python that ran, and whether its GIL is enabled.

No FastAPI here: lessons import it.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from app.timeline import FINAL_STATES, JSON, STATES, Event, Kind, LaneKind
from app.tracing import Recorder, here

STATE_NAMES = ("start", "run", "io", "wait", "gil", "cpu")  # "cpu": a gil event with obj "CPU"
PROCESS_KINDS = frozenset({LaneKind.PROCESS, LaneKind.POOL_WORKER})
# Lanes that kept fewer cores busy than this on average took turns (one core, and the
# scheduler's slack): what threads doing CPU-bound Python under the GIL do.
TOOK_TURNS_BELOW_CORES = 1.3


def allowed_cores() -> float:
    """CPUs this process may use: affinity, capped by the cgroup CPU quota (v2 or v1)."""
    count = getattr(os, "process_cpu_count", None)
    cpus = float(count() if count is not None else len(os.sched_getaffinity(0)))
    quota = _cgroup_quota()
    return min(cpus, quota) if quota is not None else cpus


def _cgroup_quota() -> float | None:
    """The tightest CPU quota of this process's cgroup and its ancestors, in cores."""
    quotas: list[float] = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: cpu.max = "<quota|max> <period>"
            for where in _ancestors(Path("/sys/fs/cgroup"), path):
                quota, _, period = _read(where / "cpu.max").partition(" ")
                if quota and quota != "max" and period:
                    quotas.append(int(quota) / int(period))
        elif "cpu" in controllers.split(","):  # v1: cfs_quota_us (-1: none) / cfs_period_us
            for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                for where in _ancestors(Path("/sys/fs/cgroup") / mount, path):
                    quota, period = _read(where / "cpu.cfs_quota_us"), _read(where / "cpu.cfs_period_us")
                    if quota and period and int(quota) > 0:
                        quotas.append(int(quota) / int(period))
    return min(quotas) if quotas else None


def _ancestors(root: Path, path: str) -> Iterator[Path]:
    parts = [part for part in path.split("/") if part]
    for depth in range(len(parts), -1, -1):
        yield root.joinpath(*parts[:depth])


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def busy_cpu_ns() -> int | None:
    """CPU time all programs have used so far on the CPUs this process may run on
    (hypervisor steal included: another guest had our CPU), or None without /proc."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    mine = os.sched_getaffinity(0)
    ticks = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in mine:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
            ticks += user + nice + system + irq + softirq + steal
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """One model's run inside a lesson: when, how long, and the machine meanwhile."""

    band: str
    start_ns: int  # since the run's t0
    end_ns: int = 0
    machine_busy_ns: int | None = None  # every program's CPU time on our CPUs during it
    server_cpu_ns: int = 0  # this server process's own CPU time during it
    lanes: list[str] = field(default_factory=list)

    @property
    def wall_ns(self) -> int:
        return self.end_ns - self.start_ns


@contextmanager
def measured(band: str) -> Iterator[Phase]:
    """Run a model of a lesson: its lanes are drawn under `band`, and it is timed.

    Usage (in a lesson's main)::

        with measured("threads") as threads_phase:
            ...start and join the threads...
    """
    rec, _ = here()
    rec.keep_history()
    busy, server = busy_cpu_ns(), time.process_time_ns()
    phase = Phase(band, rec.now())
    previous, rec.band = rec.band, band
    try:
        yield phase
    finally:
        rec.band = previous
        phase.end_ns = rec.now()
        phase.server_cpu_ns = time.process_time_ns() - server
        after = busy_cpu_ns()
        phase.machine_busy_ns = None if busy is None or after is None else after - busy
        phase.lanes = [lane for lane, of in rec.bands.items() if of == band]


def others_cpu_ns(phase: Phase, rec: Recorder) -> int | None:
    """CPU time other programs used on our CPUs during the phase: the machine's busy
    time less this server's own and the phase's child processes'."""
    if phase.machine_busy_ns is None:
        return None
    children = sum(
        rec.lane_cpu.get(lane, 0) for lane in phase.lanes if rec.lane_kinds.get(lane) in PROCESS_KINDS
    )
    return max(0, phase.machine_busy_ns - phase.server_cpu_ns - children)


def lane_states(events: Iterable[Event], lanes: Iterable[str]) -> dict[str, int]:
    """Nanoseconds spent in each state by `lanes` together, from their first event to
    their end; a `gil` whose obj is "CPU" counts as "cpu" (waiting for a core)."""
    wanted = set(lanes)
    spent: dict[str, int] = defaultdict(int)
    current: dict[str, tuple[int, str]] = {}
    for event in events:
        if event.worker not in wanted or event.kind not in STATES:
            continue
        before = current.pop(event.worker, None)
        if before is not None:
            spent[before[1]] += event.t_ns - before[0]
        if event.kind not in FINAL_STATES:
            name = "cpu" if event.kind is Kind.GIL and event.obj == "CPU" else str(event.kind)
            current[event.worker] = (event.t_ns, name)
    return {name: spent.get(name, 0) for name in STATE_NAMES}


def shares(spent: dict[str, int]) -> dict[str, float]:
    """Each state's share of the total, rounded for people."""
    total = sum(spent.values())
    return {name: round(ns / total, 3) if total else 0.0 for name, ns in spent.items()}


def interpreter() -> dict[str, JSON]:
    """The Python that ran the lesson; `gil_enabled` from `sys._is_gil_enabled()` where
    it exists (3.13+), so a free-threaded build reports itself with no code change."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "gil_enabled": bool(is_enabled()) if is_enabled is not None else True,
    }
