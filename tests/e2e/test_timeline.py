"""The timeline as an instrument, driven as a person drives it: zoom, pan, scrub,
step, play and pause, by mouse, keyboard and touch; the sentences it writes, its
table, and the projector layout a back row can read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_sync_pages import run_from_page, shoot

CANVAS = "canvas.timeline"


def view(page: Page) -> dict[str, str]:
    data: dict[str, str] = page.locator(CANVAS).evaluate("c => ({...c.dataset})")
    return data


def frame(page: Page) -> None:
    """Until the next animation frame has been drawn."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def geometry(page: Page) -> dict[str, Any]:
    """Sizes the renderer used in its last frame (CSS pixels)."""
    geo: dict[str, Any] = page.evaluate(
        """() => { const g = Interleave.current.timeline.geometry;
        return { font: g.font, small: g.small, laneH: g.laneH, arrow: g.arrow, axisH: g.axisH, notesH: g.notesH,
          plotX: g.plotX, plotW: g.plotW, holdH: g.holdH, projector: g.projector,
          rows: g.rows.map(r => ({ type: r.type, y: r.y, h: r.h, label: r.label || (r.lane && r.lane.name) })) }; }"""
    )
    return geo


def lane_names(page: Page) -> list[str]:
    """The lanes, in the order they appeared (main first)."""
    names: list[str] = page.evaluate("() => Interleave.current.timeline.model.lanes.map(l => l.name)")
    return names


def canvas_point(page: Page, t_ns: float, row: int | None = None) -> tuple[float, float]:
    """Page coordinates of time t on a row (None: the axis)."""
    point: list[float] = page.evaluate(
        """([t, row]) => { const tl = Interleave.current.timeline, g = tl.geometry;
        const box = tl.canvas.getBoundingClientRect();
        const y = row === null ? g.axisH / 2 : g.rows[row].y + g.holdH + (g.rows[row].h - g.holdH) / 2;
        return [box.left + g.X(t), box.top + y]; }""",
        [t_ns, row],
    )
    return point[0], point[1]


def lane_middle(page: Page, lane: str) -> float:
    """A time halfway through `lane`'s life (from its first segment after `start` to its
    end): a point on its own bar whatever the machine's load did to the run's timing."""
    middle: float = page.evaluate(
        "name => { const l = Interleave.current.timeline.model.byName.get(name); return (l.t0.a[1] + l.end) / 2; }",
        lane,
    )
    return middle


def clear_point(page: Page, lane: str, t_ns: float) -> tuple[float, float]:
    """Page coordinates on `lane`'s bar where the pointer finds the lane's segment in
    force at time t itself (not an arrow or mark passing over it, nor a neighbour). When
    that segment is too narrow to find at the current zoom, the view zooms onto it."""
    search = """([name, t]) => { const tl = Interleave.current.timeline, g = tl.geometry, box = tl.canvas.getBoundingClientRect();
        const row = g.rows.find(r => r.type === 'lane' && r.lane.name === name), y = row.y + g.holdH + (row.h - g.holdH) / 2;
        const wanted = tl.model.stateAt(row.lane, t);
        for (let dx = 0; dx < 60; dx += 1) for (const x of [g.X(t) + dx, g.X(t) - dx]) {
          const hit = tl.renderer.hitTest(x, y);
          if (hit && hit.type === 'segment' && hit.seg.i === wanted.i) return [box.left + x, box.top + y];
        }
        return null; }"""
    point: list[float] | None = page.evaluate(search, [lane, t_ns])
    if point is None:
        page.evaluate(
            """([name, t]) => { const tl = Interleave.current.timeline;
            const lane = tl.model.lanes.find(l => l.name === name), seg = tl.model.stateAt(lane, t);
            const span = Math.max(seg.t1 - seg.t0, 1000);
            tl.setView(seg.t0 - span, seg.t1 + span); }""",
            [lane, t_ns],
        )
        frame(page)
        point = page.evaluate(search, [lane, t_ns])
    assert point is not None, f"no clear point on {lane}"
    return point[0], point[1]


