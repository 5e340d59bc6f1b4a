"""Files served with Range support whose refusals of a bad Range header come in the API's JSON
error shape. Starlette's FileResponse answers those (400 malformed, 416 outside the file) in
plain text of its own; here its answer is caught on the way out and replaced, so that the
parsing stays Starlette's and only the words change."""

from __future__ import annotations

import os

from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from cer.serving.errors import error_response

_REFUSALS = {
    400: ("malformed_range", "the Range header is malformed; ask for bytes=START-END"),
    416: ("range_not_satisfiable", "the requested byte range lies outside the file"),
}


class RangedFileResponse(FileResponse):
    """A FileResponse whose Range refusals are JSON errors."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = False

        async def send_refusal_as_json(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] in _REFUSALS:
                refused = True
                code, words = _REFUSALS[message["status"]]
                # 416 says the file's size, as `bytes */SIZE`, for the client's next try
                headers = {key.decode(): value.decode() for key, value in message["headers"] if key.lower() == b"content-range"}
                await error_response(message["status"], code, words, headers)(scope, receive, send)
            elif not refused:  # Starlette's own plain-text body is dropped
                await send(message)

        await super().__call__(scope, receive, send_refusal_as_json)


class RangedStaticFiles(StaticFiles):
    """The page's static files, with the same answers to a bad Range header."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if type(response) is FileResponse:  # not a 304 Not Modified
            return RangedFileResponse(full_path, status_code=status_code, stat_result=stat_result)
        return response
