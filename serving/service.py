"""Everything one running server holds, opened when the app starts and closed when it stops."""

from __future__ import annotations

import fcntl
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO

from cer.pipeline.config import Profile, load_profile
from cer.serving.files import JobFiles
from cer.serving.settings import Settings
from cer.serving.store import JobStore
from cer.serving.worker import WorkerPool

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
    held: ExitStack  # the data folder's lock, the store and, with the Ray engine, the Ray session

    @classmethod
    def open(cls, settings: Settings) -> Service:
        """Validate the profile, recover the jobs a crash left behind, start the workers.

        Call it from the main thread: Ray's own processes are started with the parent-death
        signal, which Linux sends when the *thread* that started them ends. Every pipeline then
        borrows this one session, and closing one of them cannot stop Ray under the others."""
        profile = load_profile(settings.profile)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as held:  # released here if opening fails, else by `close`
            held.callback(_lock(settings).close)
            store = JobStore(settings.data_dir / "jobs.sqlite3")
            held.callback(store.close)
            files = JobFiles(settings.data_dir)
            recovered = store.recover(files.has_result)
            orphans = files.remove_orphans(store.ids())
            if any(recovered.values()) or orphans:
                found = (len(recovered["done"]), len(recovered["queued"]), len(orphans))
                log.warning("cer serve: unclean stop: %d job(s) found done, %d requeued, %d partial upload(s) removed", *found)
            if profile.execution.engine == "ray":
                from cer.pipeline.ray_runtime import ray_session  # deferred: importing Ray takes a second

                held.enter_context(ray_session(profile.execution.ray_address))
            pool = WorkerPool(profile, settings.concurrency, store, files)
            pool.start()
            return cls(settings, profile, store, files, pool, held.pop_all())

    def close(self) -> None:
        self.pool.stop()  # first: the workers use the store and Ray
        self.held.close()
