/* A made-up run, taken in and drawn off screen while the page is idle after loading.
 *
 * The first frames of a timeline run code the JavaScript engine has not compiled yet:
 * without this, the first half second of the first run a learner starts stuttered
 * (measured at 50k events/s: frames of 100-130 ms, against 17-33 ms once warm). The
 * made-up run passes through the same stages a real one does (a few events drawn one
 * by one, then thousands summed per pixel column, count badges, the overview strip),
 * one stage per idle moment, so the page stays responsive while it warms.
 */
import { Timeline } from "./controller.js";

const LANES = 16;
const STAGES = [200, 2_000, 10_000, 20_000, 40_000, 60_000]; // events taken in before each draw

/** Lock-counter-like traffic: acquire, release, waits ended by the holder, prints. */
function* traffic() {
  let seed = 1, t = 1_000, owner = -1;
  const random = (n) => { seed = (seed * 48_271) % 2_147_483_647; return seed % n; }; // the same every time
  for (;;) {
    t += 1_000 + random(20_000);
    const me = 1 + random(LANES), name = `Thread-${me}`;
    if (owner < 0) { owner = me; yield [t, name, "acquire", "Lock-1", null, ""]; continue; }
    if (me === owner) { yield [t, name, "release", "Lock-1", null, ""]; owner = -1; continue; }
    yield [t, name, "wait", "Lock-1", null, ""];
    yield [t + 500, name, "run", "Lock-1", null, `Thread-${owner}`];
    if (random(5) === 0) yield [t + 600, name, "print", "stdout", String(t), ""];
  }
}

/** Run `step(i)` for i = 0, 1, ... in idle moments until it returns false. */
function whenIdle(step, i = 0) {
  const later = window.requestIdleCallback || ((fn) => setTimeout(fn, 50));
  later(() => { if (step(i)) whenIdle(step, i + 1); });
}

/** Warm up, one stage per idle moment. Returns `stop()`: a real run has begun (its
 *  frames come first, and its canvas is the page's only timeline): the warm-up ends
 *  at once, where it is. */
export function warmUp() {
  const host = document.createElement("div");
  host.setAttribute("aria-hidden", "true");
  // laid out at a real size (a canvas out of the page draws nothing), out of sight
  host.style.cssText = "position: fixed; left: -4000px; top: 0; width: 1600px; visibility: hidden; pointer-events: none";
  host.innerHTML = '<div class="lanes"><canvas class="timeline"></canvas><canvas class="overview"></canvas></div>';
  document.body.append(host);
  const timeline = new Timeline(host);
  const start = [[0, "main", "start", "", "main", ""], [1, "main", "run", "", null, ""]];
  for (let i = 1; i <= LANES; i++) start.push([2 + i, `Thread-${i}`, "start", "", "thread", ""], [3 + i, `Thread-${i}`, "run", "", null, ""]);
  timeline.add(start);
  const events = traffic();
  let taken = 0, stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    timeline.destroy();
    host.remove();
    // when it was done, in ms since the page began loading (the benchmark waits for it)
    document.documentElement.dataset.warm = String(Math.round(performance.now()));
  };
  whenIdle((stage) => {
    if (stage === STAGES.length) stop();
    if (stopped) return false;
    while (taken < STAGES[stage]) {
      const batch = [];
      for (let n = 0; n < 2_000 && taken < STAGES[stage]; n++, taken++) batch.push(events.next().value);
      timeline.model.add(batch);
    }
    timeline.draw();
    timeline.cursor = timeline.model.tMax / 2; // and a frame that draws over the picture
    timeline.draw();
    timeline.cursor = null;
    return true;
  });
  return stop;
}
