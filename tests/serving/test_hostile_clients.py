"""What a hostile or careless client tries: another Host (DNS rebinding), another site's
Origin (cross-site forms), FastAPI's own 404 and 422 with a large input, uploads that stall
half-way, more uploads at once than the server takes, and CER_MAX_QUEUE=0 (no waiting line:
a job is taken only when a worker is free)."""

from __future__ import annotations

import http.client
import json
import logging
import select
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from cer.serving.client import Client
from cer.serving.settings import Settings
from tests.serving.live import RunningServer, threaded_server

UPLOAD_TIMEOUT_S = 2.0
MIN_RATE = 1000.0  # bytes/s an upload must average after its first UPLOAD_TIMEOUT_S


# --- Host and Origin -------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/jobs"), ("GET", "/"), ("POST", "/v1/jobs")])
def test_another_host_is_refused(client: Client, method: str, path: str) -> None:
    response = client.http.request(method, path, headers={"Host": "attacker.example"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_host"


def test_loopback_names_are_answered_and_probes_answer_any_host(server: RunningServer, client: Client) -> None:
    port = urlsplit(server.url).port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert client.http.get("/v1/jobs", headers={"Host": host}).status_code == 200, host
    assert client.http.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200


def test_a_server_answers_the_hosts_it_is_given(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, profile="tiny", concurrency=1, allowed_hosts="cer.example")
    with threaded_server(settings) as server, server.client() as api:
        assert api.http.get("/v1/jobs", headers={"Host": "cer.example:8000"}).status_code == 200
        assert api.http.get("/v1/jobs").status_code == 400  # 127.0.0.1 is no longer among them


@pytest.mark.parametrize("origin", ["http://attacker.example", "null", "http://localhost:1"])
def test_a_cross_site_upload_or_delete_is_refused(server: RunningServer, client: Client, silent_clip: Path, origin: str) -> None:
    before = server.job_folders()
    with open(silent_clip, "rb") as video:
        upload = client.http.post("/v1/jobs", files={"file": ("clip.mp4", video)}, headers={"Origin": origin})
    assert upload.status_code == 403 and upload.json()["error"]["code"] == "cross_origin"
    delete = client.http.delete(f"/v1/jobs/{uuid.uuid4()}", headers={"Origin": origin})
    assert delete.status_code == 403
    assert server.job_folders() == before
    assert client.http.get("/v1/jobs", headers={"Origin": origin}).status_code == 200  # reading is not a change


def test_the_servers_own_page_may_upload(server: RunningServer, client: Client, silent_clip: Path) -> None:
    with open(silent_clip, "rb") as video:
        upload = client.http.post("/v1/jobs", files={"file": ("clip.mp4", video)}, headers={"Origin": server.url})
    assert upload.status_code == 202, upload.text
    assert client.wait(upload.json()["id"])["status"] == "done"


# --- FastAPI's own answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/static/nothing.js", 404, "not_found"),
        ("POST", "/healthz", 405, "method_not_allowed"),
        ("GET", "/v1/jobs/not-a-job-id", 422, "invalid_request"),
        ("GET", "/v1/jobs?limit=" + "9" * 10_000, 422, "invalid_request"),
        ("GET", "/v1/jobs?offset=" + "x" * 10_000, 422, "invalid_request"),
    ],
)
def test_every_error_has_the_documented_shape(client: Client, method: str, path: str, status: int, code: str) -> None:
    response = client.http.request(method, path)
    assert response.status_code == status
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == code
    assert len(response.content) < 1000  # the large input is not echoed


@pytest.mark.parametrize(
    "request_head",
    [
        b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12abc\r\n\r\n",
        b"GET / HTTP/1.1 nonsense\r\n\r\n",
    ],
)
def test_a_request_that_cannot_be_parsed_is_refused_in_json(server: RunningServer, request_head: bytes) -> None:
    """The HTTP parser refuses these before the app sees them; the answer still has the shape."""
    url = urlsplit(server.url)
    connection = socket.create_connection((url.hostname, url.port))
    connection.sendall(request_head)
    status, body = answer(connection, timeout_s=10)
    assert status == 400 and body["error"]["code"] == "malformed_request", body


# --- stalled and concurrent uploads, and CER_MAX_QUEUE=0 ------------------------------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One worker and no waiting line; uploads time out fast; three at once, 2 MiB in all."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("serve"), profile="tiny", concurrency=1, max_queue=0, upload_timeout_s=UPLOAD_TIMEOUT_S,
        max_uploads=3, max_upload_bytes=2**20, max_upload_bytes_in_flight=2 * 2**20, upload_min_bytes_per_s=MIN_RATE,
    )  # fmt: skip
    with threaded_server(settings) as running, running.client() as api:
        api.wait_ready()
        yield running


