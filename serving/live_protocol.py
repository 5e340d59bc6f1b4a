"""The live WebSocket's protocol (/v1/live): what a client may send besides its media, and the
close codes the server ends a session with, in one table that docs/service.md shows verbatim
(a test holds the document to `markdown_table()`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_REASON_BYTES = 123  # a close frame's reason: 125 bytes of payload less the code's two (RFC 6455)


@dataclass(frozen=True)
class CloseCode:
    code: int
    name: str
    meaning: str


NORMAL = CloseCode(1000, "normal", "the stream ended: after the client's end message, the last windows were decided and `end` sent")
UNSUPPORTED = CloseCode(1003, "unsupported_message", "a text message that is no token message (first) and no end message")
BAD_MEDIA = CloseCode(
    1007, "bad_media", "the media is no video stream cer can read (WebM/Matroska, fragmented MP4, ...); the reason says what is wrong"
)
UNAUTHORIZED = CloseCode(1008, "unauthorized", "the server has a token (CER_API_TOKEN) and the session gave none, or a wrong one")
TOO_BIG = CloseCode(1009, "message_too_big", "a message larger than CER_LIVE_MAX_MESSAGE_BYTES")
INTERNAL = CloseCode(1011, "internal_error", "the analysis failed on the server; the server's log has the details")
RESTART = CloseCode(1012, "server_stopping", "the server is stopping (sent by uvicorn, the web server)")
BUSY = CloseCode(1013, "try_again_later", "CER_LIVE_SESSIONS live sessions are running already (0: this server takes none)")
TOO_SLOW = CloseCode(
    4000, "too_slow", "the client does not take its verdicts: CER_LIVE_MAX_PENDING of them wait to be sent, and no room comes for a second"
)
IDLE = CloseCode(
    4001, "idle", "nothing came from the client for CER_UPLOAD_TIMEOUT_S seconds before its end message (nor its token message)"
)

CLOSE_CODES = (NORMAL, UNSUPPORTED, BAD_MEDIA, UNAUTHORIZED, TOO_BIG, INTERNAL, RESTART, BUSY, TOO_SLOW, IDLE)


class Closing(Exception):
    """Ends a live session: the close frame's code, and its reason (the code's meaning unless said)."""

    def __init__(self, close: CloseCode, reason: str | None = None) -> None:
        super().__init__(reason or close.meaning)
        self.close = close
        self.reason = close_reason(reason or close.meaning)


def markdown_table() -> str:
    """The close codes as docs/service.md shows them."""
    rows = [f"| {close.code} | `{close.name}` | {close.meaning} |" for close in CLOSE_CODES]
    return "\n".join(["| code | name | when |", "| --- | --- | --- |", *rows])


def close_reason(text: str) -> str:
    """`text` cut to what a close frame carries, on a character's boundary."""
    encoded = text.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return text
    return encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


class TokenMessage(BaseModel):
    """The first message, from a client that cannot set the Authorization header (a browser)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["token"]
    token: str = Field(max_length=1024)


class EndMessage(BaseModel):
    """The stream is over: decide the last windows, send `end`, close."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["end"]


_CLIENT_MESSAGE: TypeAdapter[TokenMessage | EndMessage] = TypeAdapter(Annotated[TokenMessage | EndMessage, Field(discriminator="type")])


def client_message(text: str) -> TokenMessage | EndMessage | None:
    """The control message a text message is; None when it is none of them."""
    try:
        return _CLIENT_MESSAGE.validate_json(text)
    except ValidationError:
        return None
