"""`python -m bench.load [--seconds 60] [--write docs/PERFORMANCE.md]`: the server under a
classroom's load, on loopback, and what hostile clients cost it.

1. For `--seconds`: 200 SSE viewers spread over 4 long live runs, while a new short run
   starts every second (each from its own address, as students behind a school LAN
   would), and one greedy client tries to start runs as fast as it can. Reported:
   errors (goal 0), events lost by any viewer (goal 0: every viewer's ids run without a
   gap and it receives as many events as the run recorded), event-to-viewer latency
   p50/p99 measured from each event's own timestamp (the run's wall-clock start plus
   its t_ns), the server's RSS at start and end, and what the per-client limits refused.
2. 300 connections that never finish their headers: open fds while they hang, and how
   long until the server has closed them all.
3. A 100 MB POST (Content-Length declared, body streamed): the answer, and the server's
   RSS before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.report import replace_section
from tests.live import LiveServer, live_server

LOAD_SERVER = {
    "INTERLEAVE_MAX_RUN_SECONDS": "300",
    "INTERLEAVE_MAX_CONCURRENT_RUNS": "8",
    "INTERLEAVE_HEADER_TIMEOUT_SECONDS": "10",
}
# A lesson's pace (4 threads taking turns on a lock, 50 ms holds: ~100 events/s) for
# ~200 s: longer than the load, so each is stopped by its starter at the end.
LONG_RUN = {"scenario": "lock-counter", "params": {"pairs": 2, "iterations": 1000, "hold": 0.05}}
SHORT_RUN = {"scenario": "threads-print-numbers", "params": {"threads": 3, "pace": 0.005}}
# What the greedy client asks for: a second-long run, again and again, never waiting.
GREEDY_RUN = {"scenario": "threads-print-numbers", "params": {"threads": 3, "pace": 0.1}}


@dataclass
class ViewerStats:
    events: int = 0
    gaps: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    expected: int | None = None  # the run's event count, from its `done`


async def sse_messages(response: httpx.Response) -> AsyncIterator[tuple[str, str, str]]:
    """(event, id, data) per message of a text/event-stream response."""
    event, ident, data = "message", "", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, ident, "\n".join(data)
            event, ident, data = "message", "", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            ident = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


async def view(server: LiveServer, run_id: str, started_at: float, stats: ViewerStats) -> None:
    """One student's browser: its own connection, reading the whole stream."""
    try:
        async with (
            client_at(server, "127.0.0.1") as http,
            http.stream("GET", f"/runs/{run_id}/events") as response,
        ):
            async for event, ident, data in sse_messages(response):
                now = time.time()
                if event == "done":
                    stats.expected = json.loads(data)["events"]
                    return
                batch = json.loads(data)
                if int(ident) != stats.events + len(batch) - 1:
                    stats.gaps += 1
                stats.events += len(batch)
                stats.latencies_ms += [(now - started_at - event[0] / 1e9) * 1e3 for event in batch]
    except httpx.HTTPError as error:
        stats.errors.append(f"viewer: {error!r}")


def client_at(server: LiveServer, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address, retries=0)
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    return httpx.AsyncClient(base_url=server.url, transport=transport, timeout=60, limits=limits)


async def started_at(http: httpx.AsyncClient, run_id: str) -> float:
    while True:
        summary = (await http.get(f"/runs/{run_id}")).json()
        if summary["started_at"] is not None:
            return float(summary["started_at"])
        await asyncio.sleep(0.01)


async def classroom(server: LiveServer, seconds: float) -> dict[str, Any]:
    errors: list[str] = []
    refused = {"student": 0, "greedy": 0}
    viewers: list[ViewerStats] = []
    teachers = [client_at(server, f"127.0.1.{n + 1}") for n in range(4)]  # each starts one long run
    async with client_at(server, "127.0.0.1") as teacher:
        long_runs = []
        for starter in teachers:
            created = await starter.post("/runs", json=LONG_RUN)
            created.raise_for_status()
            long_runs.append(created.json()["id"])
        starts = {run_id: await started_at(teacher, run_id) for run_id in long_runs}
        tasks = []
        for i in range(200):
            run_id = long_runs[i % 4]
            stats = ViewerStats()
            viewers.append(stats)
            tasks.append(asyncio.create_task(view(server, run_id, starts[run_id], stats)))

        async def students() -> None:
            for n in range(int(seconds)):
                async with client_at(server, f"127.0.2.{n % 250 + 1}") as student:
                    response = await student.post("/runs", json=SHORT_RUN)
                    if response.status_code in (429, 503):
                        refused["student"] += 1
                    elif response.status_code != 201:
                        errors.append(f"student run: {response.status_code} {response.text[:200]}")
                await asyncio.sleep(1)

        async def greedy() -> None:
            deadline = time.monotonic() + seconds
            async with client_at(server, "127.0.3.1") as hog:
                while time.monotonic() < deadline:
                    response = await hog.post("/runs", json=GREEDY_RUN)
                    if response.status_code in (429, 503):
                        refused["greedy"] += 1
                        await asyncio.sleep(float(response.headers.get("retry-after", "1")) / 4)
                    elif response.status_code != 201:
                        errors.append(f"greedy run: {response.status_code}")

        await asyncio.gather(students(), greedy())
        for starter, run_id in zip(teachers, long_runs, strict=True):  # each starter stops its run
            stopped = await starter.post(f"/runs/{run_id}/stop")
            if stopped.status_code != 200:
                errors.append(f"stop: {stopped.status_code} {stopped.text[:200]}")
            await starter.aclose()
        await asyncio.gather(*tasks)
    for stats in viewers:
        errors += stats.errors
    lost = sum(
        stats.gaps + (0 if stats.expected is None else stats.expected - stats.events) for stats in viewers
    )
    unfinished = sum(1 for stats in viewers if stats.expected is None)
    latencies = sorted(ms for stats in viewers for ms in stats.latencies_ms)
    return {
        "viewers": len(viewers),
        "events_delivered": sum(stats.events for stats in viewers),
        "errors": errors,
        "lost": lost,
        "unfinished": unfinished,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "refused": refused,
    }


