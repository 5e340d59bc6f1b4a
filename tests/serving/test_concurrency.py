"""Twenty uploads at once: each is accepted or told to come back later (429 with
Retry-After: the queue is full, or too many uploads are arriving), and every accepted job
finishes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.serving.live import RunningServer

UPLOADS = 20


def test_twenty_uploads_at_once(server: RunningServer, silent_clip: Path) -> None:
    start = threading.Barrier(UPLOADS)

    def upload(_: int) -> httpx.Response:
        with server.client() as api:
            start.wait()  # all at the same instant
            return api.submit(silent_clip)

    with ThreadPoolExecutor(UPLOADS) as pool:
        responses = list(pool.map(upload, range(UPLOADS)))

    assert {r.status_code for r in responses} <= {202, 429}, [r.text for r in responses if r.status_code not in (202, 429)]
    accepted = [r.json()["id"] for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 429]
    # the queue alone holds max_queue jobs; the workers take some off it while uploads arrive
    assert server.settings.max_queue <= len(accepted) < UPLOADS
    for response in refused:
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] in ("queue_full", "too_many_uploads")
    with server.client() as api:
        finished = [api.wait(job_id) for job_id in accepted]
    assert [job["status"] for job in finished] == ["done"] * len(accepted)
