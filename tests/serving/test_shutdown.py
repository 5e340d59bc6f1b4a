"""`cer serve` stops cleanly: SIGTERM (a service manager) and SIGINT (Ctrl-C) end it after a
graceful shutdown, without a traceback, with the in-process engine and with Ray."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cer.cli import SHUTDOWN_GRACE_S
from cer.serving.client import Client, local_server

ONE_EXPERT = Path(__file__).with_name("one_expert.yaml")
STOP_S = 120  # the workers get 30 s to stop; far more than a clean stop needs
# How the process ends: by the signal it got, as uvicorn re-raises it after shutting down
# (SIGINT's KeyboardInterrupt is answered by `cer: interrupted` and exit code 130, or by asyncio).
ENDINGS = {signal.SIGTERM: {-signal.SIGTERM}, signal.SIGINT: {0, 130, -signal.SIGINT}}


def stop_and_read(data_dir: Path, profile: str, sig: signal.Signals, jobs_on: Path | None = None) -> tuple[int, str]:
    """Start `cer serve`, wait until its pipelines are loaded (and, given a video, until two
    jobs on it are done), send `sig`: its exit code and output."""
    with local_server(data_dir, profile, {"CER_CONCURRENCY": "2"}) as server, Client(server.url) as api:
        ready = api.wait_ready()
        if jobs_on is not None:
            assert ready["engine"] == "ray"
            ids = [api.submit(jobs_on).json()["id"] for _ in range(2)]
            assert [api.wait(job_id)["status"] for job_id in ids] == ["done", "done"]
        server.process.send_signal(sig)
        code = server.process.wait(STOP_S)
    return code, server.log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_without_a_traceback(tmp_path: Path, sig: signal.Signals) -> None:
    code, output = stop_and_read(tmp_path, str(ONE_EXPERT), sig)
    assert "Traceback" not in output, output
    assert "Application shutdown complete" in output, output
    assert code in ENDINGS[sig], output


@pytest.mark.slow
def test_a_ray_server_runs_jobs_on_its_actors_and_stops_on_sigterm_without_a_traceback(tmp_path: Path, silent_clip: Path) -> None:
    """`cer serve` with the Ray engine, as a process of its own: two workers' jobs run on the
    expert actors, then SIGTERM ends it by the signal, not by Ray's own handler."""
    profile = tmp_path / "one_expert_ray.yaml"
    profile.write_text(f"extends: {ONE_EXPERT}\nexecution: {{engine: ray}}\n")
    code, output = stop_and_read(tmp_path / "serve", str(profile), signal.SIGTERM, jobs_on=silent_clip)
    assert "Traceback" not in output and "core worker" not in output, output
    assert "Application shutdown complete" in output, output
    assert code == -signal.SIGTERM, output  # not Ray's own SIGTERM handler's exit code (15)


@pytest.mark.slow
def test_sigterm_is_not_held_by_an_upload_that_stays_open(tmp_path: Path) -> None:
    """A client trickling an upload (issue 21, item 3) gets SHUTDOWN_GRACE_S, then the server ends."""
    with local_server(tmp_path, str(ONE_EXPERT)) as server, Client(server.url) as api:
        api.wait_ready()
        url = urlsplit(server.url)
        head = (f"POST /v1/jobs HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: 100000\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n")  # fmt: skip
        with socket.create_connection((url.hostname, url.port)) as upload:
            upload.sendall(head.encode())
            time.sleep(1)  # the upload is being received
            sent = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = server.process.wait(SHUTDOWN_GRACE_S + 30)
            waited_s = time.monotonic() - sent
    assert code == -signal.SIGTERM and waited_s < SHUTDOWN_GRACE_S + 30
