"""Pure ASGI middleware: what every request and response goes through.

- `BodyLimit`: a body larger than the setting is refused with 413 before it is read
  (by Content-Length), or as soon as it grows past the limit (a chunked body), so a
  100 MB post costs the server nothing. (FastAPI's own `max_body_size` answers some
  of these in plain text; every 4xx here has the one JSON shape.)
- `SecurityHeaders`: a Content-Security-Policy without inline scripts, and the usual
  locks (nosniff, no framing, no referrer leaks) on every response.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import ErrorBody

# The page's scripts are files (htmx 4 needs no eval); styles too, except the API
# docs' renderers, which inject <style> elements, compile validators at run time and
# index for search in a blob: worker.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
CSP_DOCS = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "script-src 'self'", "script-src 'self' 'unsafe-eval'; worker-src 'self' blob:"
)
DOCS_PATHS = ("/docs", "/redoc")
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class BodyTooLarge(StarletteHTTPException):
    """The body grew past the limit while being read: raised from `receive`, inside the
    route, as an HTTPException so that the app's handler answers it in the one shape
    (FastAPI turns any other error while reading a body into a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, too_large(max_bytes))


def too_large(max_bytes: int) -> str:
    return f"the body is larger than {max_bytes} bytes, the most this server reads; a run request is a few hundred bytes"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = (
            ErrorBody(
                status=413,
                message=f"the body is larger than {self.max_bytes} bytes, the most this server reads; "
                "a run request is a few hundred bytes",
            )
            .model_dump_json()
            .encode()
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                # The rest of the body is not read: close rather than drain it.
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (CSP_DOCS if scope["path"] in DOCS_PATHS else CSP).encode()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", policy),
                    *HEADERS,
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
