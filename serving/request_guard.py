"""Requests the server refuses before any route sees them.

- A Host header that names no allowed host (CER_ALLOWED_HOSTS; loopback names by default):
  a page on another site can point a name of its own at 127.0.0.1 (DNS rebinding) and would
  otherwise read a local server's jobs, videos and transcripts without a token.
- A state-changing request (POST, DELETE, ...) whose Origin is not the server itself: another
  site's form or script would otherwise submit or delete jobs through the visitor's browser.
  Scripts and curl send no Origin and are let through; browsers always send one there.
- A WebSocket handshake whose Origin is not the server itself. The handshake is a GET, which
  the rule above lets through, and browsers apply no same-origin policy to WebSockets: without
  this, another site's page could open the live socket in the visitor's name. Browsers always
  send the Origin of a WebSocket; scripts send none and are let through. The refusal is an
  HTTP answer to the handshake (403, the usual JSON error), so no socket opens at all.

The health probes answer any Host: orchestrators probe by IP address, and say nothing private.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from cer.serving.errors import error_response
from cer.serving.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROBES = frozenset({"/healthz", "/readyz"})


def host_name(host: str) -> str:
    """The name in a Host header, without the port: `[::1]:8000` -> `::1`."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


class RequestGuard:
    """Pure ASGI, so that an upload's body streams through untouched."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] in ("http", "websocket") else None
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
            await WebSocketClose(1008)(scope, receive, send)  # a web server that cannot answer a handshake in full: a bare 403
        else:
            await refusal(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        if scope["path"] not in PROBES and not self.settings.allows_host(host_name(host)):
            # the Host is not echoed: it is the client's text, and the client knows it
            return error_response(400, "bad_host", "the Host header names a host this server does not answer for (CER_ALLOWED_HOSTS)")
        origin = headers.get("origin")
        foreign = origin is not None and urlsplit(origin.lower()).netloc != host
        if foreign and scope["type"] == "websocket":
            return error_response(403, "cross_origin", "a WebSocket from another site's page is refused (its Origin is not this server)")
        if foreign and scope["method"] not in SAFE_METHODS:
            return error_response(
                403, "cross_origin", "a state-changing request from another site's page is refused (its Origin is not this server)"
            )
        return None
