"""`interleave`: serve the simulator, list its lessons, or run one without a browser.

A headless run goes through the same service, runner, recorder and limits as the web
page (app/service.py), and is kept in the same history: a server using the same
INTERLEAVE_DATABASE shows it at /watch/<id>.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app import export
from app.config import Settings
from app.runner import LiveRun, RunManager, RunStatus
from app.scenarios.params import field_specs
from app.scenarios.registry import SCENARIOS
from app.service import InvalidParams, Refusal, RunService
from app.store.writer import open_history
from app.timeline import FINAL_STATES, STATES, Event, Kind
from app.traced import supervisor

USAGE_ERROR = 2  # argparse's own code for bad usage; ours for an unknown lesson or a bad value
EXPORTS = {".json": "Chrome Trace Event JSON (open in ui.perfetto.dev)", ".csv": "CSV, one row per event"}
SHOWN_SEGMENTS = 8  # a lane's first states shown in the text timeline; the rest are counted

DESCRIPTION = """\
Interleave runs real Python threads and processes, records what every worker does
(running, waiting for a lock, sleeping, waiting for the GIL...) and draws it.

  interleave serve                 the web page, on http://127.0.0.1:8000
  interleave lessons               every lesson, its parameters and their bounds
  interleave run lock-counter --set pairs=4 --set hold=0
                                   run a lesson here; print its result and each lane's states

