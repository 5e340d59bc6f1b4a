"""A live uvicorn server in a thread of the test process, with the tiny profile and a token."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from cer.serving.app import create_app
from cer.serving.client import Client, free_port
from cer.serving.http_protocol import JsonRefusalProtocol
from cer.serving.service import Service
from cer.serving.settings import Settings

TOKEN = "serving-tests-token-0123456789"
# Small limits, so that the tests reach each of them cheaply.
LIMITS = {"concurrency": 2, "max_queue": 4, "max_upload_bytes": 3 * 2**20, "max_duration_s": 20.0, "max_uploads": 8}


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll `check` until it is true; the seconds it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s} s"
        time.sleep(0.1)
    return time.monotonic() - started


@dataclass
class RunningServer:
    url: str
    settings: Settings

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(self, token: str | None = TOKEN) -> Client:
        return Client(self.url, token)

    def job_folders(self) -> set[str]:
        return {entry.name for entry in (self.settings.data_dir / "jobs").iterdir()}


@contextmanager
def threaded_server(
    settings: Settings, startup_s: float = 60.0, service: Service | None = None, listener: socket.socket | None = None
) -> Iterator[RunningServer]:
    """`service`: one the test opened itself, to reach into it (the server closes it);
    `listener`: a socket bound on 127.0.0.1 to serve on, set up by the test."""
    port = listener.getsockname()[1] if listener is not None else free_port()
    config = uvicorn.Config(create_app(settings, service), host="127.0.0.1", port=port, http=JsonRefusalProtocol, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener] if listener is not None else None}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(60)
