"""Serving the app with uvicorn, hardened for a school's server left running.

- `protocol_class(settings)`: uvicorn's h11 protocol with three changes: a
  connection must send a whole request head within `header_timeout_seconds` (each
  time it is waiting for one: at connect, and between keep-alive requests), else it
  is closed, so slow or silent clients cannot hold sockets; past `max_connections`
  open connections a new one is closed at once; and a request that is not valid HTTP
  gets the app's JSON error shape, not uvicorn's plain text.
- `serve(settings)`: what `python -m app` and `interleave serve` run. On SIGTERM it
  stops every run first, so open event streams end with `done` instead of holding
  the shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from types import FrameType
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.api.errors import ErrorBody
from app.config import Settings
from app.runner import stop_all_runs

_log = logging.getLogger("interleave.server")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request head (see the module)."""

    settings: Settings  # set by `protocol_class`

    _refused = False
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.settings.max_connections:
            _log.warning("refusing a connection: %d are open, the most allowed", len(self.connections))
            self._refused = True
            transport.close()
            return
        super().connection_made(transport)
        self._await_head()

    def _await_head(self) -> None:
        """From now, the client has `header_timeout_seconds` to send a request head."""
        self._head_deadline = self.loop.call_later(self.settings.header_timeout_seconds, self._head_overdue)

    def _head_overdue(self) -> None:
        waiting_for_head = self.cycle is None or self.cycle.response_complete
        if waiting_for_head and not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            if self._head_deadline is not None:
                self._head_deadline.cancel()
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return  # it never became one of ours
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        body = ErrorBody(
            status=400,
            message=f"not a valid HTTP request ({msg}); send an HTTP/1.1 request with a method, "
            "a path and headers of printable ASCII",
        ).model_dump_json()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers)) or b"")
        self.transport.write(self.conn.send(h11.Data(data=body.encode())) or b"")
        self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()


def protocol_class(settings: Settings) -> type[GuardedH11Protocol]:
    return type("InterleaveProtocol", (GuardedH11Protocol,), {"settings": settings})


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn drains open connections before the app's shutdown runs; event
        # streams only end with their runs, so stop the runs first.
        stop_all_runs()
        super().handle_exit(sig, frame)


def config(settings: Settings, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "http": protocol_class(settings),
        "timeout_keep_alive": settings.keep_alive_seconds,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        # A stream that still does not end (a stuck client) cannot hold shutdown up.
        "timeout_graceful_shutdown": 5,
    }
    return uvicorn.Config("app.main:create_app", **(options | overrides))


def serve(settings: Settings) -> None:
    _Server(config(settings)).run()
