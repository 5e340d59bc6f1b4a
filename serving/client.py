"""A small Python client of the HTTP API, and `local_server`, which runs `cer serve` as a child
process on a free port. The tests and bench/serving.py use both; so can any script."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

FINISHED = ("done", "failed")


class Client:
    def __init__(self, url: str, token: str | None = None, timeout_s: float = 120.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout_s)

    def submit(self, video: Path, **fields: str) -> httpx.Response:
        """POST the video; the response as it came (202, or a 4xx to look at)."""
        with open(video, "rb") as handle:
            return self.http.post("/v1/jobs", files={"file": (video.name, handle, "application/octet-stream")}, data=fields)

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/jobs/{job_id}")
        response.raise_for_status()
        return response.json()

    def wait(self, job_id: str, timeout_s: float = 600.0, poll_s: float = 0.2) -> dict[str, Any]:
        """Poll until the job is done or failed; its last state."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.job(job_id)
            if job["status"] in FINISHED:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s:.0f} s")
            time.sleep(poll_s)

    def wait_ready(self, timeout_s: float = 600.0) -> dict[str, Any]:
        """Wait until /readyz says every pipeline is loaded."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.http.get("/readyz")
            if response.status_code == 200:
                return response.json()
            if response.json().get("error") or time.monotonic() > deadline:
                raise RuntimeError(f"the server is not ready: {response.text}")
            time.sleep(0.5)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path  # the server's output, appended to across restarts


@contextmanager
def local_server(
    data_dir: Path, profile: str, env: Mapping[str, str] | None = None, port: int | None = None, startup_s: float = 180.0
) -> Iterator[ServerProcess]:
    """`cer serve` on 127.0.0.1 in a child process, up (answering /healthz) inside the block;
    stopped with SIGTERM on the way out, unless the block ended it already."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    command = [sys.executable, "-m", "cer", "serve", "--port", str(port), "--profile", profile]
    command += ["--data-dir", str(data_dir)]
    with open(log, "ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_healthy(server, startup_s)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(server: ServerProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"cer serve exited with {server.process.returncode}:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"cer serve did not answer within {timeout_s:.0f} s:\n{server.log.read_text()[-3000:]}")
