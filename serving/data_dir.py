"""Opening a data folder for one server: its lock, its job store and its job folders, and
putting right what a crash left, before any job runs. Whatever stops the server here is a
StartError, one line that names the file and the problem (`cer serve` prints it, exit 2).

Nothing the store does not know is deleted, but uploads that a crash cut off: a store that
was lost or replaced (empty, or 0 bytes) beside job folders is a reason not to start."""

from __future__ import annotations

import fcntl
import logging
import sqlite3
from pathlib import Path
from typing import IO

from cer.serving.files import JobFiles
from cer.serving.storage import is_storage_failure
from cer.serving.store import JobStore

log = logging.getLogger("cer.serving")

STORE_NAME = "jobs.sqlite3"
PRIVATE_DIR = 0o700  # the data folder: its owner alone
PRIVATE_UMASK = 0o077  # what `cer serve` writes (store, uploads, results, previews): its owner alone


class StartError(RuntimeError):
    """The server cannot start on this data folder; the message says where and why, in one line."""


class DataDirInUse(StartError):
    """Another server already uses the data folder: two would each think the other's running
    jobs were left over from a crash."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def lock(data_dir: Path) -> IO[str]:
    """The data folder's lock, held while the returned file is open (the kernel drops it when
    the process dies); creates the folder if needed, private to its owner (it holds faces,
    voices and transcripts): mode 700, whatever the umask made of an existing one."""
    path = data_dir / "server.lock"
    try:
        data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        data_dir.chmod(PRIVATE_DIR)
        handle = open(path, "a")  # noqa: SIM115 - held open for the server's life
    except OSError as exc:
        raise StartError(f"{path}: cannot be created ({_reason(exc)}); the data folder must be writable") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(f"{data_dir}: another cer serve is using this data folder") from None
    return handle


def open_store(data_dir: Path) -> JobStore:
    path = data_dir / STORE_NAME
    try:
        return JobStore(path)
    except sqlite3.Error as exc:
        if is_storage_failure(exc):
            raise StartError(f"{path}: the job store cannot be written ({exc}); is the disk full or read-only?") from None
        raise StartError(f"{path}: not a sound cer job store ({exc}); restore it from a backup, or move it away") from None


def open_job_files(data_dir: Path) -> JobFiles:
    try:
        return JobFiles(data_dir)
    except OSError as exc:
        raise StartError(f"{data_dir / 'jobs'}: cannot be created ({_reason(exc)})") from None


def recover(store: JobStore, files: JobFiles) -> None:
    """Put right what a crash left: running jobs finish or go back to the queue, and cut-off
    uploads are removed. Job folders the store does not know are left in place."""
    known = store.ids()
    unknown = files.unknown(known)
    if unknown.jobs and not known:
        raise StartError(
            f"{files.root.parent / STORE_NAME}: holds no jobs, but {files.root} holds {len(unknown.jobs)} job folder(s) with "
            f"videos or results (was the store deleted or replaced?); restore it, or move {files.root} away to start afresh"
        )
    try:
        recovered = store.recover(files.has_result)
    except sqlite3.Error as exc:
        raise StartError(f"{files.root.parent / STORE_NAME}: the job store cannot be written ({exc})") from None
    for job_id in unknown.partial:
        files.remove(job_id)
    if any(recovered.values()) or unknown.partial:
        found = (len(recovered["done"]), len(recovered["queued"]), len(recovered["failed"]), len(unknown.partial))
        log.warning(
            "cer serve: unclean stop: %d job(s) found done, %d requeued, %d failed (stopped too often), %d partial upload(s) removed",
            *found,
        )
    if unknown.jobs:
        log.warning("cer serve: %d job folder(s) in %s are not in the job store; left in place", len(unknown.jobs), files.root)