def test_the_wheel_zooms_around_the_pointer_and_a_drag_pans(page: Page, live_server: str) -> None:
    run_from_page(page, live_server, "lock-counter", {})
    frame(page)
    before = view(page)
    start, end = int(before["viewStartNs"]), int(before["viewEndNs"])
    assert start == 0
    middle = start + (end - start) * 0.6
    x, y = canvas_point(page, middle, 1)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -400)  # away from the reader: zoom in
    page.wait_for_function(f"() => +document.querySelector('{CANVAS}').dataset.viewEndNs < {end}")
    zoomed = view(page)
    z0, z1 = int(zoomed["viewStartNs"]), int(zoomed["viewEndNs"])
    assert z1 - z0 < (end - start) / 2
    # the moment under the pointer stays under it
    assert abs((z0 + (z1 - z0) * 0.6) - middle) < (z1 - z0) * 0.02
    # drag to the left: later times come into view, by the distance dragged
    plot_w = geometry(page)["plotW"]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - plot_w / 4, y, steps=5)
    page.mouse.up()
    frame(page)
    panned = view(page)
    shift = int(panned["viewStartNs"]) - z0
    assert shift == pytest.approx((z1 - z0) / 4, rel=0.05)
    assert int(panned["viewEndNs"]) - int(panned["viewStartNs"]) == pytest.approx(z1 - z0, abs=2)  # rounding
    # the overview strip: drag its frame to the start of the run
    strip = page.locator("canvas.overview").bounding_box()
    assert strip is not None
    frame_x = strip["x"] + strip["width"] * (int(panned["viewStartNs"]) + 1) / end
    page.mouse.move(frame_x + 3, strip["y"] + strip["height"] / 2)
    page.mouse.down()
    page.mouse.move(strip["x"] + 3 - (frame_x - strip["x"]), strip["y"] + strip["height"] / 2, steps=4)
    page.mouse.up()
    frame(page)
    assert int(view(page)["viewStartNs"]) == 0
    assert int(view(page)["viewEndNs"]) == pytest.approx(z1 - z0, abs=2)
    # a double-click fits the whole run again
    page.mouse.dblclick(x, y)
    frame(page)
    assert (view(page)["viewStartNs"], view(page)["viewEndNs"]) == (
        before["viewStartNs"],
        before["viewEndNs"],
    )


def test_dragging_on_the_time_axis_scrubs_the_cursor(page: Page, live_server: str) -> None:
    run_from_page(page, live_server, "lock-counter", {})
    frame(page)
    end = int(view(page)["viewEndNs"])
    x0, y = canvas_point(page, end * 0.2)
    x1, _ = canvas_point(page, end * 0.7)
    page.mouse.move(x0, y)
    page.mouse.down()
    page.wait_for_function(f"() => document.querySelector('{CANVAS}').dataset.cursorNs !== ''")
    first = int(view(page)["cursorNs"])
    assert first == pytest.approx(end * 0.2, rel=0.02)
    page.mouse.move(x1, y, steps=8)
    page.mouse.up()
    frame(page)
    assert int(view(page)["cursorNs"]) == pytest.approx(end * 0.7, rel=0.02)
    assert view(page)["playing"] == "false"
    expect(page.locator("[data-moment]")).to_contain_text(" ms: ")