def stalled_upload(server: RunningServer, announced_bytes: int, sent_bytes: int) -> socket.socket:
    """An upload announcing `announced_bytes` of body that sends `sent_bytes` of them, then waits."""
    url = urlsplit(server.url)
    boundary = "stall"
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {announced_bytes}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n")  # fmt: skip
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="stall.mp4"\r\n\r\n'.encode()
    connection = socket.create_connection((url.hostname, url.port))
    connection.sendall(head.encode() + (part + b"\0" * sent_bytes)[:sent_bytes])
    return connection


def answer(connection: socket.socket, timeout_s: float) -> tuple[int, dict[str, object]]:
    """The status and JSON body the server answers on `connection`, then closes it."""
    connection.settimeout(timeout_s)
    response = http.client.HTTPResponse(connection)
    try:
        response.begin()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_an_upload_trickling_in_is_dropped(strict: RunningServer) -> None:
    """A byte now and then is never a stall, but at that rate the upload holds its slot for
    ever: once its first UPLOAD_TIMEOUT_S are over, an average below MIN_RATE drops it."""
    before = strict.job_folders()
    connection = stalled_upload(strict, announced_bytes=100_000, sent_bytes=100)
    started = time.monotonic()
    while time.monotonic() - started < UPLOAD_TIMEOUT_S + 10:
        if select.select([connection], [], [], 0.25)[0]:  # the server has answered
            break
        connection.sendall(b"\0")
    status, body = answer(connection, timeout_s=10)
    assert (status, body["error"]["code"]) == (408, "upload_too_slow")  # type: ignore[index]
    assert time.monotonic() - started < UPLOAD_TIMEOUT_S + 5
    assert strict.job_folders() == before


def test_a_stalled_upload_is_dropped(strict: RunningServer) -> None:
    before = strict.job_folders()
    started = time.monotonic()
    status, body = answer(stalled_upload(strict, announced_bytes=100_000, sent_bytes=50_000), timeout_s=30)
    assert (status, body["error"]["code"]) == (408, "upload_timeout")  # type: ignore[index]
    assert time.monotonic() - started < UPLOAD_TIMEOUT_S + 5
    assert strict.job_folders() == before


@pytest.mark.parametrize(("stalled", "announced", "why"), [(3, 1000, "uploads are arriving"), (2, 2**20, "bytes")])
def test_uploads_beyond_the_limits_wait(strict: RunningServer, silent_clip: Path, stalled: int, announced: int, why: str) -> None:
    held = [stalled_upload(strict, announced, sent_bytes=500) for _ in range(stalled)]
    time.sleep(0.3)  # let the server take them in
    with strict.client() as api:
        refused = api.submit(silent_clip)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_uploads" and why in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) > 0
        assert [answer(connection, timeout_s=30)[0] for connection in held] == [408] * stalled
        accepted = api.submit(silent_clip)  # their slots are free again
        assert accepted.status_code == 202, accepted.text
        assert api.wait(accepted.json()["id"])["status"] == "done"


def test_no_waiting_line_takes_a_job_when_a_worker_is_free(strict: RunningServer, silent_clip: Path) -> None:
    with strict.client() as api:
        first = api.submit(silent_clip)
        assert first.status_code == 202, first.text  # an idle server takes it
        busy = api.submit(silent_clip)
        assert busy.status_code == 429 and busy.json()["error"]["code"] == "queue_full"
        assert api.wait(first.json()["id"])["status"] == "done"
        again = api.submit(silent_clip)
        assert again.status_code == 202 and api.wait(again.json()["id"])["status"] == "done"


def test_a_disconnect_mid_upload_leaves_nothing_and_one_log_line(strict: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    before = strict.job_folders()
    # uvicorn logs an app's exceptions, with their traceback, on a logger that does not propagate
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            stalled_upload(strict, announced_bytes=100_000, sent_bytes=50_000).close()
            time.sleep(UPLOAD_TIMEOUT_S + 1)
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    assert strict.job_folders() == before
    assert httpx.get(f"{strict.url}/healthz").status_code == 200
    assert "Traceback" not in caplog.text and not [record for record in caplog.records if record.exc_info]
    assert [record.getMessage() for record in caplog.records if "disconnected" in record.getMessage()] == [
        "cer serve: POST /v1/jobs: the client disconnected before the request ended"
    ]
