"""The live WebSocket, /v1/live, on a server of its own (started here, on a socket with a small
send buffer, so that a client that stops reading is felt within a few hundred windows), whose
sessions run the tiny profile's static-face expert alone: each session is a `cer live` process,
and this keeps its start and its windows quick.

Media sent in pieces: verdicts arrive while the stream is still open, in result.json's window
shape; garbage, a client that stops reading, one session too many, a missing or wrong token, a
message too large each end in their close code; a client gone takes its analysis process
along; a foreign Origin or Host gets no socket at all. Then the page's Live tab in chromium,
on its fake camera showing a face."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from bench.loopback_stream import as_matroska
from bench.people_clips import portrait
from cer.core.live_messages import LIVE_MESSAGE, LiveEnd, LiveStart, LiveWindow
from cer.pipeline.demo import write_clip
from cer.serving.listener import listen
from cer.serving.live_protocol import BAD_MEDIA, BUSY, NORMAL, TOO_BIG, TOO_SLOW, UNAUTHORIZED, markdown_table
from cer.serving.service import Service
from cer.serving.settings import Settings
from tests.cli_process import profile_file
from tests.serving.browser import FAKE_MEDIA_ARGS, chromium_page
from tests.serving.live import TOKEN, RunningServer, threaded_server, wait_until

REPO = Path(__file__).resolve().parents[2]
# The tiny profile's static-face expert alone, in the session's process, on a frame every 2 s
# (its full-size network on the 20 faces of 5 a second takes seconds a window on a small
# machine; 2 a window do), never skipped for lateness (the tests send faster than real time)
ONE_EXPERT = """extends: tiny
media: {sample_fps: 0.5}
live: {max_latency_s: 600}
execution: {engine: inprocess}
experts: {dynamic_face: {enabled: false}, audio: {enabled: false}, text: {enabled: false},
          clip_labels: {enabled: false}, scene: {enabled: false}}
