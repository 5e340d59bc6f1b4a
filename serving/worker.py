"""The worker pool: `concurrency` threads, each owning one `Pipeline` (models loaded once, at
start-up), taking the oldest queued job from the store and writing its progress back.

The pipelines load in a background thread, so the server answers (`/healthz`, uploads,
which queue) while models load; `/readyz` says when they are all loaded and taking jobs. A
worker outlives the failures of the store and the disk (it rests and tries again; the job goes
back to the queue), so that jobs run again once they are put right. With the Ray engine the
workers' pipelines share one pool of expert actors, in the Ray session the service holds (see
serving.service): every model loads once, and the chunks of the videos being processed at once
share each expert's forward passes. In process each pipeline holds experts of its own.

When an expert's actor dies for good (Ray's restarts used up, or Ray itself failing), the run
stops with an `EngineFault` instead of giving a half result: the job goes back to the queue
(MAX_RUNS runs at most), /readyz turns 503 with the reason, and the next worker to take a
job first starts the dead actors again. A job is done only when every expert ran on it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from cer.core.config import Profile
from cer.core.engine import MAX_RUNS, EngineFault
from cer.core.media import MediaError
from cer.core.types import ExpertStatus
from cer.pipeline.executors import attached_executor
from cer.pipeline.model_store import ensure_models
from cer.pipeline.outputs import write_outputs
from cer.pipeline.ray_runtime import ray_answers
from cer.pipeline.runner import Pipeline
from cer.serving.files import JobFiles, shown_name
from cer.serving.preview import unplayable_codecs, write_preview
from cer.serving.storage import describe, is_storage_failure
from cer.serving.store import JobRecord, JobStore
from cer.serving.video_check import media_message

if TYPE_CHECKING:
    from cer.pipeline.ray_executor import ExpertPool

log = logging.getLogger("cer.serving")

# Restarts of the experts' engine that may fail in a row before the server gives up and exits
# for its supervisor (at once when Ray itself no longer answers): a server that stays up
# without an engine would answer 503 for ever.
MAX_FAILED_REVIVALS = 3
EXIT_ENGINE_LOST = 1
IDLE_POLL_S = 5.0  # an idle worker rechecks the queue this often even without a wake-up
# After a storage failure a worker rests RETRY_FIRST_S, then twice as long each time it fails
# again, up to RETRY_MAX_S: it finds the disk back within that long of it coming back.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
# What the page says over the player when an upload in a codec browsers cannot play has no copy.
NO_PREVIEW = "this browser may not play the video's codec, and no playable copy of it could be made"


class Interrupted(Exception):
    """Raised from the progress callback to stop a run: the server is stopping, or the job was deleted."""


class WorkerPool:
    # How the process ends when the engine is lost (a test replaces it).
    exit: Callable[[int], None] = staticmethod(os._exit)

    def __init__(self, profile: Profile, concurrency: int, store: JobStore, files: JobFiles) -> None:
        self.profile = profile
        self.concurrency = concurrency
        self.store = store
        self.files = files
        self.error: str | None = None  # why the pipelines could not be loaded
        self.storage_failure: str | None = None  # why the last job's files could not be written, until one's are
        self.engine_error: str | None = None  # why the experts' engine failed, until it is running again
        self._engine_fault: str | None = None  # the fault that started it
        self.statuses: dict[str, ExpertStatus] = {}  # of the first loaded pipeline's experts
        self.experts: ExpertPool | None = None  # with the Ray engine: the expert actors every pipeline shares
        self._reviving = threading.Lock()  # one worker restarts the dead actors; the others wait for it
        self._failed_revivals = 0
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
    def alive(self) -> int:
        """Workers taking jobs: loaded, and their thread still running."""
        return sum(thread.is_alive() for _, thread in list(self._workers))

    @property
    def ready(self) -> bool:
        return self.alive == self.concurrency

    def start(self) -> None:
        self._loader.start()

    def notify(self) -> None:
        """A job was queued: wake one idle worker."""
        with self._wake:
            self._wake.notify()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop taking jobs; a running job is interrupted at its next progress report and
        goes back to the queue. Then release the pipelines, and the expert pool they share.
        False when a thread is still at work after `timeout_s` (loading a model, or inside a
        run), or when Ray no longer answers: the caller then leaves Ray to the process's exit."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        self._loader.join(timeout_s)
        stopped = not self._loader.is_alive()
        for pipeline, thread in reversed(self._workers):
            thread.join(timeout_s)
            if thread.is_alive():  # one still inside a run keeps its pipeline; the process is ending anyway
                stopped = False
            else:
                pipeline.close()
        if self.experts is not None:  # after the pipelines, which send it their chunks
            if self.engine_error is not None and not ray_answers():
                return False  # Ray is gone: killing its actors, or shutting it down, would wait for ever
            self.experts.kill()
        return stopped

    def _load(self) -> None:
        try:
            new_pipeline = self._pipeline_maker()
            for slot in range(self.concurrency):
                if self._stopping.is_set():
                    return
                pipeline = new_pipeline()
                if not self._workers:
                    self.statuses = pipeline.executor.statuses
                thread = threading.Thread(target=self._serve, args=(pipeline,), name=f"cer-worker-{slot}", daemon=True)
                self._workers.append((pipeline, thread))
                thread.start()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("cer serve: the %s profile's pipelines could not be loaded", self.profile.name)

    def _pipeline_maker(self) -> Callable[[], Pipeline]:
        """How each worker's pipeline is made. With the Ray engine the expert pool the pipelines
        share starts here, first, and they attach to it; in process each builds its own experts."""
        if self.profile.execution.engine != "ray":
            return lambda: Pipeline(self.profile)
        from cer.pipeline.ray_executor import ExpertPool  # deferred: importing Ray takes a second

        ensure_models(self.profile)  # fetched once here, not by every actor at once
        self.experts = ExpertPool.start(self.profile.enabled_experts(), self.profile.expert_context, self.profile.execution)
        address = self.experts.address
        return lambda: Pipeline(self.profile, executor=attached_executor(self.profile, address))

    def _serve(self, pipeline: Pipeline) -> None:
        pause = Backoff()
        while not self._stopping.is_set():
            try:
                healthy = self._engine_running() and self._take_job(pipeline)
            except Exception:
                # Only the store can fail here (claiming a job: a full disk, an I/O error), or a
                # bug; either way this worker must outlive it, or every queued job waits forever.
                log.exception("cer serve: a worker could not take the next job; it tries again")
                healthy = False
            if healthy:
                pause.reset()
            else:
                self._stopping.wait(pause.next())

    def _take_job(self, pipeline: Pipeline) -> bool:
        """Run the next job, if one comes; False when the worker is to rest (see `_run`)."""
        job = self._next_job()
        return job is None or self._run(pipeline, job)

    def _engine_running(self) -> bool:
        """True when the experts' engine works: after an engine fault, the dead actors are
        started again first (by one worker; the others wait and see its outcome)."""
        with self._reviving:
            if self.engine_error is None:
                return True
            assert self.experts is not None, "only Ray actors fail as an engine"
            try:
                revived = self.experts.revive()
            except Exception as exc:  # noqa: BLE001 - whatever stops a restart leaves the engine down; retried, then given up
                self.engine_error = f"{self._engine_fault}; it cannot be started again: {type(exc).__name__}: {exc}"
                # the engine's fault, not a bug of ours: one line (Ray's own messages run to many)
                log.warning(
                    "cer serve: the experts' engine cannot be started again (%s)",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
                self._failed_revivals += 1
                if self._failed_revivals >= MAX_FAILED_REVIVALS or not ray_answers():
                    self._give_up()
                return False
            log.warning("cer serve: started the %s expert(s) again after an engine fault", ", ".join(revived) or "no")
            self.engine_error = self._engine_fault = None
            self._failed_revivals = 0
            return True

    def _give_up(self) -> None:
        """End the process for its supervisor to start it again, on a new Ray. Hard: a graceful
        stop would wait on calls into the dead Ray. Nothing is lost: every job's state is in
        the store, and the jobs that were running go back to the queue at the next start."""
        log.critical("cer serve: the experts' engine is lost (%s); exiting for a supervisor to restart the server", self.engine_error)
        logging.shutdown()
        self.exit(EXIT_ENGINE_LOST)

    def _next_job(self) -> JobRecord | None:
        """The next job, or None after waiting for one. Claiming under the condition's lock
        means a `notify` cannot slip in between an empty claim and the wait, and be lost."""
        with self._wake:
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(IDLE_POLL_S)
            return job

    def _run(self, pipeline: Pipeline, job: JobRecord) -> bool:
        """Run the job and record how it ended; False when the data folder's storage or the
        experts' engine failed, which sends the job back to the queue (it is not the job's
        fault) and the worker to rest."""
        stored = True
        try:
            self._process(pipeline, job)
            self.storage_failure = None
            end = partial(self.store.finish, job.id)
        except Interrupted:
            end = partial(self.store.requeue, job.id)
        except EngineFault as exc:
            log.warning("cer serve: job %s: %s", job.id, exc)
            self.engine_error = self._engine_fault = str(exc)
            stored = False  # the worker rests, then the engine is started again before the next job
            if job.attempts < MAX_RUNS:
                end = partial(self.store.requeue, job.id, counted=True)
            else:
                end = partial(
                    self.store.fail, job.id, f"the experts' engine failed in each of its {job.attempts} runs; the last time: {exc}"
                )
        except MediaError as exc:
            end = partial(self.store.fail, job.id, media_message(exc, self.files.video(job.id), shown_name(job.filename)))
        except Exception as exc:
            stored = not is_storage_failure(exc)
            if stored:
                log.exception("cer serve: job %s failed", job.id)
                # the details (paths, the server's internals) go to the log, not to the client
                end = partial(self.store.fail, job.id, f"internal error ({type(exc).__name__}); the server's log has the details")
            else:
                log.exception("cer serve: job %s: the data folder's storage failed; the job goes back to the queue", job.id)
                self.storage_failure = describe(exc)
                end = partial(self.store.requeue, job.id)
        if not self._settle(end):
            self.files.remove(job.id)  # deleted while it ran: the run may have recreated files
        return stored

    def _process(self, pipeline: Pipeline, job: JobRecord) -> None:
        def progress(done: int, total: int) -> None:
            self._check_stopping()
            try:
                still_there = self.store.set_progress(job.id, done, total)
            except sqlite3.Error:
                return  # progress is only shown: the run goes on, and its end is recorded once the store works again
            if not still_there:
                raise Interrupted

        self._make_preview(job)
        pipeline.profile = self._variants[job.compound or self.profile.compound.method]
        result = pipeline.run(self.files.video(job.id), progress=progress)
        # what clients see: their own name, not the server's path
        shown = result.video.model_copy(update={"path": shown_name(job.filename)})
        write_outputs(result.model_copy(update={"video": shown}), self.files.out_dir(job.id))

    def _make_preview(self, job: JobRecord) -> None:
        """A copy of the upload that browsers play, when they cannot play the upload itself
        (HEVC `.mov`, ...). Not having one does not fail the job: the page warns instead."""
        video, preview, failure = self.files.video(job.id), self.files.preview(job.id), self.files.preview_failure(job.id)
        if preview.exists() or failure.exists():
            return  # the job runs again (after a restart): this was settled the first time
        try:
            refused = unplayable_codecs(video)
            if refused is None:
                return
            log.info("cer serve: job %s: browsers cannot play its %s; making a copy they can", job.id, refused)
            write_preview(video, preview, check=self._check_stopping)
        except Interrupted:
            raise
        except Exception:
            log.warning("cer serve: job %s: no playable copy of its video could be made", job.id, exc_info=True)
            failure.write_text(NO_PREVIEW)  # the details (paths, FFmpeg's words) are in the log

    def _check_stopping(self) -> None:
        """Stop a job's work where it stands: the server is stopping."""
        if self._stopping.is_set():
            raise Interrupted

    def _settle(self, end: Callable[[], bool]) -> bool:
        """Record the end of a job (`end`: a store call, False when the job was deleted), trying
        again while the store fails. The job shows running meanwhile; a server stopped first
        leaves it to the next start's recovery."""
        pause = Backoff()
        while True:
            try:
                return end()
            except sqlite3.Error as exc:
                log.warning("cer serve: the job store cannot record a job's end (%s); trying again", exc)
                if self._stopping.wait(pause.next()):
                    return True


class Backoff:
    """Pauses after failures: RETRY_FIRST_S, doubling up to RETRY_MAX_S while they last."""

    def __init__(self) -> None:
        self._next_s = RETRY_FIRST_S

    def next(self) -> float:
        pause_s, self._next_s = self._next_s, min(RETRY_MAX_S, 2 * self._next_s)
        return pause_s

    def reset(self) -> None:
        self._next_s = RETRY_FIRST_S
