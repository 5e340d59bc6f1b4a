"""The job store and the job folders, without a server: queue order and limit, the ends of a
running job, recovery after a crash, cut-off uploads."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cer.core.engine import MAX_RUNS as MAX_ATTEMPTS
from cer.serving.files import JobFiles
from cer.serving.store import JobStore, NewJob


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite3")


def new_job() -> NewJob:
    return NewJob(str(uuid.uuid4()), "clip.mp4", "video/mp4", 1000, 2.4, None)


def test_jobs_run_in_the_order_they_came(store: JobStore) -> None:
    jobs = [new_job() for _ in range(3)]
    for job in jobs:
        assert store.add(job, capacity=10)
    claimed = [store.claim_next() for _ in jobs]
    assert [record.id for record in claimed if record] == [job.id for job in jobs]
    assert all(record.status == "running" and record.attempts == 1 for record in claimed if record)
    assert store.claim_next() is None


def test_a_full_store_takes_no_more(store: JobStore) -> None:
    """`capacity` counts the jobs queued and running: the service passes its live workers
    plus the waiting line."""
    assert store.add(new_job(), capacity=2)
    assert store.add(new_job(), capacity=2)
    assert not store.add(new_job(), capacity=2)
    claimed = store.claim_next()
    assert not store.add(new_job(), capacity=2)  # a running job still takes its worker
    assert claimed and store.finish(claimed.id)
    assert store.add(new_job(), capacity=2)
    assert store.counts() == {"queued": 2, "running": 0, "done": 1, "failed": 0}


def test_the_ends_of_a_running_job(store: JobStore) -> None:
    done, failed = new_job(), new_job()
    for job in (done, failed):
        store.add(job, capacity=10)
        store.claim_next()
    assert store.set_progress(done.id, 2, 3)
    assert store.finish(done.id) and store.fail(failed.id, "no frames")
    finished = store.get(done.id)
    assert finished and finished.status == "done" and finished.windows_done == 3 and finished.completions == 1
    assert not store.finish(done.id)  # only a running job can finish
    broken = store.get(failed.id)
    assert broken and broken.status == "failed" and broken.error == "no frames" and broken.completions == 0


def test_a_job_deleted_while_running_tells_its_worker(store: JobStore) -> None:
    job = new_job()
    store.add(job, capacity=10)
    store.claim_next()
    assert store.delete(job.id)
    assert not store.set_progress(job.id, 1, 2)
    assert not store.finish(job.id)
    assert store.get(job.id) is None


def test_recovery_finishes_or_requeues_what_a_crash_left_running(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    finished_unrecorded, cut_off, waiting = new_job(), new_job(), new_job()
    for job in (finished_unrecorded, cut_off, waiting):
        store.add(job, capacity=10)
    store.claim_next()
    store.claim_next()
    store.close()  # the crash

    reopened = JobStore(tmp_path / "jobs.sqlite3")
    recovered = reopened.recover(has_result=lambda job_id: job_id == finished_unrecorded.id)
    assert recovered == {"done": [finished_unrecorded.id], "queued": [cut_off.id], "failed": []}
    states = {job.id: reopened.get(job.id) for job in (finished_unrecorded, cut_off, waiting)}
    assert states[finished_unrecorded.id].status == "done" and states[finished_unrecorded.id].completions == 1
    assert states[cut_off.id].status == "queued" and states[cut_off.id].attempts == 1
    assert states[waiting.id].status == "queued"
    assert reopened.claim_next().id == cut_off.id  # it keeps its place in the queue


def test_a_job_that_keeps_bringing_the_server_down_fails_instead_of_looping(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    job = new_job()
    JobStore(path).add(job, capacity=10)
    for crash in range(1, MAX_ATTEMPTS + 1):
        store = JobStore(path)
        assert store.claim_next().attempts == crash
        store.close()  # the server dies inside the run
        reopened = JobStore(path)
        recovered = reopened.recover(has_result=lambda job_id: False)
        reopened.close()
    assert recovered == {"done": [], "queued": [], "failed": [job.id]}
    failed = JobStore(path).get(job.id)
    assert failed.status == "failed" and f"stopped {MAX_ATTEMPTS} times" in failed.error


def test_a_run_stopped_on_purpose_does_not_count_as_an_attempt(store: JobStore) -> None:
    job = new_job()
    store.add(job, capacity=10)
    for _ in range(MAX_ATTEMPTS + 1):
        store.claim_next()
        store.requeue(job.id)  # the server stopping, or the disk failing
    assert store.get(job.id).attempts == 0
    store.claim_next()
    store.requeue(job.id, counted=True)  # the engine failed under it
    assert store.get(job.id).attempts == 1


def test_only_cut_off_uploads_count_as_partial(tmp_path: Path) -> None:
    files = JobFiles(tmp_path)
    known, partial, empty, whole, finished = (str(uuid.uuid4()) for _ in range(5))
    for job_id in (known, partial, empty, whole, finished):
        files.create(job_id)
    files.video(known).write_bytes(b"a queued job's video")
    files.upload(partial).write_bytes(b"half an upload")
    files.upload(whole).write_bytes(b"a whole upload")
    files.keep_upload(whole)
    files.out_dir(finished).mkdir()
    (files.root / "notes").mkdir()  # not named like a job: not the server's
    unknown = files.unknown([known])
    assert unknown.partial == sorted([partial, empty])
    assert unknown.jobs == sorted([whole, finished])


def test_job_folders_take_only_uuids(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        JobFiles(tmp_path).folder("../../etc")
