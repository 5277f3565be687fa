"""Against a real uvicorn (`python -m app`): what a hostile or careless client can do
to the server itself, and what it costs. Raw sockets, because well-behaved clients
cannot send half a request or stop reading on purpose."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from tests.live import LiveServer, live_server

HEADER_TIMEOUT_S = 1.0
MAX_BODY = 4096


@dataclass
class Server:
    url: str
    port: int
    log: Path
    live: LiveServer

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def open_fds(self) -> int:
        return self.live.open_fds()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module: each test leaves it as it found it (connections closed)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {
        "INTERLEAVE_LOG_LEVEL": "info",
        "INTERLEAVE_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_S),
        "INTERLEAVE_MAX_BODY_BYTES": str(MAX_BODY),
        "INTERLEAVE_MAX_CONNECTIONS": "64",
    }
    with log.open("wb") as out, live_server(env, log=out) as live:
        yield Server(live.url, live.port, log, live)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (bounded by the socket timeout)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(raw: bytes) -> dict[str, object]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"application/json" in head, head
    parsed: dict[str, object] = json.loads(body)
    return parsed


def test_a_client_that_never_finishes_its_headers_is_disconnected(server: Server) -> None:
    baseline = server.open_fds()
    sockets = [server.connect() for _ in range(40)]
    for sock in sockets:
        sock.sendall(b"GET /scenarios HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # ...and never the rest
    started = time.monotonic()
    for sock in sockets:
        assert sock.recv(1) == b"", "the server should close a connection stuck in its headers"
        sock.close()
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 5
    assert server.open_fds() <= baseline + 2


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_request(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /scenarios HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /scenarios HTTP/1.1\r\nHost")  # the second head stalls
        while sock.recv(65536):
            pass  # the rest of the first answer, then the close


def test_connections_beyond_the_limit_are_closed_at_once(server: Server) -> None:
    held = [server.connect() for _ in range(64)]
    try:
        with server.connect() as extra:
            try:
                extra.sendall(b"GET /scenarios HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = read_all(extra)
            except ConnectionResetError:  # closed before our request arrived: the same refusal
                answer = b""
            assert answer == b""
    finally:
        for sock in held:
            sock.close()


def test_a_request_that_is_not_http_gets_the_json_error_shape(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        raw = read_all(sock)
    assert raw.startswith(b"HTTP/1.1 400")
    body = json_body(raw)
    assert body["status"] == 400
    assert "not a valid HTTP request" in str(body["message"])


def test_a_huge_body_is_refused_before_it_is_sent(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        raw = read_all(sock)  # answered although not one byte of the body was sent
    assert raw.startswith(b"HTTP/1.1 413")
    assert str(MAX_BODY) in str(json_body(raw)["message"])


def test_a_chunked_body_is_cut_off_at_the_limit(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 1024
        for _ in range(MAX_BODY // len(chunk) + 1):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        raw = read_all(sock)  # the server answers without waiting for the last chunk
    assert raw.startswith(b"HTTP/1.1 413")


def unsent_bytes(server_port: int, client_port: int) -> int:
    """What the server's side of one connection has queued but not sent (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return int(queues.split(":")[0], 16)
    return 0


def test_a_viewer_leaving_a_backed_up_stream_is_not_an_error(server: Server) -> None:
    run = httpx.post(
        server.url + "/runs",
        json={"scenario": "lock-counter", "params": {"pairs": 8, "iterations": 1000, "hold": 0}},
    ).json()
    httpx.get(server.url + f"/runs/{run['id']}/events", timeout=60)  # until it has ended
    for _ in range(5):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader...
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(f"GET /runs/{run['id']}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        # ...whose window fills, so the server holds data it cannot send...
        wait_until(
            lambda: unsent_bytes(server.port, sock.getsockname()[1]) > 0,  # noqa: B023 - called now
            timeout=10,
            what="the server to be backed up",
        )
        # ...when it hangs up hard.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    # The server is still well, and said nothing alarming about viewers that left.
    assert httpx.get(server.url + "/scenarios").status_code == 200
    log = server.log.read_text()
    assert "ERROR" not in log, log[-3000:]
    assert "Traceback" not in log
