"""One live session over the WebSocket /v1/live, once the handshake is accepted: the token,
a slot, then three tasks on the event loop until one of them ends the session:

- intake: the client's media (binary messages) into the analysis process's standard input,
  waiting while its pipe is full: a client that sends faster than the analysis reads is held
  back by the socket itself, and nothing piles up here;
- outlet: the process's messages into a queue of at most CER_LIVE_MAX_PENDING, waiting a
  second at most for room: a client that does not read its verdicts is closed (4000), not
  buffered for without end;
- sender: the queue, in order, to the client.

Whatever ends the session (the end of the stream, bad media, the client gone, the server
stopping), the process is killed and waited for, and the slot given back, before the close
frame is sent. The codes are serving.live_protocol's table.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from cer.core.live_messages import LiveEnd, LiveError
from cer.serving.live_child import ChildFault, LiveChild
from cer.serving.live_protocol import (
    BAD_MEDIA,
    IDLE,
    INTERNAL,
    NORMAL,
    TOO_BIG,
    TOO_SLOW,
    UNAUTHORIZED,
    UNSUPPORTED,
    Closing,
    EndMessage,
    TokenMessage,
    client_message,
)
from cer.serving.live_slots import LiveSlots
from cer.serving.settings import Settings

log = logging.getLogger("cer.serving")

ROOM_WAIT_S = 1.0  # how long a verdict waits for room in a full queue before the client counts as too slow
# How long the close frame may wait to be sent: a client that reads nothing holds it back
# behind the verdicts it has not read; after this the connection is left to the web server.
CLOSE_WAIT_S = 10.0


class ClientGone(Exception):
    """The client closed the connection, or it broke: nobody is left to tell anything."""


async def serve_live(websocket: WebSocket, settings: Settings, slots: LiveSlots) -> None:
    """The session on an accepted `websocket`, to its close."""
    try:
        await _authenticate(websocket, settings)
        with slots.hold():
            await _analyse(websocket, settings)
        ending = Closing(NORMAL, "the stream ended")
    except Closing as closing:
        ending = closing
    except ClientGone:
        return
    except Exception:  # a bug: the traceback to the log, a clear close to the client
        log.exception("cer serve: a live session failed")
        ending = Closing(INTERNAL)
    try:
        await asyncio.wait_for(websocket.close(ending.close.code, ending.reason), CLOSE_WAIT_S)
    except (asyncio.TimeoutError, WebSocketDisconnect):
        log.info("cer serve: a live session's client took no close frame (%s)", ending.close.name)


async def _authenticate(websocket: WebSocket, settings: Settings) -> None:
    """Closing (1008) unless the client has the server's token: in the Authorization header
    (scripts), else in a first message `{"type": "token", "token": ...}` (browsers)."""
    if settings.token is None:
        return
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not settings.token_matches(credentials.strip()):
            raise Closing(UNAUTHORIZED, "a wrong token in the Authorization header")
        return
    message = await _receive(websocket, settings.upload_timeout_s, "no token message")
    text = message.get("text")
    first = client_message(text) if isinstance(text, str) else None
    if not isinstance(first, TokenMessage):
        raise Closing(UNAUTHORIZED, 'this server wants its token first: {"type": "token", "token": ...} or an Authorization header')
    if not settings.token_matches(first.token):
        raise Closing(UNAUTHORIZED, "a wrong token")


async def _analyse(websocket: WebSocket, settings: Settings) -> None:
    """Run the analysis process on the client's stream until it has ended and every message
    is sent; Closing or ClientGone when the session ends otherwise."""
    try:
        child = await LiveChild.start(settings)
    except OSError as exc:
        log.warning("cer serve: the live analysis could not start: %s", exc)
        raise Closing(INTERNAL, "the analysis could not start on the server; its log has the details") from None
    pending: asyncio.Queue[str | Closing] = asyncio.Queue(settings.live_max_pending)
    tasks = [
        asyncio.create_task(_intake(websocket, child, settings)),
        asyncio.create_task(_outlet(child, pending)),
        asyncio.create_task(_send(websocket, pending)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failures = [error for task in done if (error := task.exception()) is not None]
        if failures:
            raise _first_ending(failures)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await child.stop()


def _first_ending(failures: list[BaseException]) -> BaseException:
    """What ended the session, of what the tasks raised: a Closing before the client's going
    (a close frame may still reach it), anything else (a bug) as it is."""
    closings = [failure for failure in failures if isinstance(failure, Closing)]
    bugs = [failure for failure in failures if not isinstance(failure, (Closing, ClientGone))]
    return (closings or bugs or failures)[0]


async def _receive(websocket: WebSocket, timeout_s: float, missing: str) -> Message:
    try:
        message = await asyncio.wait_for(websocket.receive(), timeout_s)
    except asyncio.TimeoutError:
        raise Closing(IDLE, f"{missing} within {timeout_s:g} s") from None
    if message["type"] == "websocket.disconnect":
        raise ClientGone
    return message


async def _intake(websocket: WebSocket, child: LiveChild, settings: Settings) -> None:
    """The client's messages: media to the process until the end message."""
    first = True
    while True:
        message = await _receive(websocket, settings.upload_timeout_s, "no media")
        data, text = message.get("bytes"), message.get("text")
        if isinstance(data, bytes):
            if len(data) > settings.live_max_message_bytes:
                raise Closing(TOO_BIG, f"a message of {len(data)} bytes; at most {settings.live_max_message_bytes} are taken")
            if not await child.feed(data):
                return  # the process reads no more: what it says last ends the session
        else:
            control = client_message(text) if isinstance(text, str) else None
            if isinstance(control, EndMessage):
                child.end_input()
                return
            # a token message first, where the server wants none or had it in the header, changes nothing
            if not (first and isinstance(control, TokenMessage)):
                raise Closing(UNSUPPORTED, 'a text message is {"type": "end"}, or {"type": "token", ...} first; media are binary')
        first = False


async def _outlet(child: LiveChild, pending: asyncio.Queue[str | Closing]) -> None:
    """The process's messages into `pending`, then what ends the session."""
    ending: Closing | None = None
    try:
        async for line, message in child.messages():
            await _put(pending, line)
            if isinstance(message, LiveError):
                ending = Closing(BAD_MEDIA, message.message)
            elif isinstance(message, LiveEnd):
                ending = Closing(NORMAL)
    except ChildFault as exc:
        log.warning("cer serve: a live session's analysis said %s", exc)
        ending = Closing(INTERNAL)
    if ending is None:
        code = await child.finish()
        log.warning("cer serve: a live session's analysis stopped (exit code %s):\n%s", code, child.stderr_tail())
        ending = Closing(INTERNAL, f"the analysis stopped on the server (exit code {code}); its log has the details")
    await _put(pending, ending)  # after the messages before it


async def _put(pending: asyncio.Queue[str | Closing], item: str | Closing) -> None:
    try:
        await asyncio.wait_for(pending.put(item), ROOM_WAIT_S)
    except asyncio.TimeoutError:
        raise Closing(TOO_SLOW, f"{pending.maxsize} verdicts were waiting for the client to read them") from None


async def _send(websocket: WebSocket, pending: asyncio.Queue[str | Closing]) -> None:
    """The queue to the client, in order, until what ends the session (raised, unless it is the
    stream's end)."""
    while True:
        item = await pending.get()
        if isinstance(item, Closing):
            if item.close is NORMAL:
                return
            raise item
        try:
            await websocket.send_text(item)
        except WebSocketDisconnect:
            raise ClientGone from None
