"""The data folder's storage failing under a live server. The job store's writes fail as on a
full disk (injected into a real SQLite store) while jobs run: the workers outlive it,
/readyz says so, uploads get 507, and once the writes work again every job finishes, none lost.
Uploads onto a full or read-only disk (a real small tmpfs) get 507 / 503 in the API's error
shape and leave nothing behind."""

from __future__ import annotations

import errno
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from cer.pipeline.demo import write_clip
from cer.pipeline.outputs.folder import OutputFolderError, check_output_folder
from cer.serving import data_dir
from cer.serving.client import Client
from cer.serving.settings import Settings
from cer.serving.storage import describe, is_out_of_space, is_storage_failure
from cer.serving.store import JobStore
from cer.serving.worker import RETRY_MAX_S
from tests.serving.live import RunningServer, threaded_server, wait_until
from tests.serving.small_disk import small_disk

FULL = threading.Event()  # while set, every write of the store below fails


def sqlite_full() -> sqlite3.Error:
    """A genuine SQLITE_FULL, from an in-memory database allowed a single page."""
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA max_page_count = 1")
    try:
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (zeroblob(10000))")
    except sqlite3.Error as exc:
        return exc
    finally:
        db.close()
    raise AssertionError("SQLite stored 10 kB in one page")


class FullDiskStore(JobStore):
    """A real job store whose write transactions fail, as on a full disk, while FULL is set."""

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with super()._transaction() as db:
            if FULL.is_set():
                raise sqlite_full()
            yield db


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One worker, so that a second job waits while the first runs."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("serve"), profile="tiny", concurrency=1, max_duration_s=60.0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data_dir, "JobStore", FullDiskStore)
        with threaded_server(settings) as running:
            yield running


@pytest.fixture
def api(server: RunningServer) -> Iterator[Client]:
    with server.client() as client:
        client.wait_ready()
        yield client


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that the worker is still on it when the next upload arrives."""
    rng = np.random.default_rng(1)
    frame = lambda t: rng.integers(90, 110, size=(120, 160, 3), dtype=np.uint8)  # noqa: E731
    return write_clip(tmp_path_factory.mktemp("clips") / "long.mp4", frame, duration_s=30.0, fps=10)


def stored_states(server: RunningServer) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(server.settings.data_dir / data_dir.STORE_NAME) as db:
        return {job_id: (status, completions) for job_id, status, completions in db.execute("SELECT id, status, completions FROM jobs")}


def test_workers_outlive_a_full_disk(server: RunningServer, api: Client, long_clip: Path, silent_clip: Path) -> None:
    ids = [api.submit(clip).json()["id"] for clip in (long_clip, silent_clip)]
    FULL.set()
    try:
        # the running job's progress, its end and the next claim fail, over and over
        wait_until(lambda: api.http.get("/readyz").status_code == 503, 30, "readiness to fall")
        readiness = api.http.get("/readyz").json()
        assert readiness["storage_error"] == "database or disk is full" and not readiness["ready"]
        refused = api.submit(silent_clip)
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["code"] == "insufficient_storage" and int(refused.headers["retry-after"]) > 0
        time.sleep(2 * RETRY_MAX_S)  # long enough for the old workers to have died
        assert api.http.get("/readyz").json()["workers_alive"] == 1
    finally:
        FULL.clear()
    recovery_s = wait_until(lambda: api.http.get("/readyz").status_code == 200, RETRY_MAX_S + 5, "readiness to come back")
    print(f"ready again {recovery_s:.1f} s after the store's writes work again")

    assert [api.wait(job_id)["status"] for job_id in ids] == ["done", "done"]
    late = api.submit(silent_clip)
    assert late.status_code == 202 and api.wait(late.json()["id"])["status"] == "done"
    states = stored_states(server)
    assert {states[job_id] for job_id in [*ids, late.json()["id"]]} == {("done", 1)}  # none lost, none run twice


def test_a_failed_job_names_the_upload_not_the_server_path(server: RunningServer, api: Client, long_clip: Path, silent_clip: Path) -> None:
    first, second = (api.submit(clip).json()["id"] for clip in (long_clip, silent_clip))
    # the worker is on the first job; the second waits, and its video goes missing meanwhile
    assert api.job(second)["status"] == "queued"
    (server.settings.data_dir / "jobs" / second / "video").unlink()
    failed = api.wait(second)
    assert failed["status"] == "failed" and failed["error"] == "silent.mp4: file not found"
    assert api.wait(first)["status"] == "done"


def test_uploads_onto_a_full_or_read_only_disk(tmp_path: Path, silent_clip: Path) -> None:
    serve_dir = tmp_path / "serve"
    serve_dir.mkdir()
    with small_disk(tmp_path) as disk:
        (serve_dir / "jobs").symlink_to(disk.path)  # the job folders on the small disk, the store beside it
        settings = Settings(data_dir=serve_dir, profile="tiny", concurrency=1, min_free_bytes=2**20)
        with threaded_server(settings) as server, server.client() as api:
            api.wait_ready()
            disk.fill()
            # readiness and uploads agree: a job submitted now could not be stored
            readiness = api.http.get("/readyz")
            assert readiness.status_code == 503 and "MiB free on the data folder's disk" in readiness.json()["storage_error"]
            full = api.submit(silent_clip)
            assert full.status_code == 507 and full.json()["error"]["code"] == "insufficient_storage", full.text
            disk.free()
            assert api.http.get("/readyz").status_code == 200
            disk.set_read_only(True)
            readiness = api.http.get("/readyz")
            assert readiness.status_code == 503 and readiness.json()["storage_error"] == "Read-only file system"
            read_only = api.submit(silent_clip)
            assert read_only.status_code == 503 and read_only.json()["error"]["code"] == "storage_unavailable", read_only.text
            disk.set_read_only(False)
            accepted = api.submit(silent_clip)
            assert accepted.status_code == 202 and api.wait(accepted.json()["id"])["status"] == "done"
            assert [entry.name for entry in disk.path.iterdir()] == [accepted.json()["id"]]  # nothing left by the refused


def test_an_output_folder_the_disk_refuses_is_the_storage_s_fault_not_the_job_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker retries a job whose output folder cannot be written on a full disk, instead
    of failing it for good; what it shows names the failure, not the server's path."""

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full_disk)
    with pytest.raises(OutputFolderError) as caught:
        check_output_folder(tmp_path / "out")
    assert is_storage_failure(caught.value) and is_out_of_space(caught.value.__cause__)
    assert describe(caught.value) == "No space left on device"
