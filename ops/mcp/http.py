"""Streamable HTTP on loopback behind a bearer token.

The SDK's own Starlette app serves MCP; `BearerGate` in front of it answers 401 to any request
without `Authorization: Bearer TOKEN`, comparing digests in constant time. The token is never
logged: callers are told apart in the audit log by its short fingerprint.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import secrets
import socket
from typing import Any, Awaitable, Callable

from ops.errors import UsageError

LOOPBACK = "127.0.0.1"
TOKEN_ENV = "DBOPS_MCP_TOKEN"  # the server's token; the commands its tools run are not given it
MIN_TOKEN_CHARS = 16
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def fingerprint(token: str) -> str:
    """Enough to tell two tokens apart in a log, nothing to use as one."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def check_token(token: str, where: str) -> str:
    token = token.strip()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise UsageError(f"{where}: a bearer token must be at least {MIN_TOKEN_CHARS} characters without spaces")
    return token


def parse_bind(value: str) -> int:
    """`--http PORT` or `--http 127.0.0.1:PORT`: the port. Any other host is refused: the server listens on loopback only."""
    host, sep, port_text = value.rpartition(":")
    if sep and host not in (LOOPBACK, "localhost"):
        raise UsageError(f"--http {value}: the MCP server listens on {LOOPBACK} only (give PORT or {LOOPBACK}:PORT)")
    port_text = port_text if sep else value
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"--http {value}: not a port (1 to 65535)")
    return int(port_text)


def bearer_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


class BearerGate:
    """ASGI middleware: HTTP requests pass only with the right bearer token; lifespan events pass through."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = hashlib.sha256(token.encode()).digest()

    def allows(self, token: str | None) -> bool:
        given = hashlib.sha256((token or "").encode()).digest()  # equal lengths: the comparison time says nothing
        return hmac.compare_digest(given, self._digest) and token is not None

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] == "http" and not self.allows(bearer_of(scope.get("headers", []))):
            body = json.dumps({"error": "unauthorized", "detail": "Authorization: Bearer TOKEN required"}).encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="dbops-mcp"'),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def caller(ctx: Any) -> str:
    """The HTTP client's address and its token's fingerprint (the gate has checked the token already)."""
    request = getattr(ctx, "request", None)
    client = getattr(request, "client", None)
    where = f"{client.host}:{client.port}" if client else "unknown address"
    token = request.headers.get("authorization", "").partition(" ")[2].strip() if request is not None else ""
    return f"http {where} token {fingerprint(token) if token else 'none'}"


def bound(port: int) -> socket.socket:
    """127.0.0.1:PORT bound before anything is announced: a port in use is one line, not a server that says it serves
    and then fails in uvicorn."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a port in TIME_WAIT is free
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"{LOOPBACK}:{port} is in use ({exc.strerror}): another server listens there") from None
        raise UsageError(f"{LOOPBACK}:{port} cannot be bound ({exc.strerror or exc})") from None
    return sock


def serve(app: ASGIApp, sock: socket.socket) -> None:
    """Serve on the bound socket until interrupted. No proxy is trusted: uvicorn's default would take X-Forwarded-For
    from any local process as the caller, and the audit log's caller is the socket's peer."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                  proxy_headers=False, forwarded_allow_ips=[])).run(sockets=[sock])
