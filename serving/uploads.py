"""Receives the multipart body of `POST /v1/jobs` straight into the job folder.

Starlette's form parser spools a whole upload to a temporary file before the route sees it,
so a size limit could only be checked once every byte had arrived. Here the `file` part is
written chunk by chunk into the job folder and the upload stops as soon as it passes the
limit, or as soon as the client stops sending for longer than the upload timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from cer.serving.errors import ApiError

if TYPE_CHECKING:
    # python-multipart declares its callback types for type checkers only.
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD = "file"
FIELD_MAX_BYTES = 1024  # a text field (profile, compound) is one word
FIELDS_MAX = 16  # text fields in one form; the API reads two
ENVELOPE_BYTES = 64 * 1024  # room for the multipart boundaries and part headers around the file
# A refused body is read to its end (up to this much) before answering: a client still sending
# when the server closes the connection often sees the reset instead of the answer.
DISCARD_MAX_BYTES = 64 * 2**20


@dataclass
class Upload:
    filename: str = ""  # the client's name for the file: shown to people, never used as a path
    size_bytes: int = 0
    has_file: bool = False
    fields: dict[str, str] = field(default_factory=dict)


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload is larger than this server's limit of {max_bytes} bytes")


class _Parts:
    """python-multipart callbacks: bytes of the file part wait in `pending` for the caller to
    write them (off the event loop); other parts are collected as short text fields."""

    def __init__(self, max_bytes: int) -> None:
        self.upload = Upload()
        self.pending: list[bytes] = []
        self._max_bytes = max_bytes
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name = ""
        self._text = bytearray()
        self._text_parts = 0
        self.complete = False  # the closing boundary was seen

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def take(self) -> list[bytes]:
        pending, self.pending = self.pending, []
        return pending

    def _part_begin(self) -> None:
        self._disposition, self._name, self._text = b"", "", bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == FILE_FIELD:
            if self.upload.has_file:
                raise ApiError(400, "bad_form", f"the form has more than one `{FILE_FIELD}` part")
            self.upload.has_file = True
            self.upload.filename = options.get(b"filename", b"").decode("utf-8", "replace")[:255]
        elif b"filename" in options:  # a file under another name, as `curl -F video=@clip.mp4` sends it
            raise ApiError(
                422, "missing_file", f"send the video in the form field `{FILE_FIELD}` (curl -F {FILE_FIELD}=@VIDEO), not `{self._name}`"
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == FILE_FIELD:
            self.upload.size_bytes += end - start
            if self.upload.size_bytes > self._max_bytes:
                raise too_large(self._max_bytes)
            self.pending.append(data[start:end])
            return
        self._text += data[start:end]
        if len(self._text) > FIELD_MAX_BYTES:
            raise ApiError(400, "bad_form", f"form field {self._name!r} is longer than {FIELD_MAX_BYTES} bytes")

    def _part_end(self) -> None:
        if self._name != FILE_FIELD:
            self._text_parts += 1
            if self._text_parts > FIELDS_MAX:  # each is bounded; so is their number, or they add up
                raise ApiError(400, "bad_form", f"the form has more than {FIELDS_MAX} text fields")
            self.upload.fields[self._name] = self._text.decode("utf-8", "replace")

    def _end(self) -> None:
        self.complete = True


class UploadStalled(ApiError):
    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, "upload_timeout", f"no byte of the upload arrived for {timeout_s:g} s; it was dropped")


class UploadTooSlow(ApiError):
    def __init__(self, rate: float, floor: float) -> None:
        message = f"the upload averaged {rate:.0f} bytes/s, below the {floor:.0f} bytes/s the server needs; it was dropped"
        super().__init__(408, "upload_too_slow", message)


class Body:
    """The request body as it arrives. Unlike Starlette's `Request.stream`, it says when the
    body has ended, so that the rest of a refused body can be discarded whenever the refusal
    comes (Starlette refuses to read an ended stream again); and it gives up on a client that
    stops sending (UploadStalled), or that sends too slowly to ever finish (UploadTooSlow: after
    the first `timeout_s`, the average rate must reach `min_rate`), either of which would
    otherwise hold its folder and slot for ever."""

    def __init__(self, request: Request, timeout_s: float, min_rate: float = 0.0) -> None:
        self._receive = request.receive
        self._timeout_s = timeout_s
        self._min_rate = min_rate
        self.ended = False

    async def chunks(self) -> AsyncIterator[bytes]:
        started, received = time.monotonic(), 0
        while not self.ended:
            try:
                message = await asyncio.wait_for(self._receive(), self._timeout_s)
            except asyncio.TimeoutError:
                raise UploadStalled(self._timeout_s) from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            self.ended = not message.get("more_body", False)
            chunk = message.get("body", b"")
            received += len(chunk)
            elapsed = time.monotonic() - started
            if not self.ended and elapsed > self._timeout_s and received < self._min_rate * elapsed:
                raise UploadTooSlow(received / elapsed, self._min_rate)
            yield chunk

    async def discard(self) -> None:
        """Read what is left of the body, and drop it (see DISCARD_MAX_BYTES); a client that
        stops sending gets the answer after one upload timeout."""
        seen = 0
        try:
            async for chunk in self.chunks():
                seen += len(chunk)
                if seen > DISCARD_MAX_BYTES:
                    return
        except (UploadStalled, UploadTooSlow):
            return


async def receive_upload(request: Request, body: Body, target: Path, max_bytes: int) -> Upload:
    """Stream the multipart body into `target`, which must not exist yet; an error (too large,
    malformed) is raised as soon as it shows, after the rest of the body has been discarded."""
    media_type, params = parse_options_header(request.headers.get("content-type"))
    if media_type != b"multipart/form-data" or not params.get(b"boundary"):
        await body.discard()
        raise ApiError(415, "not_multipart", f"send the video as multipart/form-data in the field `{FILE_FIELD}`")
    parts = _Parts(max_bytes)
    parser = MultipartParser(params[b"boundary"], parts.callbacks())
    with open(target, "xb") as out:
        try:
            async for chunk in body.chunks():
                parser.write(chunk)
                if parts.pending:
                    await run_in_threadpool(out.writelines, parts.take())
        except UploadStalled:
            raise  # nothing more is coming to discard
        except ApiError:
            await body.discard()  # the error showed before the body's end
            raise
        except MultipartParseError as exc:
            await body.discard()
            raise ApiError(400, "bad_form", f"malformed multipart body: {exc}") from None
    if not parts.complete:
        raise ApiError(400, "bad_form", "the multipart body ends before its closing boundary (cut off?)")
    if not parts.upload.has_file:
        raise ApiError(422, "missing_file", f"the form has no `{FILE_FIELD}` part")
    return parts.upload
