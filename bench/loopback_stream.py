"""Files served over HTTP on 127.0.0.1 as a live stream arrives: each one's bytes spread evenly
over its playing time, so that a reader gets its media in about real time and no sooner. What
`cer live` reads in the tests and in bench/live_latency.py."""

from __future__ import annotations

import heapq
import http.server
import io
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import av

PIECES_PER_S = 20  # how finely the bytes are spread over time (pieces a second)


@dataclass(frozen=True)
class Served:
    content: bytes
    seconds: float  # the time its bytes are spread over; 0: all at once
    media_type: str = "video/x-matroska"


class LoopbackStream:
    """An HTTP server in a thread of its own; `url(name)` is where a file is served, and
    `started[name]` and `finished[name]` the time.monotonic() at which its first and last bytes
    were last sent."""

    def __init__(self, files: Mapping[str, Served]) -> None:
        self.files = dict(files)
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                if name not in served.files:
                    self.send_error(404)
                    return
                file = served.files[name]
                self.send_response(200)
                self.send_header("Content-Type", file.media_type)
                self.send_header("Content-Length", str(len(file.content)))
                self.end_headers()
                pieces = max(1, round(file.seconds * PIECES_PER_S))
                size = -(-len(file.content) // pieces)  # ceiling division: `pieces` pieces at most
                started = served.started[name] = time.monotonic()
                try:
                    for number, first in enumerate(range(0, len(file.content), size)):
                        # each piece leaves when its share of the playing time has come
                        time.sleep(max(0.0, started + number * file.seconds / pieces - time.monotonic()))
                        self.wfile.write(file.content[first : first + size])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return  # the reader went away (interrupted): nothing more to send
                served.finished[name] = time.monotonic()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: a request is no news."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-stream", daemon=True)

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{name}"

    def __enter__(self) -> LoopbackStream:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def as_matroska(video: Path) -> bytes:
    """The video's first video and audio streams remuxed (not re-encoded) into Matroska, which
    a reader can play from the first byte on (an mp4 or a mov may keep its index at the end),
    their packets interleaved by time as a live stream sends them (a file may hold seconds of
    one stream before the other's)."""
    buffer = io.BytesIO()
    with av.open(str(video)) as source, av.open(buffer, "w", format="matroska") as target:
        streams = [*source.streams.video[:1], *source.streams.audio[:1]]
        copies = {stream.index: target.add_stream_from_template(stream) for stream in streams}
        timed: dict[int, list[tuple[float, int, av.Packet]]] = {stream.index: [] for stream in streams}
        for order, packet in enumerate(source.demux(*streams)):
            if not packet.size:  # the demuxer's closing empty packets
                continue
            queue = timed[packet.stream.index]
            # each stream keeps its own order (decoding order); a packet without a decoding
            # time (Matroska stores none for some) goes with the one before it
            at = float(packet.dts * packet.time_base) if packet.dts is not None and packet.time_base else (queue[-1][0] if queue else 0.0)
            queue.append((at, order, packet))
        for _, _, packet in heapq.merge(*timed.values(), key=lambda entry: entry[:2]):
            packet.stream = copies[packet.stream.index]
            target.mux(packet)
    return buffer.getvalue()
