"""The timeline's colours: apart for colour-blind viewers, readable, greyscale-safe,
and served to the browser from the one place they are defined (app/palette.py)."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from app import palette
from app.timeline import STATES, Kind
from tests.colour_vision import ciede2000, contrast, distance, lab, simulate

DRAWN = {look.key: look for look in palette.legend()}
PAIRS = list(itertools.combinations(DRAWN, 2))
FLOORS = {"deuteranopia": 15.0, "protanopia": 15.0, "tritanopia": 11.0}


def smallest(colours: dict[str, str], deficiency: str) -> float:
    return min(distance(a, b, deficiency) for a, b in itertools.combinations(colours.values(), 2))


def test_ciede2000_matches_sharmas_reference_pairs() -> None:
    # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7 and 34
    assert ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000((50, 0, 0), (50, -1, 2)) == pytest.approx(2.3669, abs=1e-4)
    assert ciede2000((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514)) == pytest.approx(0.9082, abs=1e-4)


def test_the_simulation_reproduces_the_distances_measured_in_the_issue() -> None:
    """The numbers issue 9 quotes for three palettes, measured the same way."""
    before = {
        "start": "#8e6bd8",
        "run": "#2f9e57",
        "io": "#4b8fd6",
        "wait": "#d9443f",
        "gil": "#9aa0a6",
        "cpu": "#c9a66b",
        "crash": "#202124",
    }
    okabe_ito = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]
    tol_bright = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB"]
    for colours, expected in (
        (before, (3.2, 6.7, 9.3)),
        (dict(enumerate(okabe_ito)), (11.6, 12.2, 10.9)),
        (dict(enumerate(tol_bright)), (14.8, 14.2, 8.6)),
    ):
        measured = tuple(round(smallest(colours, d), 1) for d in FLOORS)  # type: ignore[arg-type]
        assert measured == expected
    # and the issue's "running vs waiting 6.9 under deuteranopia"
    assert distance(before["run"], before["wait"], "deuteranopia") == pytest.approx(6.9, abs=0.05)


@pytest.mark.parametrize("deficiency", list(FLOORS))
def test_every_pair_of_state_colours_stays_apart_for_colour_blind_viewers(deficiency: str) -> None:
    gaps = {(a, b): distance(DRAWN[a].colour, DRAWN[b].colour, deficiency) for a, b in PAIRS}
    closest = min(gaps, key=gaps.__getitem__)
    assert gaps[closest] >= FLOORS[deficiency], f"{closest} only {gaps[closest]:.1f} apart"


def test_state_colours_are_far_apart_with_normal_vision_too() -> None:
    assert min(distance(DRAWN[a].colour, DRAWN[b].colour) for a, b in PAIRS) >= 25


def test_states_a_grey_print_cannot_tell_apart_differ_by_pattern() -> None:
    def grey_lightness(colour: str) -> float:
        return lab(simulate(colour, None))[0]

    for a, b in PAIRS:
        if abs(grey_lightness(DRAWN[a].colour) - grey_lightness(DRAWN[b].colour)) < 15:
            same_meaning = {a, b} == {str(Kind.GIL), palette.CPU}  # one idea, told apart by lane kind
            assert same_meaning or DRAWN[a].pattern != DRAWN[b].pattern, (a, b)


def test_bars_marks_and_text_have_the_contrast_a_projector_needs() -> None:
    white = palette.CHROME["panel"]
    for look in DRAWN.values():
        assert contrast(look.colour, white) >= 3, f"{look.key} bar on the lane"
        assert contrast(look.ink, look.colour) >= 4.5, f"text on {look.key}"
    marks = palette.MARKS
    assert contrast(marks["hold"], white) >= 3  # the hold strip sits on the lane background
    marks_on_bars = ("link", "notify", "put", "get", "reentry", "cursor", "lost", "print", "read", "write")
    for name in marks_on_bars:
        assert contrast(marks[name], marks["halo"]) >= 3, name  # drawn over a white halo
    for name in ("badge", "mark", "lost", "cycle"):
        assert contrast(marks[name], white) >= 4.5, name  # their words: badges, the notes strip
    assert contrast(marks["level"], palette.CHROME["track"]) >= 3  # a gauge's line on its track
    for tint in palette.LANE_TINTS:
        assert contrast(tint, white) >= 4.5, tint  # lane labels
    chrome = palette.CHROME
    assert contrast(chrome["ink"], chrome["bg"]) >= 4.5
    assert contrast(chrome["muted"], chrome["bg"]) >= 4.5
    assert contrast(chrome["muted"], chrome["notice"]) >= 4.5
    assert contrast(chrome["warn"], chrome["notice"]) >= 4.5
    assert contrast(chrome["warn"], chrome["panel"]) >= 4.5


def test_every_state_of_the_event_vocabulary_has_a_look() -> None:
    looks = {look.key for look in palette.STATE_LOOKS}
    assert {str(kind) for kind in STATES} | {palette.CPU} == looks


@pytest.mark.anyio
async def test_the_browser_gets_the_same_vocabulary_as_json_and_css(client: httpx.AsyncClient) -> None:
    module = await client.get("/ui/vocabulary.js")
    assert module.status_code == 200
    assert module.headers["content-type"].startswith("text/javascript")
    prefix = "export default "
    assert module.text.startswith(prefix)
    assert json.loads(module.text[len(prefix) :].rstrip().rstrip(";")) == palette.vocabulary()
    css = await client.get("/ui/vocabulary.css")
    assert css.headers["content-type"].startswith("text/css")
    for look in palette.STATE_LOOKS:
        assert f"--state-{look.key}: {look.colour};" in css.text
    panel = await client.post("/ui/runs", data={"scenario": "lock-counter", "iterations": "1"})
    assert panel.status_code == 201
    for look in palette.legend():
        assert f'class="swatch state-{look.key} pattern-{look.pattern}"></span>{look.label}' in panel.text
    assert "state-" not in (await client.get("/static/css/app.css")).text  # no second list of states
