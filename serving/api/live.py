"""The live WebSocket, /v1/live: media in, each window's verdict out as it is decided
(serving.live_session; the messages are cer.core.live_messages', the close codes
serving.live_protocol's). The Host and Origin are checked before the handshake
(serving.request_guard), the token after it."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from cer.serving.live_session import serve_live

router = APIRouter()


@router.websocket("/v1/live")
async def live(websocket: WebSocket) -> None:
    service = websocket.app.state.service
    await websocket.accept()
    await serve_live(websocket, service.settings, service.live)
