"""Small test helpers: bounded waiting, SSE parsing, and the GIL share the sampler draws."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def gil_share(spent: dict[str, int]) -> float:
    """Waiting for the GIL, out of the time not spent waiting for a core (which other
    programs on this shared machine take, and is not the lesson's). `spent`: ns per
    state, the GIL's waits as "gil:GIL" and a core's as "gil:CPU"."""
    could_run = sum(spent.values()) - spent.get("gil:CPU", 0)
    return spent.get("gil:GIL", 0) / could_run if could_run else 0.0


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Block until `predicate()` is true, failing the test after `timeout` seconds.

    For states another thread reaches (a worker blocked in acquire) that offer no
    event of their own to wait on; the poll is bounded, never a guess at a duration.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.001)


@dataclass
class Message:
    event: str
    id: str | None
    data: Any


def parse_sse(text: str) -> list[Message]:
    """Parse an SSE body into messages (comments and keep-alives skipped)."""
    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
        if "data" in fields:
            messages.append(
                Message(
                    event=fields.get("event", ["message"])[-1],
                    id=fields.get("id", [None])[-1],
                    data=json.loads("\n".join(fields["data"])),
                )
            )
    return messages


def events_of(messages: list[Message]) -> list[list[Any]]:
    return [event for m in messages if m.event == "events" for event in m.data]


Wire = list[Any]  # one event as sent: [t_ns, worker, kind, obj, detail, link]


async def finished_run(client: Any, scenario: str, **params: Any) -> tuple[dict[str, Any], list[Wire]]:
    """Start a run over the API, read its whole stream; (the done summary, its events)."""
    created = await client.post("/runs", json={"scenario": scenario, "params": params})
    assert created.status_code == 201, created.text
    messages = parse_sse((await client.get(f"/runs/{created.json()['id']}/events")).text)
    assert messages[-1].event == "done"
    return messages[-1].data, events_of(messages)