def slow_connections(server: LiveServer, count: int = 300) -> dict[str, float]:
    before = server.open_fds()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(b"GET /scenarios HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append(sock)
    time.sleep(0.5)  # a measurement pause, not a synchronisation: the fds are open by now
    during = server.open_fds()
    started = time.monotonic()
    for sock in sockets:
        sock.recv(1)  # returns b"" once the server closes it
        sock.close()
    closed_after = time.monotonic() - started
    return {
        "fds_before": before,
        "fds_during": during,
        "fds_after": server.open_fds(),
        "closed_after_s": closed_after,
    }


def huge_post(server: LiveServer, megabytes: int = 100) -> dict[str, Any]:
    rss_before = server.rss_bytes()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(
        b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (megabytes * 2**20)
    )
    sent = 0
    chunk = b"1" * 2**20
    answer = b""
    sock.setblocking(False)
    while sent < megabytes and not answer:
        try:
            sock.send(chunk)
            sent += 1
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(4096)
        except BlockingIOError:
            time.sleep(0.001)
    sock.close()
    return {
        "status": answer.split(b"\r\n", 1)[0].decode(errors="replace"),
        "megabytes_sent_before_answer": sent,
        "rss_delta_mb": (server.rss_bytes() - rss_before) / 2**20,
    }


def report(seconds: float) -> str:
    with live_server(LOAD_SERVER) as server:
        rss_start = server.rss_bytes()
        load = asyncio.run(classroom(server, seconds))
        rss_end = server.rss_bytes()
        slow = slow_connections(server)
        post = huge_post(server)
    lines = [
        f"Command: `make load` (`python -m bench.load --seconds {seconds:g}`), on loopback, "
        "viewers and server sharing the machine's cores.",
        "",
        f"**Classroom, {seconds:g} s**: {load['viewers']} SSE viewers over 4 live runs, a new run "
        "every second from its own address, and one greedy client starting runs as fast as it is let.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| errors | {len(load['errors'])} | 0 |",
        f"| events lost (gaps, or fewer than the run recorded) | {load['lost']} | 0 |",
        f"| viewers that never got `done` | {load['unfinished']} | 0 |",
        f"| events delivered | {load['events_delivered']:,} | |",
        f"| event-to-viewer latency p50 / p99 | {load['p50_ms']:.1f} ms / {load['p99_ms']:.1f} ms | |",
        f"| server RSS at start / end | {rss_start / 2**20:.0f} MB / {rss_end / 2**20:.0f} MB | flat |",
        f"| refused by the per-client limits | greedy client: {load['refused']['greedy']}, students: "
        f"{load['refused']['student']} | students: 0 |",
        "",
        f"**300 connections that never finish their headers**: the server's open fds "
        f"{slow['fds_before']:.0f} before, {slow['fds_during']:.0f} while they hang, {slow['fds_after']:.0f} "
        f"after; all closed by the server {slow['closed_after_s']:.1f} s after they were opened "
        "(the header deadline is 10 s).",
        "",
        f"**A 100 MB POST**: answered `{post['status']}` after {post['megabytes_sent_before_answer']} MB "
        f"were sent; server RSS {post['rss_delta_mb']:+.1f} MB.",
    ]
    if load["errors"]:
        lines += ["", "Errors:", "", *[f"- {error}" for error in load["errors"][:20]]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--write", type=Path, help="replace the load section of this Markdown file")
    args = parser.parse_args()
    text = report(args.seconds)
    print(text)
    if args.write:
        replace_section(args.write, "load", text)


if __name__ == "__main__":
    main()
