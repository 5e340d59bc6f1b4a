"""Everything one running server holds, opened when the app starts and closed when it stops."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from cer.core.config import Profile
from cer.pipeline.executors import choose_engine, with_engine
from cer.serving import data_dir
from cer.serving.files import JobFiles
from cer.serving.live_slots import LiveSlots
from cer.serving.settings import Settings
from cer.serving.storage import space_problem
from cer.serving.store import JobStore
from cer.serving.upload_slots import UploadSlots
from cer.serving.worker import WorkerPool


@dataclass
class Service:
    settings: Settings
    profile: Profile
    store: JobStore
    files: JobFiles
    pool: WorkerPool
    uploads: UploadSlots
    live: LiveSlots
    held: ExitStack  # the data folder's lock, the store and `ray`
    ray: ExitStack  # with the Ray engine, the Ray session

    @classmethod
    def open(cls, settings: Settings) -> Service:
        """Validate the profile, open the data folder (data_dir.StartError when it cannot be
        used), recover the jobs a crash left behind, start the workers.

        Call it from the main thread: Ray's own processes are started with the parent-death
        signal, which Linux sends when the *thread* that started them ends. Every pipeline then
        borrows this one session, and closing one of them cannot stop Ray under the others."""
        profile = settings.job_profile()
        profile = with_engine(profile, choose_engine(profile.execution, many_videos=True))  # `auto`: a service runs many videos
        with ExitStack() as held:  # released here if opening fails, else by `close`
            held.callback(data_dir.lock(settings.data_dir).close)
            store = data_dir.open_store(settings.data_dir)
            held.callback(store.close)
            files = data_dir.open_job_files(settings.data_dir)
            data_dir.recover(store, files)
            ray = held.enter_context(ExitStack())
            if profile.execution.engine == "ray":
                from cer.pipeline.ray_runtime import ray_session  # deferred: importing Ray takes a second

                ray.enter_context(ray_session(profile.execution.ray_address))
            pool = WorkerPool(profile, settings.concurrency, store, files)
            pool.start()
            uploads = UploadSlots(settings.max_uploads, settings.max_upload_bytes_in_flight)
            live = LiveSlots(settings.live_sessions)
            return cls(settings, profile, store, files, pool, uploads, live, held.pop_all(), ray)

    @property
    def capacity(self) -> int:
        """Jobs that may be queued or running at once: one per live worker, and the waiting line."""
        return self.pool.alive + self.settings.max_queue

    def storage_problem(self) -> BaseException | None:
        """Why a job submitted now could not be stored or completed: the store's last write
        failed, or the data folder's disk (or the one its jobs folder is on) is read-only or
        short of space. None when it could."""
        if self.store.failure is not None:
            return self.store.failure
        for folder in dict.fromkeys((self.settings.data_dir, self.files.root)):
            problem = space_problem(folder, self.settings.min_free_bytes)
            if problem is not None:
                return problem
        return None

    def close(self) -> None:
        if not self.pool.stop():  # first: the workers use the store and Ray
            # Shutting Ray down under a thread inside a Ray call (a model still loading) ends the
            # process from Ray's core, with an error; Ray's own exit hook ends it quietly instead.
            self.ray.pop_all()
        self.held.close()
