"""Everything one running server holds, opened when the app starts and closed when it stops."""

from __future__ import annotations

import fcntl
import logging
from dataclasses import dataclass
from typing import IO

from pipeline.config import Profile, load_profile
from serving.files import JobFiles
from serving.settings import Settings
from serving.store import JobStore
from serving.worker import WorkerPool

log = logging.getLogger("cer.serving")


class DataDirInUse(RuntimeError):
    """Another server already uses the data folder: two would each think the other's running
    jobs were left over from a crash."""


def _lock(settings: Settings) -> IO[str]:
    handle = open(settings.data_dir / "server.lock", "a")  # noqa: SIM115 - held open for the server's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel drops it when the process dies
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(f"another cer serve is using {settings.data_dir}") from None
    return handle


@dataclass
class Service:
    settings: Settings
    profile: Profile
    store: JobStore
    files: JobFiles
    pool: WorkerPool
    lock: IO[str]

    @classmethod
    def open(cls, settings: Settings) -> Service:
        """Validate the profile, recover the jobs a crash left behind, start the workers."""
        profile = load_profile(settings.profile)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = _lock(settings)
        store = JobStore(settings.data_dir / "jobs.sqlite3")
        files = JobFiles(settings.data_dir)
        recovered = store.recover(files.has_result)
        orphans = files.remove_orphans(store.ids())
        if any(recovered.values()) or orphans:
            log.warning(
                "cer serve: after an unclean stop, %d job(s) found finished, %d queued again, %d unfinished upload(s) removed",
                len(recovered["done"]), len(recovered["queued"]), len(orphans),
            )  # fmt: skip
        pool = WorkerPool(profile, settings.concurrency, store, files)
        pool.start()
        return cls(settings, profile, store, files, pool, lock)

    def close(self) -> None:
        self.pool.stop()
        self.store.close()
        self.lock.close()
