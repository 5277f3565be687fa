"""The tutorial's "threads keep a program responsive while I/O waits", measured: a main
loop must answer a tick every few milliseconds while a download waits on the network,
first inline, then in a worker thread."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.timeline import JSON
from app.traced import print, threading, time


class ResponsiveParams(Params):
    ticks: int = Field(
        16,
        ge=4,
        le=60,
        description="Ticks the main loop answers at least (e.g. redraws of a window); it goes on "
        "until the download has finished",
    )
    every: float = Field(0.025, ge=0.005, le=0.2, description="Seconds between two ticks")
    download: float = Field(
        0.25, ge=0.02, le=2.0, description="Seconds the download waits on the network (I/O)"
    )


def download(seconds: float) -> None:
    time.sleep(seconds)  # waiting for the network: nothing to compute
    print("download finished")


def answer_ticks(
    p: ResponsiveParams, start_download: Callable[[], object], downloading: Callable[[], bool]
) -> list[float]:
    """The main loop: a tick every `every` seconds, at least `ticks` of them and until the
    download is over; how late each one was answered."""
    late: list[float] = []
    first = time.monotonic()
    n = 0
    while n < p.ticks or downloading():
        due = first + n * p.every
        time.sleep(max(0.0, due - time.monotonic()))  # until the next tick is due
        late.append(time.monotonic() - due)
        print(f"tick {n}: {late[-1] * 1000:.1f} ms late")
        if n == 1:
            start_download()  # the user clicked "download"
        n += 1
    return late


def main(p: ResponsiveParams) -> Result:
    inline = answer_ticks(p, lambda: download(p.download), lambda: False)
    worker = threading.Thread(target=download, args=(p.download,), name="download")
    in_thread = answer_ticks(p, worker.start, worker.is_alive)
    worker.join()
    return outcome(p, inline, in_thread)


def outcome(p: ResponsiveParams, inline: list[float], in_thread: list[float]) -> Result:
    worst_inline, worst_thread = max(inline) * 1000, max(in_thread) * 1000
    values: dict[str, JSON] = {
        "inline_worst_ms": round(worst_inline, 1),
        "in_a_thread_worst_ms": round(worst_thread, 1),
        "inline_mean_ms": round(sum(inline) / len(inline) * 1000, 1),
        "in_a_thread_mean_ms": round(sum(in_thread) / len(in_thread) * 1000, 1),
        "download_ms": p.download * 1000,
    }
    if (reason := stop_reason()) is not None:
        return Result("stopped before both loops had answered every tick", {"stopped": reason})
    return Result(
        f"inline: ticks up to {worst_inline:.0f} ms late; with the download in a thread: "
        f"at most {worst_thread:.1f} ms late",
        values,
        notice=(
            f"Inline, main sat in the {p.download * 1000:g} ms download (a long blue bar): no tick "
            f"was answered, the next one came {worst_inline:.0f} ms late. With the download in "
            f"its own thread, main kept ticking every {p.every * 1000:g} ms (the worst was "
            f"{worst_thread:.1f} ms late) while the download lane waited."
        ),
    )


SCENARIO = Scenario(
    slug="responsiveness",
    title="Responsive while I/O waits",
    group="Threads",
    notice=(
        "Main must answer a tick every few milliseconds (like redrawing a window). At tick 1 "
        "the user starts a download that waits on the network. First main downloads itself "
        "and stops answering; then a thread downloads and main keeps ticking. Each print "
        "says how late its tick was."
    ),
    params=ResponsiveParams,
    main=main,
    order=30,
    code=(download, answer_ticks, main),
)