"""
MAX_PENDING = 2
MAX_MESSAGE_BYTES = 64 * 1024
SMALL_BUFFER = 4096  # bytes of the kernel's socket buffers for the client that stops reading (the least Linux grants is about this)
END = json.dumps({"type": "end"})
CLIP_S = 6.0  # windows from 0 and 2 s
SESSION_TIMEOUT_S = 60


def face_frame() -> np.ndarray:
    """320 x 240, the packaged face in the middle, large enough for the tiny profile's Haar cascade."""
    frame = np.full((240, 320, 3), 110, dtype=np.uint8)
    frame[20:220, 60:260] = portrait(200)
    return frame


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Grey noise, where no face is found (each window is decided at once, without the expert's
    network; the face is the browser test's): short, 6 s at 5 frames a second, and long, 10
    minutes at one frame a second (about 300 windows); both as Matroska."""
    folder = tmp_path_factory.mktemp("live-clips")
    rng = np.random.default_rng(0)
    noise = [rng.integers(80, 120, size=(48, 64, 3), dtype=np.uint8) for _ in range(4)]
    return {
        "short": as_matroska(write_clip(folder / "short.mp4", lambda t: noise[int(t * 5) % 4], CLIP_S, fps=5)),
        "long": as_matroska(write_clip(folder / "long.mp4", lambda t: noise[int(t) % 4], 600.0, fps=1)),
    }


@dataclass
class LiveServer:
    running: RunningServer
    service: Service  # to see its sessions' slots


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    profile = profile_file(tmp_path_factory, ONE_EXPERT, "one-expert")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("live-serve"),
        profile=str(profile),
        api_token=TOKEN,
        concurrency=1,
        live_sessions=1,
        live_max_pending=MAX_PENDING,
        live_max_message_bytes=MAX_MESSAGE_BYTES,
    )
    listener = listen("127.0.0.1", 0)
    # accepted connections inherit it: the server's side of a connection holds a few kilobytes
    # the client has not read, not the megabytes Linux grants on loopback
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    service = Service.open(settings)
    with threaded_server(settings, service=service, listener=listener) as running:
        yield LiveServer(running, service)


@pytest.fixture
def live(opened: LiveServer) -> Iterator[LiveServer]:
    """The live server; every session of the test has ended (its slot given back) when the test does."""
    yield opened
    wait_until(lambda: opened.service.live.in_use == 0, SESSION_TIMEOUT_S, "the sessions end")


def socket_url(server: RunningServer) -> str:
    return server.url.replace("http://", "ws://") + "/v1/live"


def session(server: RunningServer, token: str | None = TOKEN, **options: Any) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(socket_url(server), additional_headers=headers, open_timeout=SESSION_TIMEOUT_S, **options)


def send_in_pieces(connection: ClientConnection, data: bytes, piece: int = 8192) -> None:
    for start in range(0, len(data), piece):
        connection.send(data[start : start + piece])


def messages_until_closed(connection: ClientConnection) -> tuple[list[Any], Close]:
    """Every message to the close, and the close frame."""
    received = []
    try:
        while True:
            received.append(LIVE_MESSAGE.validate_json(connection.recv(timeout=SESSION_TIMEOUT_S)))
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the server closed without a close frame"
        return received, closed.rcvd


def test_verdicts_arrive_while_the_stream_is_open(live, clips):
    with session(live.running) as connection:
        send_in_pieces(connection, clips["short"])
        # no end yet: the stream is open, and the windows it has reached the end of are decided
        start = LIVE_MESSAGE.validate_json(connection.recv(timeout=SESSION_TIMEOUT_S))
        first = LIVE_MESSAGE.validate_json(connection.recv(timeout=SESSION_TIMEOUT_S))
        connection.send(END)
        rest, closed = messages_until_closed(connection)
    assert isinstance(start, LiveStart) and start.experts == ["static_face"]
    assert isinstance(first, LiveWindow) and (first.window.start_s, first.window.end_s) == (0.0, 4.0)
    windows = [first, *(message for message in rest if isinstance(message, LiveWindow))]
    assert [w.window.start_s for w in windows] == [0.0, 2.0]
    assert closed.code == NORMAL.code and isinstance(rest[-1], LiveEnd)
    assert start.labels.compound and len(start.labels.basic) == 8  # what the verdicts name
    for message in windows:
        # no face: the expert absent with its reason, no decision, and the window's latency
        assert message.window.experts["static_face"].reason == "no face in window" and message.window.decision.kind == "none"
        assert message.window.latency_s is not None and message.persons == []
    summary = rest[-1].summary
    assert summary is not None and summary.n_windows == 2


def test_garbage_is_closed_as_bad_media(live):
    with session(live.running) as connection:
        send_in_pieces(connection, np.random.default_rng(1).bytes(20_000))
        connection.send(END)
        received, closed = messages_until_closed(connection)
    assert closed.code == BAD_MEDIA.code and "cannot open it as a live source" in closed.reason
    assert [message.type for message in received] == ["error"] and received[0].problem == "unreadable"


def test_a_client_that_stops_reading_is_closed_as_too_slow(live, clips):
    """The client sends its whole stream and reads nothing while its 300 verdicts come: the
    server gives up on it (its slot comes back), then the client reads what was sent to it."""
    client = StalledClient(live.running)
    client.send(clips["long"], END)
    wait_until(lambda: live.service.live.in_use == 0, SESSION_TIMEOUT_S, "the server gives the session up")
    closed = client.read_to_close()
    assert closed.code == TOO_SLOW.code and f"{MAX_PENDING} verdicts were waiting" in closed.reason


def test_one_session_too_many_is_told_to_try_again_later_and_a_client_gone_takes_its_process_along(live):
    with session(live.running):  # the first session: its analysis starts, waiting for media
        wait_until(lambda: len(analysis_processes()) == 1, SESSION_TIMEOUT_S, "the first session's analysis starts")
        with session(live.running) as second:
            _, closed = messages_until_closed(second)
        assert closed.code == BUSY.code and "CER_LIVE_SESSIONS" in closed.reason
        assert live.service.live.in_use == 1
    # the first client has gone without a word: its analysis is killed and waited for (no zombie), its slot comes back
    wait_until(lambda: live.service.live.in_use == 0, SESSION_TIMEOUT_S, "the first session ends")
    assert analysis_processes() == []


def analysis_processes() -> list[str]:
    """The `cer live` processes this process has started (the server's sessions), running or
    ended and not waited for (a zombie, whose command line is gone), as /proc shows them."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat, command = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except (OSError, ValueError):  # not a process, or one that has ended meanwhile
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == os.getpid() and (state == "Z" or b"\0live\0-\0" in command):
            found.append(f"{entry.name} {state} {command!r}")
    return found


def test_the_token_is_wanted(live, clips):
    server = live.running
    with session(server, token=None) as connection:  # media first, where the token message should be
        connection.send(clips["short"][:1000])
        _, closed = messages_until_closed(connection)
    assert closed.code == UNAUTHORIZED.code and '{"type": "token"' in closed.reason
    with session(server, token=None) as connection:
        connection.send(json.dumps({"type": "token", "token": "not-the-token-0123456789"}))
        assert messages_until_closed(connection)[1].code == UNAUTHORIZED.code
    with session(server, token="not-the-token-0123456789") as connection:
        assert messages_until_closed(connection)[1].code == UNAUTHORIZED.code


def test_a_message_too_large_is_refused(live):
    with session(live.running) as connection:
        connection.send(bytes(MAX_MESSAGE_BYTES + 1))
        _, closed = messages_until_closed(connection)
    assert closed.code == TOO_BIG.code and str(MAX_MESSAGE_BYTES) in closed.reason


def test_another_site_s_page_gets_no_socket(live):
    with pytest.raises(InvalidStatus) as refused:
        session(live.running, origin="http://evil.example")
    response = refused.value.response
    assert response.status_code == 403 and json.loads(response.body)["error"]["code"] == "cross_origin"
    port = live.running.port
    with pytest.raises(InvalidStatus) as refused:  # a name that is not the server's (DNS rebinding)
        connect(f"ws://rebound.example:{port}/v1/live", sock=socket.create_connection(("127.0.0.1", port)))
    assert json.loads(refused.value.response.body)["error"]["code"] == "bad_host"
    with session(live.running, token=None, origin=live.running.url) as connection:  # the page's own Origin is let through
        assert connection.response is not None and connection.response.status_code == 101


def test_the_documents_show_the_close_codes() -> None:
    text = (REPO / "docs/service.md").read_text(encoding="utf-8")
    assert markdown_table() in text, "docs/service.md must hold cer.serving.live_protocol.markdown_table() verbatim"


@pytest.mark.slow
def test_the_live_tab_draws_the_bands_of_the_fake_camera(live, tmp_path):
    """Chromium's fake camera shows the face (a Y4M file it loops), its fake microphone beeps;
    the page streams them, draws a band per window as the verdicts come, and ends the session
    when stopped."""
    camera = write_y4m(tmp_path / "face.y4m", face_frame(), fps=10, seconds=2)
    with chromium_page(live.running.url, TOKEN, [*FAKE_MEDIA_ARGS, f"--use-file-for-fake-video-capture={camera}"]) as page:
        page.click("#tab-live")
        assert page.locator("#video-tab").is_hidden()
        page.click("#live-start")
        page.wait_for_selector("#live-bands .band", timeout=SESSION_TIMEOUT_S * 1000)  # while the camera streams
        page.click("#live-stop")
        page.wait_for_function("() => !document.getElementById('live-start').disabled", timeout=SESSION_TIMEOUT_S * 1000)  # closed
        assert page.locator("#live-status").text_content().startswith("the stream ended: ")
        bands = page.locator("#live-bands .band")
        titles = bands.evaluate_all("(bands) => bands.map((band) => band.title)")
        assert titles[0].startswith("0.0\u20134.0 s: ")  # an en dash, as the page writes a span
        assert all(text and text != "none" for text in bands.all_text_contents()), "the face is seen: each band names a label"


def write_y4m(path: Path, frame: np.ndarray, fps: int, seconds: int) -> Path:
    """A raw video (YUV4MPEG2) of `frame` held still: what chromium's fake camera plays."""
    with av.open(str(path), "w", format="yuv4mpegpipe") as container:
        stream = container.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
        for _ in range(fps * seconds):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


class StalledClient:
    """A WebSocket client on a socket with a small receive buffer, that reads nothing until
    told to (websockets' own clients read in a thread of their own, whatever the caller does)."""

    def __init__(self, server: RunningServer) -> None:
        self.protocol = ClientProtocol(parse_uri(socket_url(server)))
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        self.socket.settimeout(SESSION_TIMEOUT_S)
        self.socket.connect(("127.0.0.1", server.port))
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {TOKEN}"
        self.protocol.send_request(request)
        self._flush()
        while not any(isinstance(event, Response) for event in self.protocol.events_received()):
            self.protocol.receive_data(self.socket.recv(4096))

    def send(self, media: bytes, end: str) -> None:
        for start in range(0, len(media), 8192):
            self.protocol.send_binary(media[start : start + 8192])
            self._flush()
        self.protocol.send_text(end.encode())
        self._flush()

    def read_to_close(self) -> Close:
        while self.protocol.close_rcvd is None:
            data = self.socket.recv(65536)
            assert data, "the connection ended without a close frame"
            self.protocol.receive_data(data)
        self.socket.close()
        return self.protocol.close_rcvd

    def _flush(self) -> None:
        self.socket.sendall(b"".join(self.protocol.data_to_send()))
