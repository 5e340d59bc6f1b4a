"""The HTTP protocol `cer serve` runs on: uvicorn's own, but a request it cannot parse (a bad
Content-Length, a broken request line) is refused in the API's JSON error shape rather than
uvicorn's plain text. Such a request never reaches the app, so only the protocol can answer
it; uvicorn takes the protocol class as its documented `http` option."""

from __future__ import annotations

import json

# what uvicorn's `auto` picks where httptools is installed, as uvicorn[standard] does
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def malformed_request_answer(problem: str) -> bytes:
    """A whole 400 response, status line to body, for a request that could not be parsed."""
    error = {"error": {"code": "malformed_request", "message": f"the HTTP request could not be parsed: {problem}"}}
    body = json.dumps(error).encode()
    head = f"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    return head.encode("ascii") + body


class JsonRefusalProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(malformed_request_answer(msg.rstrip(".").lower()))
        self.transport.close()