def test_play_moves_the_cursor_and_pause_holds_it(page: Page, live_server: str) -> None:
    run_from_page(page, live_server, "lock-counter", {})
    page.select_option("[data-speed]", "0.01")
    page.click("[data-action=play]")
    expect(page.locator("[data-action=play]")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(f"() => +document.querySelector('{CANVAS}').dataset.cursorNs > 1e6")
    page.click("[data-action=play]")  # pause
    expect(page.locator("[data-action=play]")).to_have_attribute("aria-pressed", "false")
    frame(page)
    held = view(page)["cursorNs"]
    frame(page)
    frame(page)
    assert view(page)["cursorNs"] == held
    assert 0 < int(held) < int(view(page)["viewEndNs"])


def test_pressing_replay_again_restarts_it_instead_of_stacking_a_second_loop(
    page: Page, live_server: str
) -> None:
    run_from_page(page, live_server, "lock-counter", {})
    page.select_option("[data-speed]", "0.01")
    for _ in range(3):
        page.click("[data-action=replay]")
    page.wait_for_function(f"() => +document.querySelector('{CANVAS}').dataset.cursorNs > 0")
    # the cursor moves at the chosen speed: three loops would move it three times as fast
    rate = page.evaluate(
        """() => new Promise(resolve => {
          const tl = Interleave.current.timeline;
          const c0 = tl.cursor, t0 = performance.now();
          const check = () => {
            const dt = performance.now() - t0;
            if (dt < 400) return requestAnimationFrame(check);
            resolve((tl.cursor - c0) / (dt * 1e6));
          };
          requestAnimationFrame(check);
        })"""
    )
    assert 0 < rate < 0.01 * 1.5
    assert page.evaluate("() => Interleave.current.timeline.frameRequested") is True


def tab_to(page: Page, selector: str, most: int = 60) -> None:
    """Press Tab until `selector` has the focus (a keyboard user's way there)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    pytest.fail(f"{most} presses of Tab never reached {selector}")


def test_keyboard_only_from_page_load_to_stepping_through_a_finished_run(
    page: Page, live_server: str
) -> None:
    page.goto(f"{live_server}/?scenario=lock-counter")
    tab_to(page, ".run-button")
    page.keyboard.press("Enter")
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", "done", timeout=20_000)
    tab_to(page, CANVAS)
    page.keyboard.press("Home")
    frame(page)
    assert view(page)["cursorNs"] == "0"
    times = []
    for _ in range(4):
        page.keyboard.press(".")
        frame(page)
        times.append(int(view(page)["cursorNs"]))
    assert times == sorted(times)
    assert len(set(times)) == 4
    # each step lands on a recorded event, the next one after the last
    expected = page.evaluate(
        "t => Interleave.current.timeline.model.nextEvent(t)", times[2]
    )  # from the third to the fourth
    assert times[3] == expected
    page.keyboard.press(",")
    frame(page)
    assert int(view(page)["cursorNs"]) == times[2]
    expect(page.locator("[data-moment]")).to_have_text(re.compile(r"^[\d.]+ (ns|µs|ms|s): \S"))
    # zoom and pan from the keyboard too
    span = int(view(page)["viewEndNs"]) - int(view(page)["viewStartNs"])
    page.keyboard.press("+")
    frame(page)
    assert int(view(page)["viewEndNs"]) - int(view(page)["viewStartNs"]) < span
    page.keyboard.press("0")
    frame(page)
    assert int(view(page)["viewEndNs"]) - int(view(page)["viewStartNs"]) == span
    # a lane chosen with the arrows: steps go to its events only
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # main, then the first thread
    second = lane_names(page)[1]
    expect(page.locator("[data-explain]")).to_contain_text(f"{second} selected")
    page.keyboard.press(".")
    frame(page)
    own = page.evaluate(
        "([t, name]) => { const m = Interleave.current.timeline.model; return m.nextEvent(t, m.byName.get(name)); }",
        [times[2], second],
    )
    assert int(view(page)["cursorNs"]) == own
    page.keyboard.press(" ")
    expect(page.locator("[data-action=play]")).to_have_attribute("aria-pressed", "true")
    # and `r` runs the lesson again
    page.keyboard.press(" ")
    first = page.locator(".run[data-run-id]").get_attribute("data-run-id")
    page.locator("body").focus()
    page.keyboard.press("r")
    expect(page.locator(".run[data-run-id]")).not_to_have_attribute("data-run-id", first or "")


def test_the_sentence_says_who_holds_the_lock_and_who_waits_for_it(page: Page, live_server: str) -> None:
    run_from_page(page, live_server, "lock-counter", {"pairs": "2", "iterations": "5", "hold": "0.005"})
    frame(page)
    # a moment in the middle of a hold that someone waits for, read from the model
    moment = page.evaluate(
        """() => { const m = Interleave.current.timeline.model;
        for (const lane of m.lanes) for (let h = 0; h < lane.h0.n; h += 1) {
          const t = (lane.h0.a[h] + lane.h1.a[h]) / 2;
          const waiters = m.lanes.filter(l => { const s = m.stateAt(l, t); return s && s.kind === 'wait' && s.obj === 'Lock-1'; });
          if (waiters.length) return { t, holder: lane.name, waiter: waiters[0].name };
        } return null; }"""
    )
    assert moment is not None
    page.evaluate("t => Interleave.current.timeline.seek(t)", moment["t"])
    sentence = page.locator("[data-moment]")
    expect(sentence).to_contain_text(f"{moment['holder']} holds Lock-1 (for ")
    expect(sentence).to_contain_text(moment["waiter"])
    expect(sentence).to_contain_text(" for it (since ")
    expect(sentence).to_have_attribute("aria-live", "polite")
    # the same words for the waiter's segment under the pointer, holder named
    x, y = clear_point(page, moment["waiter"], moment["t"])
    page.mouse.move(x, y)
    tip = page.locator(".timeline-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(f"{moment['waiter']} waits for Lock-1, held by {moment['holder']}")
    page.mouse.click(x, y)
    expect(page.locator("[data-explain]")).to_contain_text(f"held by {moment['holder']}")
    # an arrow explains itself too: who released, whom it woke
    link = page.evaluate(
        """() => { const tl = Interleave.current.timeline, m = tl.model;
        const a = tl.renderer.hits.arrows.find(a => m.link(a.lane, a.k).obj === 'Lock-1');
        const box = tl.canvas.getBoundingClientRect();
        return { x: box.left + (a.x0 + a.x1) / 2, y: box.top + (a.y0 + a.y1) / 2 }; }"""
    )
    page.mouse.move(link["x"], link["y"])
    expect(tip).to_contain_text("released Lock-1 and woke")


def test_the_table_lists_a_lanes_segments_with_who_woke_it(page: Page, live_server: str) -> None:
    run_from_page(page, live_server, "lock-counter", {})
    page.click("[data-table] summary")
    # A thread that waited for the lock (main waits too, to join them). On a busy machine
    # not always the same one: a thread that starts late can find the others done.
    lane = page.evaluate(
        """async () => {
        const wait = (await import("/ui/vocabulary.js")).default.states.findIndex((look) => look.key === "wait");
        const lanes = Interleave.current.timeline.model.lanes;
        return lanes.find((l) => l.kind === "thread" && l.states.includes(wait)).name; }"""
    )
    page.select_option("[data-table-lane]", lane)
    rows = page.locator("[data-table] tbody tr")
    expect(rows.first).to_be_visible()
    segments = page.evaluate("name => Interleave.current.timeline.model.byName.get(name).t0.n", lane)
    assert rows.count() == segments - 1  # every segment but the lane's end
    cells = rows.evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert cells[0][2] == "starting"
    waits = [c for c in cells if c[2] == "waiting"]
    assert waits
    names = lane_names(page)
    assert all(c[3] == "Lock-1" and c[4] in names for c in waits)
    expect(page.locator("[data-table-caption]")).to_contain_text(
        f"{lane}: segments 1–{segments} of {segments}"
    )


@pytest.fixture
def projector(page: Page, live_server: str) -> Iterator[Page]:
    page.goto(f"{live_server}/")
    page.evaluate("() => localStorage.setItem('interleave.projector', '1')")
    yield page
    page.evaluate("() => localStorage.removeItem('interleave.projector')")


def on_first_screen(page: Page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    height = page.viewport_size["height"] if page.viewport_size else 0
    assert box["y"] >= 0, f"{selector} at {box}"
    assert box["y"] + box["height"] <= height, f"{selector} at {box}"


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1024, 768)])
def test_projector_mode_fits_lanes_notice_and_controls_on_one_screen(
    projector: Page, live_server: str, tmp_path: Path, width: int, height: int
) -> None:
    page = projector
    page.set_viewport_size({"width": width, "height": height})
    run_from_page(page, live_server, "lock-counter", {})
    page.evaluate("() => scrollTo(0, 0)")
    frame(page)
    for selector in (
        ".notice",
        "form.params .run-button",
        "[data-action=replay]",
        "[data-action=play]",
        CANVAS,
    ):
        on_first_screen(page, selector)
    on_first_screen(page, "canvas.overview")
    assert page.evaluate("() => document.scrollingElement.scrollTop") == 0
    geo = geometry(page)
    lanes = [r for r in geo["rows"] if r["type"] == "lane"]
    assert len(lanes) == 5
    if height == 1080:
        # the back row: text >= 28 px, lanes >= 48 px (few lanes grow), arrows >= 3 px
        assert geo["font"] >= 28
        assert geo["small"] >= 28
        for selector in (".notice", "[data-action=play]", ".legend", "[data-moment]", ".param-name"):
            size = page.locator(selector).first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
            assert size >= 28, selector
        assert all(r["h"] >= 48 for r in lanes)
        assert lanes[0]["h"] > 80  # five lanes fill the room they have
        assert geo["arrow"] >= 3
    else:
        assert all(r["h"] >= 34 for r in lanes)
    shoot(page, tmp_path, f"projector-{width}x{height}")


def test_projector_folds_many_lanes_into_groups_that_open_on_click(
    projector: Page, live_server: str, tmp_path: Path
) -> None:
    page = projector
    page.set_viewport_size({"width": 1920, "height": 1080})
    run_from_page(page, live_server, "lock-counter", {"pairs": "16", "iterations": "3", "hold": "0"})
    frame(page)
    rows = geometry(page)["rows"]
    groups = [r for r in rows if r["type"] == "group"]
    assert groups
    assert all(r["h"] >= 48 for r in rows)
    assert view(page)["lanes"] == "33"
    on_first_screen(page, CANVAS)
    first = groups[0]
    box = page.locator(CANVAS).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 20, box["y"] + first["y"] + first["h"] / 2)
    frame(page)
    opened = geometry(page)["rows"]
    assert any(r["type"] == "heading" and r["label"] == first["label"] for r in opened)
    assert len([r for r in opened if r["type"] == "lane"]) > len([r for r in rows if r["type"] == "lane"])
    shoot(page, tmp_path, "projector-33-lanes")


def test_lanes_of_a_band_are_drawn_together_under_its_heading(page: Page, live_server: str) -> None:
    """Synthetic events (the compare lessons will send real ones): `start` carries the band."""
    page.goto(f"{live_server}/")
    rows = page.evaluate(
        """() => {
          const panel = document.createElement('div');
          panel.innerHTML = '<div class="lanes"><canvas class="timeline"></canvas></div>';
          document.body.append(panel);
          const tl = new Interleave.Timeline(panel);
          const ev = [
            [0, 'main', 'start', '', 'main', ''], [10, 'main', 'run', '', null, ''],
            [20, 'Thread-1', 'start', 'threads', 'thread', ''], [30, 'Process-1', 'start', 'processes', 'process', ''],
            [40, 'Thread-2', 'start', 'threads', 'thread', ''], [50, 'Task-1', 'start', 'asyncio', 'thread', ''],
            [60, 'Process-2', 'start', 'processes', 'process', ''],
            [70, 'Thread-1', 'run', '', null, ''], [80, 'Process-1', 'gil', '', null, ''], [90, 'Thread-2', 'gil', '', null, ''],
          ];
          tl.add(ev);
          tl.finish({ duration_ms: 0.0001 });
          tl.draw();
          return tl.geometry.rows.map(r => r.type + ':' + (r.label || r.lane.name));
        }"""
    )
    assert rows == [
        "lane:main",
        "heading:threads",
        "lane:Thread-1",
        "lane:Thread-2",
        "heading:processes",
        "lane:Process-1",
        "lane:Process-2",
        "heading:asyncio",
        "lane:Task-1",
    ]


def test_a_tap_on_a_phone_explains_the_segment_under_the_finger(browser: Browser, live_server: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        run_from_page(page, live_server, "lock-counter", {})
        page.evaluate("() => scrollTo(0, 0)")
        frame(page)
        lanes = page.locator(CANVAS).bounding_box()
        picker = page.locator(".scenario").bounding_box()
        assert lanes is not None
        assert picker is not None
        assert lanes["y"] < picker["y"]  # the lanes first
        assert lanes["y"] + 100 < 844
        lane = lane_names(page)[2]
        x, y = clear_point(page, lane, lane_middle(page, lane))
        page.touchscreen.tap(x, y)
        explained = page.locator("[data-explain]")
        expect(explained).to_contain_text(f": {lane} ")  # "1.20 ms–3.40 ms (2.20 ms): increment-2 waits..."
        expect(explained).to_contain_text(" ms")
    finally:
        context.close()


def test_a_narrow_window_shows_the_lanes_before_the_lesson(page: Page, live_server: str) -> None:
    page.set_viewport_size({"width": 768, "height": 1024})
    run_from_page(page, live_server, "lock-counter", {})
    page.evaluate("() => scrollTo(0, 0)")
    lanes = page.locator(CANVAS).bounding_box()
    lesson = page.locator(".scenario").bounding_box()
    assert lanes is not None
    assert lesson is not None
    assert lanes["y"] + lanes["height"] < lesson["y"]
    on_first_screen(page, CANVAS)


def test_a_live_run_can_be_paused_while_it_keeps_recording_then_caught_up(
    page: Page, live_server: str
) -> None:
    page.goto(f"{live_server}/?scenario=lock-counter")
    page.fill("form.params [name=iterations]", "200")
    page.fill("form.params [name=hold]", "0.01")
    page.click("form.params .run-button")
    page.wait_for_function(
        f"() => +(document.querySelector('{CANVAS}') || {{dataset: {{}}}}).dataset.events > 50"
    )
    page.locator(CANVAS).focus()
    page.keyboard.press(" ")  # pause: the picture stops, the run goes on
    frame(page)
    paused = view(page)
    assert paused["cursorNs"] != ""
    page.wait_for_function(
        f"n => +document.querySelector('{CANVAS}').dataset.events > n + 100", arg=int(paused["events"])
    )
    assert view(page)["cursorNs"] == paused["cursorNs"]
    assert page.locator(".run[data-run-id]").get_attribute("data-done") is None
    page.keyboard.press("l")  # live again: caught up, following
    frame(page)
    live = view(page)
    assert live["cursorNs"] == ""
    assert int(live["viewEndNs"]) > int(paused["viewEndNs"])
    page.click("[data-action=stop]")
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", "stopped", timeout=20_000)


def test_a_panel_swapped_out_closes_its_event_stream(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/?scenario=lock-counter")
    page.fill("form.params [name=iterations]", "500")
    page.fill("form.params [name=hold]", "0.01")
    page.click("form.params .run-button")
    page.wait_for_function("() => Interleave.current && Interleave.current.source.readyState === 1")
    first = page.evaluate("() => { window.firstRun = Interleave.current; return Interleave.current.id; }")
    page.fill("form.params [name=iterations]", "1")
    page.click("form.params .run-button")
    page.wait_for_function("id => Interleave.current && Interleave.current.id !== id", arg=first)
    page.wait_for_function("() => window.firstRun.source.readyState === 2")  # CLOSED
    assert page.evaluate("id => id in Interleave.runs", first) is False
    assert page.evaluate("() => window.firstRun.timeline.destroyed") is True
    httpx.post(f"{live_server}/runs/{first}/stop")


def test_the_shared_link_shows_the_runs_own_parameters_read_only(page: Page, live_server: str) -> None:
    run = httpx.post(
        f"{live_server}/runs", json={"scenario": "race-condition", "params": {"use_lock": True, "threads": 3}}
    ).json()
    page.goto(f"{live_server}/watch/{run['id']}")
    expect(page.locator("form.params [name=use_lock]")).to_be_checked()
    expect(page.locator("form.params [name=use_lock]")).to_be_disabled()
    expect(page.locator("form.params [name=threads]")).to_have_value("3")
    expect(page.locator("form.params [name=threads]")).to_be_disabled()
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", "done", timeout=20_000)


def test_an_rlock_taken_again_shows_a_mark_on_the_hold(page: Page, live_server: str, tmp_path: Path) -> None:
    run_from_page(page, live_server, "rlock", {"lock": "RLock"})
    frame(page)
    # pixels of the re-entry colour where the holder took its RLock again
    painted = page.evaluate(
        """() => { const tl = Interleave.current.timeline, g = tl.geometry, m = tl.model;
        const hex = Interleave.vocabulary.marks.reentry, want = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
        let found = 0;
        for (const lane of m.lanes) for (let r = 0; r < lane.r0.n; r += 1) {
          const row = g.rowOf[lane.index], x = Math.floor(g.X(lane.r0.a[r]) * g.dpr), y = Math.floor(row.y * g.dpr);
          const px = tl.canvas.getContext('2d').getImageData(x, y, 4 * g.dpr, g.holdH * g.dpr).data;
          for (let i = 0; i < px.length; i += 4) if (px[i] === want[0] && px[i + 1] === want[1] && px[i + 2] === want[2]) { found += 1; break; }
        }
        return [found, m.reentries]; }"""
    )
    assert painted == [6, 6]  # each of the six re-entries is drawn
    expect(page.locator(".legend [data-legend=reentry]")).to_be_visible()
    shoot(page, tmp_path, "rlock-reentry")


def test_the_lost_update_label_sits_above_the_lanes(page: Page, live_server: str, tmp_path: Path) -> None:
    drawn = run_from_page(page, live_server, "race-condition", {})
    assert int(drawn["lost"]) > 0
    frame(page)
    geo = geometry(page)
    assert geo["notesH"] > 0
    top_of_lanes = min(r["y"] for r in geo["rows"])
    assert geo["axisH"] + geo["notesH"] <= top_of_lanes  # the label's strip ends where the lanes begin
    shoot(page, tmp_path, "race-label")


def test_state_bars_written_as_pixels_are_what_a_canvas_pattern_fill_draws(
    page: Page, live_server: str
) -> None:
    """The bars are written as pixels (a canvas rasterises thousands of rectangles far
    slower): for every look, in both modes, the pixels are those of a canvas filling
    the same rectangle with the look's tile as a pattern (anchored at the origin)."""
    page.goto(f"{live_server}/")
    differences = page.evaluate(
        """async () => {
          const { PixelBars, Rects, LOOKS, makeTile } = await import('/static/js/renderer.js');
          const left = 13, W = 97, H = 41; // an odd offset: the pattern's phase follows the canvas, not the bitmap
          const canvas = () => {
            const c = document.createElement('canvas');
            c.width = left + W; c.height = H;
            return c.getContext('2d', { willReadFrequently: true });
          };
          const found = [];
          for (const big of [false, true]) {
            const fills = LOOKS.map(look => ({ colour: look.colour, tile: makeTile(look, big, 1) }));
            const bars = new PixelBars();
            LOOKS.forEach((look, f) => {
              bars.begin(left, W, H, fills, String(big));
              const rects = new Rects();
              rects.rect(left + 3, 5, 61, 29);
              rects.rect(left + 70, 2, 40, 7); // past the right edge: cut off there
              bars.fill(rects, f, 1);
              const ours = canvas();
              bars.put(ours);
              const theirs = canvas();
              theirs.fillStyle = fills[f].tile ? theirs.createPattern(fills[f].tile, 'repeat') : look.colour;
              theirs.fillRect(left + 3, 5, 61, 29);
              theirs.fillRect(left + 70, 2, W - 70, 7);
              const a = ours.getImageData(0, 0, left + W, H).data, b = theirs.getImageData(0, 0, left + W, H).data;
              let differ = 0;
              for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) differ += 1;
              if (differ) found.push(`${look.key}${big ? ' (projector)' : ''}: ${differ} bytes differ`);
            });
          }
          return found;
        }"""
    )
    assert differences == []


def picture(page: Page) -> str:
    """What the timeline's canvas shows, as a data URL (equal pictures, equal strings)."""
    data: str = page.evaluate("() => Interleave.current.timeline.canvas.toDataURL()")
    return data


def test_the_page_warms_up_off_screen_and_leaves_nothing_behind(page: Page, live_server: str) -> None:
    """While the page is idle, a made-up run is drawn out of sight (so the first real
    run draws with compiled code); when it is done, nothing of it stays on the page."""
    page.goto(f"{live_server}/")
    page.wait_for_function("() => document.documentElement.dataset.warm", timeout=30_000)
    assert page.locator("canvas").count() == 0  # no run yet, and the made-up one is gone
    assert page.evaluate("() => Object.keys(Interleave.runs).length") == 0
    run_from_page(page, live_server, "lock-counter", {"pairs": "2", "iterations": "20"})
    assert page.locator("canvas.timeline").count() == 1


def test_a_hover_over_a_picture_drawn_straight_onto_the_canvas_goes_away_cleanly(
    page: Page, live_server: str
) -> None:
    """With nothing over it the picture is drawn straight onto the canvas; a hover keeps
    a copy first, so that when the pointer leaves, the picture is exactly as before."""
    run_from_page(page, live_server, "lock-counter", {"pairs": "2", "iterations": "20"})
    frame(page)
    before = picture(page)
    lane = lane_names(page)[1]
    x, y = clear_point(page, lane, lane_middle(page, lane))  # (the run's middle may be past its end)
    page.mouse.move(x, y)
    frame(page)
    assert picture(page) != before  # the hovered segment is outlined
    page.mouse.move(x, 2)  # off the canvas, above it
    frame(page)
    assert picture(page) == before
