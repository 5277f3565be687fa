"""How the timeline looks and speaks: the one place for its colours and words.

The states themselves are `app.timeline.Kind`; this module gives each drawn state a
colour, a second channel for greyscale (a pattern), a legend label and the phrase a
sentence uses ("Thread-1 *waits for* Lock-1"). The browser never keeps a copy: it
imports `vocabulary()` as the JSON module served at /ui/vocabulary.js, and the page's
CSS reads `stylesheet()` from /ui/vocabulary.css.

The state colours are chosen so that every pair stays apart for colour-blind viewers
(tests/test_palette.py measures CIEDE2000 after Machado 2009 simulation) and so that
each bar has 3:1 contrast against the white lane it sits on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from app.timeline import FINAL_STATES, STATES, Kind, LaneKind

JSON = dict[str, object]

# A `gil` state is drawn as "waiting for a CPU core" when its obj is "CPU" (the sampler
# says so, app/sampler.py), or when it names nothing and its lane is one of these: a
# process has a GIL of its own, so when it is runnable but not running it waits for a core.
CPU_WAIT_LANES: frozenset[LaneKind] = frozenset({LaneKind.PROCESS, LaneKind.POOL_WORKER})
CPU = "cpu"  # the drawn name of a `gil` state that waits for a core

WHITE = "#ffffff"
INK = "#1f2023"


@dataclass(frozen=True)
class StateLook:
    """How one drawn state looks and reads."""

    key: str  # a Kind that is a state, or CPU
    colour: str  # fill of its bar
    ink: str  # text drawn on the bar (white or INK, whichever reaches 4.5:1)
    pattern: str  # second channel, for greyscale: solid, hatch, dots, lines, columns
    label: str  # legend entry
    phrase: str  # in a sentence, after the lane's name: "Thread-1 runs"
    plural: str  # after several names: "Thread-1 and Thread-2 run"
    note: str = ""  # said after the label where there is room: "(threads; estimated...)"
    legend: bool = True  # `done` ends a lane and is not drawn


STATE_LOOKS: tuple[StateLook, ...] = (
    StateLook(Kind.START, "#7843ad", WHITE, "columns", "starting", "is starting", "are starting"),
    StateLook(Kind.RUN, "#2f7f5d", WHITE, "solid", "running", "runs", "run"),
    StateLook(
        Kind.IO, "#0097f5", INK, "lines", "sleeping / I/O", "sleeps or waits for I/O", "sleep or wait for I/O"
    ),
    StateLook(Kind.WAIT, "#aa1b19", WHITE, "hatch", "waiting", "waits for", "wait for"),
    StateLook(
        Kind.GIL,
        "#938c94",
        INK,
        "dots",
        "waiting for the GIL",
        "is runnable but waits for the GIL",
        "are runnable but wait for the GIL",
        note="estimated from CPU clocks",
    ),
    StateLook(
        CPU,
        "#b28d2f",
        INK,
        "dots",
        "waiting for a CPU core",
        "is runnable but waits for a CPU core",
        "are runnable but wait for a CPU core",
        note="estimated from CPU clocks",
    ),
    StateLook(Kind.CRASH, "#000007", WHITE, "solid", "crashed", "crashed", "crashed"),
    StateLook(Kind.DONE, WHITE, INK, "solid", "finished", "has finished", "have finished", legend=False),
)

# Marks drawn over or between the lanes, each with the ground it sits on (for the 3:1
# contrast a mark needs): WHITE is the lane background, "halo" a white outline drawn
# under the mark so it reads on any state colour.
MARKS: dict[str, str] = {
    "hold": "#c05a00",  # lock held (the lessons call it orange): a strip over the state bar
    "reentry": "#1f2023",  # an RLock taken again by its holder: a notch on the hold bar
    "link": "#14307a",  # who woke whom: an arrow, drawn over a white halo
    "print": "#1f2023",  # printed output: a tick at the foot of the lane
    "mark": "#a3161c",  # a note from the runner (deadlock found, limit hit)
    "read": "#283593",  # a read of shared state
    "write": "#1f2023",  # a write of shared state
    "lost": "#b0186a",  # a lost update
    "level": "#0b6b6e",  # a gauge (free slots, queue size)
    "notify": "#14307a",  # notify / set: a diamond over a white halo
    "put": "#1d6b3a",  # put: a diamond over a white halo
    "get": "#a33d00",  # get: a diamond over a white halo
    "cycle": "#a3161c",  # a deadlock cycle
    "cursor": "#1f2023",  # the time cursor
    "badge": "#1f2023",  # count of marks too close to draw one by one
    "halo": WHITE,
}

# Page colours (text, lines, panels): the same source, so the canvas and CSS agree.
CHROME: dict[str, str] = {
    "ink": INK,
    "muted": "#55595f",  # secondary text: 4.5:1 on bg and panel
    "line": "#d5d8dc",
    "bg": "#fbfbfa",
    "panel": WHITE,
    "track": "#f1f3f4",  # behind a lane with nothing drawn yet
    "accent": "#1b63b8",
    "bad": "#a3161c",
    "warn": "#8a4b00",  # text that warns without alarming (a deadlock the lesson expects)
    "notice": "#fff8e1",
    "veil": "rgba(255, 255, 255, 0.82)",  # over what happens after the cursor
}

# Lane labels, one tint per lane in turn; each reads at 4.5:1 on the panel.
LANE_TINTS: tuple[str, ...] = (
    "#1b63b8",
    "#a33d00",
    "#1d6b3a",
    "#7a2aa8",
    "#a3173b",
    "#0b6b6e",
    "#6b5200",
    "#4049c0",
)


# Replay speeds, slowest first: log steps from 1/1000x (a 25 ms run lasts 25 s) to 10x.
SPEEDS: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
DEFAULT_SPEED = 0.1


def speed_choices() -> list[tuple[str, str]]:
    """(value, label) per speed, for the speed menu: "0.01" -> "1/100×"."""
    return [(f"{s:g}", f"{s:g}×" if s >= 1 else f"1/{round(1 / s)}×") for s in SPEEDS]


def legend() -> list[StateLook]:
    """The states a legend lists, in drawing order."""
    return [look for look in STATE_LOOKS if look.legend]


def vocabulary() -> JSON:
    """Everything the browser needs to draw and describe a run (served as JSON)."""
    return {
        "states": [asdict(look) for look in STATE_LOOKS],
        "stateKinds": [str(kind) for kind in Kind if kind in STATES],
        "finalKinds": [str(kind) for kind in Kind if kind in FINAL_STATES],
        "instantKinds": [str(kind) for kind in Kind if kind not in STATES],
        "laneKinds": [str(kind) for kind in LaneKind],
        "cpuWaitLanes": sorted(str(kind) for kind in CPU_WAIT_LANES),
        "marks": MARKS,
        "chrome": CHROME,
        "laneTints": list(LANE_TINTS),
        "speeds": list(SPEEDS),
        "defaultSpeed": DEFAULT_SPEED,
    }


def stylesheet() -> str:
    """The same colours for CSS: custom properties (--state-run, --mark-hold, --ink...)
    and a swatch class per state, so no stylesheet lists the states again."""
    lines = [f"  --state-{look.key}: {look.colour};" for look in STATE_LOOKS]
    lines += [f"  --state-{look.key}-ink: {look.ink};" for look in STATE_LOOKS]
    lines += [f"  --mark-{name}: {colour};" for name, colour in MARKS.items()]
    lines += [f"  --{name}: {colour};" for name, colour in CHROME.items()]
    lines += [f"  --lane-{i}: {colour};" for i, colour in enumerate(LANE_TINTS)]
    rules = [
        f".state-{look.key} {{ background-color: var(--state-{look.key}); color: var(--state-{look.key}-ink); }}"
        for look in STATE_LOOKS
    ]
    rules += [f".lane-{i} {{ color: var(--lane-{i}); }}" for i in range(len(LANE_TINTS))]
    return ":root {\n" + "\n".join(lines) + "\n}\n" + "\n".join(rules) + "\n"
