"""The worker pool: `concurrency` threads, each owning one `Pipeline` (models loaded once, at
start-up), taking the oldest queued job from the store and writing its progress back.

The pipelines load in a background thread, so the server answers (`/healthz`, uploads,
which queue) while models load; `/readyz` says when they are all loaded. With the Ray engine
they borrow the Ray session the service holds (see serving.service).
"""

from __future__ import annotations

import logging
import threading

from cer.pipeline.config import Profile
from cer.pipeline.media import MediaError
from cer.pipeline.runner import Pipeline
from cer.pipeline.types import ExpertStatus
from cer.serving.files import JobFiles
from cer.serving.store import JobRecord, JobStore

log = logging.getLogger("cer.serving")

IDLE_POLL_S = 5.0  # an idle worker rechecks the queue this often even without a wake-up


class Interrupted(Exception):
    """Raised from the progress callback to stop a run: the server is stopping, or the job was deleted."""


class WorkerPool:
    def __init__(self, profile: Profile, concurrency: int, store: JobStore, files: JobFiles) -> None:
        self.profile = profile
        self.concurrency = concurrency
        self.store = store
        self.files = files
        self.error: str | None = None  # why the pipelines could not be loaded
        self.statuses: dict[str, ExpertStatus] = {}  # of the first loaded pipeline's experts
        self._workers: list[tuple[Pipeline, threading.Thread]] = []
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        # One profile per compound method a job may ask for: they differ in `compound` only,
        # which the runner reads per run, so the loaded models serve both.
        self._variants = {
            method: profile.model_copy(update={"compound": profile.compound.model_copy(update={"method": method})})
            for method in ("ppa", "pfsa")
        }
        self._loader = threading.Thread(target=self._load, name="cer-loader", daemon=True)

    @property
    def loaded(self) -> int:
        return len(self._workers)

    @property
    def ready(self) -> bool:
        return self.loaded == self.concurrency

    def start(self) -> None:
        self._loader.start()

    def notify(self) -> None:
        """A job was queued: wake one idle worker."""
        with self._wake:
            self._wake.notify()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking jobs; a running job is interrupted at its next progress report and
        goes back to the queue. Then release the pipelines."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        self._loader.join(timeout_s)
        for pipeline, thread in reversed(self._workers):
            thread.join(timeout_s)
            if not thread.is_alive():  # one still inside a run keeps its pipeline; the process is ending anyway
                pipeline.close()

    def _load(self) -> None:
        try:
            for slot in range(self.concurrency):
                if self._stopping.is_set():
                    return
                pipeline = Pipeline(self.profile)
                if not self._workers:
                    self.statuses = pipeline.executor.statuses
                thread = threading.Thread(target=self._serve, args=(pipeline,), name=f"cer-worker-{slot}", daemon=True)
                self._workers.append((pipeline, thread))
                thread.start()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("cer serve: the %s profile's pipelines could not be loaded", self.profile.name)

    def _serve(self, pipeline: Pipeline) -> None:
        while not self._stopping.is_set():
            job = self._next_job()
            if job is not None:
                self._run(pipeline, job)

    def _next_job(self) -> JobRecord | None:
        """The next job, or None after waiting for one. Claiming under the condition's lock
        means a `notify` cannot slip in between an empty claim and the wait, and be lost."""
        with self._wake:
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(IDLE_POLL_S)
            return job

    def _run(self, pipeline: Pipeline, job: JobRecord) -> None:
        def progress(done: int, total: int) -> None:
            if self._stopping.is_set() or not self.store.set_progress(job.id, done, total):
                raise Interrupted

        pipeline.profile = self._variants[job.compound or self.profile.compound.method]
        video = self.files.video(job.id)
        try:
            pipeline.run(video, self.files.out_dir(job.id), progress=progress)
            still_there = self.store.finish(job.id)
        except Interrupted:
            still_there = self.store.requeue(job.id)  # False when it was deleted
        except MediaError as exc:
            still_there = self.store.fail(job.id, str(exc).removeprefix(f"{video.name}: "))
        except Exception as exc:
            log.exception("cer serve: job %s failed", job.id)
            still_there = self.store.fail(job.id, f"internal error: {type(exc).__name__}: {exc}")
        if not still_there:
            self.files.remove(job.id)  # deleted while it ran: the run may have recreated files