Settings (limits, the history's file) come from INTERLEAVE_* variables: see
INTERLEAVE_DATABASE, INTERLEAVE_MAX_EVENTS_PER_RUN... in app/config.py.
"""

RUN_EPILOG = """\
exit status: 0 the run ended (done, or stopped by a limit or a deadlock it was caught in),
1 the lesson's program failed, 2 an unknown lesson, a bad value or bad usage.

examples:
  interleave run lock-counter --set use_lock=false --set iterations=200000 --set hold=0
  interleave run deadlock --json
  interleave run compare-cpu --set workers=4 --export compare.json
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    code: int = args.command(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interleave", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="serve the web page (what `python -m app` does)",
        description="Serve Interleave's page and API. Stop with Ctrl-C: running runs are stopped first.",
    )
    serve.add_argument("--host", help="address to listen on (default: INTERLEAVE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: INTERLEAVE_PORT or 8000)")
    serve.set_defaults(command=_serve)

    lessons = commands.add_parser(
        "lessons",
        help="list every lesson with its parameters and their bounds",
        description="Every lesson you can `interleave run`, with each parameter's default and allowed values.",
    )
    lessons.add_argument("--json", action="store_true", help="print them as JSON")
    lessons.set_defaults(command=_lessons)

    run = commands.add_parser(
        "run",
        help="run a lesson here and print its result and timeline",
        description="Run a lesson without a browser, with the server's recorder and limits. Prints "
        "its result, then each lane's states in order with their durations.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "lesson", metavar="LESSON", help="the lesson's name, e.g. lock-counter (see `interleave lessons`)"
    )
    run.add_argument(
        "--set",
        dest="values",
        metavar="NAME=VALUE",
        action="append",
        type=_assignment,
        default=[],
        help="a parameter, as the page's form takes it (repeat for several): pairs=4, use_lock=false, "
        "workers=1,2,4; others keep their defaults",
    )
    run.add_argument(
        "--export",
        metavar="FILE",
        type=Path,
        help="also write the run to FILE: .json (Chrome Trace Event, for ui.perfetto.dev) or .csv",
    )
    run.add_argument("--json", action="store_true", help="print the run's summary and lanes as JSON")
    run.set_defaults(command=_run)
    return parser


def _assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (e.g. pairs=4)")
    return name.strip(), value.strip()


def _fail(message: str) -> int:
    print(f"interleave: {message}", file=sys.stderr)
    return USAGE_ERROR


# --- serve --------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    from app.server import serve  # uvicorn only when serving

    overrides = {
        name: value for name, value in (("host", args.host), ("port", args.port)) if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        return _fail("; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in error.errors()))
    serve(settings)
    return 0


# --- lessons ------------------------------------------------------------------------------
def _lessons(args: argparse.Namespace) -> int:
    if args.json:
        listing = [
            {
                "lesson": s.slug,
                "title": s.title,
                "group": s.group,
                "params": [
                    {"name": f.name, "default": f.default, "allowed": f.allowed, "help": f.help}
                    for f in field_specs(s.params)
                ],
            }
            for s in SCENARIOS.values()
        ]
        print(json.dumps(listing, indent=2))
        return 0
    group = None
    for scenario in SCENARIOS.values():
        if scenario.group != group:
            group = scenario.group
            print(f"\n{group}")
        print(f"  {scenario.slug}: {scenario.title}")
        for spec in field_specs(scenario.params):
            default = _text(spec.default)
            print(f"      {spec.name}={default}  ({spec.allowed})  {spec.help}")
    print("\nRun one with: interleave run LESSON --set NAME=VALUE ...")
    return 0


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


# --- run ----------------------------------------------------------------------------------
def _run(args: argparse.Namespace) -> int:
    if args.export is not None and args.export.suffix.lower() not in EXPORTS:
        allowed = "; ".join(f"{suffix}: {what}" for suffix, what in EXPORTS.items())
        return _fail(f"--export {args.export}: unknown kind of file; allowed: {allowed}")
    try:
        settings = Settings()
    except ValidationError as error:
        return _fail(f"bad INTERLEAVE_* setting: {error}")
    return asyncio.run(_run_lesson(settings, args.lesson, dict(args.values), args.export, args.json))


async def _run_lesson(
    settings: Settings, lesson: str, values: dict[str, str], export_to: Path | None, as_json: bool
) -> int:
    if settings.warm_up_processes:
        # As the server does at start: a process lesson's first start should not carry
        # the forkserver's own start-up (seconds on a busy machine).
        await asyncio.to_thread(supervisor.warm_up)
    history = await asyncio.to_thread(open_history, settings)
    manager = RunManager(settings, history=history.writer)
    service = RunService(manager, settings, history.store)
    try:
        try:
            run = service.start(lesson, values, client="command line", from_text=True).run
        except Refusal as refusal:
            return _refused(lesson, refusal)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, manager.stop, run, "stopped from the command line (Ctrl-C)")
        async for _ in run.follow(0, 1 << 30):
            pass  # the run ends; its events are in run.events
        loop.remove_signal_handler(signal.SIGINT)
    finally:
        await manager.close()
        await asyncio.to_thread(history.close)  # its events and its end are in the history
    if export_to is not None:
        _export(run, export_to)
    lanes = lane_timelines(run.events)
    if as_json:
        print(json.dumps({"run": run.summary(), "lanes": [lane.as_json() for lane in lanes]}, indent=2))
    else:
        _print_run(run, lanes, export_to, settings)
    return 1 if run.status is RunStatus.FAILED else 0


def _refused(lesson: str, refusal: Refusal) -> int:
    if isinstance(refusal, InvalidParams):
        lines = [f"{lesson}: {refusal.message}"]
        lines += [f"  --set {p.field}: {p.message}" for p in refusal.problems]
        lines.append("(`interleave lessons` lists every parameter of every lesson)")
        return _fail("\n".join(lines))
    return _fail(f"{refusal.message}\n(`interleave lessons` lists them with their parameters)")


def _export(run: LiveRun, path: Path) -> None:
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(export.chrome_trace(run.events, f"{run.scenario.title} ({run.id})")))
    else:
        path.write_text(export.csv_text(run.events))


def _print_run(run: LiveRun, lanes: list[LaneTimeline], export_to: Path | None, settings: Settings) -> None:
    summary = run.summary()
    print(f"{run.scenario.title} ({run.scenario.slug}) · run {run.id} · {run.status}")
    if run.result is not None:
        print(run.result.summary)
    if run.reason:
        print(f"reason: {run.reason}")
    if run.error:
        print(f"error: {run.error}")
    if run.result is not None and run.result.notice:
        print(f"notice: {run.result.notice}")
    print(f"{summary['events']:,} events in {_duration(run.duration_ns or 0)}\n")
    width = max((len(lane.name) for lane in lanes), default=4)
    for lane in lanes:
        print(lane.describe(width))
    print(f"\nkept in the history ({settings.database}): `interleave serve`, then /watch/{run.id}")
    if export_to is not None:
        print(f"written to {export_to}")


# --- a text timeline ----------------------------------------------------------------------
@dataclass
class LaneTimeline:
    """One lane's states in order, each (state, obj, start ns, end ns)."""

    name: str
    kind: str = ""
    ended: str = ""  # its final state (done, crash), if it ended
    segments: list[tuple[str, str, int, int]] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        spent: dict[str, int] = {}
        for state, _, start, end in self.segments:
            spent[state] = spent.get(state, 0) + end - start
        return spent

    def describe(self, width: int) -> str:
        shown = " → ".join(
            f"{state}{' ' + obj if obj else ''} {_duration(end - start)}"
            for state, obj, start, end in self.segments[:SHOWN_SEGMENTS]
        )
        more = len(self.segments) - SHOWN_SEGMENTS
        if more > 0:
            shown += f" → … {more:,} more"
        if self.ended:
            shown += f" → {self.ended}"
        spent = self.totals()
        total = sum(spent.values()) or 1
        shares = ", ".join(
            f"{state} {ns / total:.0%}" for state, ns in sorted(spent.items(), key=lambda kv: -kv[1])
        )
        head = f"{self.name:<{width}}  {self.kind or 'lane'}, {_duration(sum(spent.values()))}: {shares}"
        return f"{head}\n{'':<{width}}  {shown}"

    def as_json(self) -> dict[str, Any]:
        return {
            "lane": self.name,
            "kind": self.kind,
            "ended": self.ended,
            "time_ns": self.totals(),
            "segments": len(self.segments),
            "first": [
                {"state": s, "obj": o, "start_ns": a, "duration_ns": b - a}
                for s, o, a, b in self.segments[:SHOWN_SEGMENTS]
            ],
        }


def lane_timelines(events: Iterable[Event]) -> list[LaneTimeline]:
    """Each lane's states with their durations, lanes in order of first appearance; a
    lane still in a state at the end is closed at the last event's time."""
    lanes: dict[str, LaneTimeline] = {}
    current: dict[str, tuple[str, str, int]] = {}
    last = 0
    for event in events:
        last = max(last, event.t_ns)
        lane = lanes.get(event.worker)
        if lane is None:
            lane = lanes[event.worker] = LaneTimeline(event.worker)
        if event.kind is Kind.START and isinstance(event.detail, str):
            lane.kind = event.detail
        if event.kind not in STATES:
            continue
        before = current.pop(event.worker, None)
        if before is not None:
            lane.segments.append((before[0], before[1], before[2], event.t_ns))
        if event.kind in FINAL_STATES:
            lane.ended = str(event.kind)
        else:
            name = "cpu" if event.kind is Kind.GIL and event.obj == "CPU" else str(event.kind)
            current[event.worker] = (name, event.obj if event.kind is Kind.WAIT else "", event.t_ns)
    for worker, (state, obj, start) in current.items():
        lanes[worker].segments.append((state, obj, start, last))
    return list(lanes.values())


def _duration(ns: int) -> str:
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def entry_point() -> None:
    """The `interleave` console script."""
    _light_main_for_children()
    sys.exit(main())


def _light_main_for_children() -> None:
    """Let child processes skip re-importing the console script.

    A spawn or forkserver child re-imports its parent's `__main__` before it runs its
    target: by path for a script like `interleave`, whose first line imports this
    module and, through it, pydantic and the runner (~350 ms of CPU in every child, so
    a lesson's processes would show our start-up as theirs). Named as the light
    `app.__main__` (what `python -m app` runs), the main module is one multiprocessing
    does not import in children at all (`*.__main__` modules are skipped)."""
    main_module = sys.modules["__main__"]
    if getattr(main_module, "__spec__", None) is None:
        main_module.__spec__ = importlib.util.find_spec("app.__main__")
