"""Step mode as a person uses it: start the race lesson in step mode, let the workers
through by clicking their lanes, their buttons and their number keys, watch the code
panel mark where each one stands, run to the end, and replay the schedule by its link."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from app.palette import LANE_TINTS

SHOTS = Path("/tmp/shots-step")


def start_step_run(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/?scenario=race-condition")
    for name, value in {"threads": "2", "iterations": "1", "window": "0"}.items():
        page.locator(f"form.params [name={name}]").fill(value)
    page.locator("form.params select[name=mode]").select_option("step")
    page.click("form.params .run-button")
    expect(page.locator(".step-worker[data-worker=main]")).to_contain_text("start Thread-1")


def steps_so_far(page: Page, n: int) -> None:
    expect(page.locator("[data-step-count]")).to_have_text(f"{n} step{'' if n == 1 else 's'} so far")


def click_lane(page: Page, worker: str) -> None:
    """Click the lane's label on the canvas, where the drawing put it."""
    y = page.evaluate(
        """worker => {
            const g = Interleave.current.timeline.renderer.geometry;
            const row = g.rows.find((r) => r.type === "lane" && r.lane.name === worker);
            return row.y + row.h / 2;
        }""",
        worker,
    )
    box = page.locator(".run[data-run-id] canvas.timeline").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 8, box["y"] + y)


def tint_of(page: Page, worker: str) -> str:
    index: int = page.evaluate("w => Interleave.current.timeline.model.byName.get(w).index", worker)
    return LANE_TINTS[index % len(LANE_TINTS)]


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    for width, height in ((1920, 1080), (1280, 720)):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("() => new Promise(requestAnimationFrame)")
        page.screenshot(path=SHOTS / f"{name}-{width}x{height}.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_stepping_the_race_by_clicking_lanes_loses_an_update(
    page: Page, live_server: str, console_errors: list[str]
) -> None:
    start_step_run(page, live_server)
    main_line = page.locator(".code-line[data-at=main]")
    expect(main_line).to_contain_text("t.start()")
    expect(main_line.locator(".code-who")).to_have_text(" ◀ main")

    # main starts both threads and sets go: a click on its lane each time, then its key
    click_lane(page, "main")
    steps_so_far(page, 1)
    click_lane(page, "main")
    steps_so_far(page, 2)
    page.locator(".run[data-run-id] canvas.timeline").focus()
    page.keyboard.press("1")  # main is listed first
    steps_so_far(page, 3)
    # each thread passes the starting line: clicks on their lanes
    for n, worker in enumerate(["Thread-1", "Thread-1", "Thread-2", "Thread-2"], start=4):
        click_lane(page, worker)
        steps_so_far(page, n)

    # Both threads now stand at the read: one line, two markers, each in its lane's tint.
    read_line = page.locator(".code-line", has_text="value = counter.value")
    expect(read_line.locator(".code-who")).to_have_text([" ◀ Thread-1", " ◀ Thread-2"])
    for worker, who in zip(["Thread-1", "Thread-2"], read_line.locator(".code-who").all(), strict=True):
        expect(who).to_have_css("color", rgb(tint_of(page, worker)))
    expect(page.locator(".step-worker[data-worker=Thread-1] .step-op")).to_have_text("read counter · line 12")
    # and the line's code beside the lanes, without its comment
    expect(page.locator(".step-worker[data-worker=Thread-1] .step-code")).to_have_text(
        "value = counter.value"
    )
    shoot(page, "both-at-the-read")
    page.locator("#scenario figure.code").screenshot(path=SHOTS / "code-panel.png")

    # T1 reads, T2 reads, T1 writes, T2 writes: the lost update, by hand
    for n, worker in enumerate(
        ["Thread-1", "Thread-2", "Thread-1", "Thread-1", "Thread-2", "Thread-2"], start=8
    ):
        page.click(f".step-worker[data-worker={worker}]")
        steps_so_far(page, n)
    expect(page.locator(".step-worker[data-worker=main] .step-op")).to_contain_text("join")

    page.click("[data-step-end=round-robin]")
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", "done", timeout=20_000)
    expect(page.locator("[data-result]")).to_contain_text("counter is 1, expected 2: 1 updates lost")
    expect(page.locator(".code-line[data-at]")).to_have_count(0)
    shoot(page, "lost-update")

    # The schedule, replayed from its link: the same lost update.
    link = page.locator("[data-replay-link]")
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("form.params select[name=mode]")).to_have_value("replay")
    page.click("form.params .run-button")
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", "done", timeout=20_000)
    expect(page.locator("[data-result]")).to_contain_text("counter is 1, expected 2: 1 updates lost")
    assert console_errors == []


def test_explore_from_the_page_finds_the_lost_update_and_offers_its_replay(
    page: Page, live_server: str, console_errors: list[str]
) -> None:
    page.goto(f"{live_server}/?scenario=race-condition")
    for name, value in {"threads": "2", "iterations": "1", "window": "0"}.items():
        page.locator(f"form.params [name={name}]").fill(value)
    page.locator("form.params select[name=mode]").select_option("explore")
    page.click("form.params .run-button")
    expect(page.locator(".run[data-run-id]")).to_have_attribute("data-done", "done", timeout=30_000)
    expect(page.locator("[data-result]")).to_contain_text("lost update: counter is 1, expected 2")
    expect(page.locator("[data-values] tr[data-key=schedules_tried]")).to_be_visible()
    share = page.locator("[data-replay-share]").get_attribute("href") or ""
    assert share.startswith(f"{live_server}/?scenario=race-condition&mode=replay")
    shoot(page, "explore")
    assert console_errors == []


def test_number_keys_step_even_while_the_run_button_has_the_focus(page: Page, live_server: str) -> None:
    """A teacher clicks Run, then steps with the number keys: the focused button keeps
    only the keys that press it (Space, Enter)."""
    start_step_run(page, live_server)
    assert page.evaluate("() => document.activeElement.classList.contains('run-button')")
    page.keyboard.press("1")  # main: start Thread-1
    steps_so_far(page, 1)
    page.locator(".step-worker[data-worker=main]").click()  # main: start Thread-2
    steps_so_far(page, 2)
    page.keyboard.press("1")  # the focus is now on main's button
    steps_so_far(page, 3)
