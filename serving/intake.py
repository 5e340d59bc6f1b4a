"""From an upload request to a queued job, or to a refusal that leaves no job and no file
behind: a 4xx for the client's mistakes and limits, 503/507 when the server's storage fails."""

from __future__ import annotations

import math
import uuid

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from cer.serving.errors import ApiError
from cer.serving.files import shown_name
from cer.serving.schemas import JobOptions
from cer.serving.service import Service
from cer.serving.storage import RETRY_AFTER_S, is_storage_failure, storage_error
from cer.serving.store import JobRecord, NewJob
from cer.serving.uploads import ENVELOPE_BYTES, Body, receive_upload, too_large
from cer.serving.video_check import check_video

UNKNOWN_RUN_S = 30.0  # a job's run time assumed for Retry-After before any job has finished
MAX_RETRY_AFTER_S = 600


def queue_full(service: Service) -> ApiError:
    """429, with Retry-After: about when a worker frees up, from recent run times."""
    run_s = service.store.mean_run_s() or UNKNOWN_RUN_S
    wait_s = min(MAX_RETRY_AFTER_S, max(1, math.ceil(run_s / service.settings.concurrency)))
    counts = service.store.counts()
    busy = (f"{service.pool.alive} worker(s) taking jobs, {counts['running']} job(s) running, {counts['queued']} waiting"
            f" (at most {service.settings.max_queue} may wait)")  # fmt: skip
    return ApiError(429, "queue_full", f"the server is busy: {busy}; try again in {wait_s} s", headers={"Retry-After": str(wait_s)})


def _options(fields: dict[str, str], service: Service) -> JobOptions:
    try:
        options = JobOptions.model_validate({key: value or None for key, value in fields.items()})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ApiError(422, "bad_form", problems) from None
    if options.profile not in (None, service.profile.name):
        raise ApiError(422, "wrong_profile", f"this server runs the {service.profile.name} profile, not {options.profile}")
    return options


def _early_refusal(request: Request, service: Service) -> ApiError | None:
    """Refusals that need no byte of the video: answered before the client sends it all."""
    if service.pool.error:
        return ApiError(503, "not_ready", f"the pipelines could not be loaded: {service.pool.error}")
    storage = service.storage_problem()
    if storage is not None:  # storing the job, or its outputs, would most likely fail
        return storage_error(storage)
    if service.pool.engine_error is not None:
        # accepted, the job would wait for the engine: say so now (the client retries later)
        return ApiError(503, "engine_down", f"{service.pool.engine_error}; try again later", headers={"Retry-After": str(RETRY_AFTER_S)})
    counts = service.store.counts()
    if counts["queued"] + counts["running"] >= service.capacity:
        return queue_full(service)
    if _announced_bytes(request) > service.settings.max_upload_bytes + ENVELOPE_BYTES:
        return too_large(service.settings.max_upload_bytes)
    return None


def _announced_bytes(request: Request) -> int:
    try:
        return max(0, int(request.headers.get("content-length") or 0))
    except ValueError:
        return 0


async def submit(request: Request, service: Service) -> JobRecord:
    """Stream the upload into a new job folder, check it, queue it."""
    settings = service.settings
    body = Body(request, settings.upload_timeout_s, settings.upload_min_bytes_per_s)
    error = _early_refusal(request, service)
    if error is not None:
        await body.discard()
        raise error
    # Without a Content-Length the body may be as large as any upload.
    size_bytes = min(_announced_bytes(request) or settings.max_upload_bytes, settings.max_upload_bytes)
    try:
        with service.uploads.hold(size_bytes):
            job_id = await _receive(request, body, service)
    except Exception as exc:
        if not is_storage_failure(exc):
            raise
        await body.discard()
        raise storage_error(exc) from None
    service.pool.notify()
    record = service.store.get(job_id)
    assert record is not None  # only a DELETE could remove it, and nobody knows its id yet
    return record


async def _receive(request: Request, body: Body, service: Service) -> str:
    """The new job's id, once its upload is in its folder, checked and queued; on any failure
    the folder is removed."""
    settings, files = service.settings, service.files
    job_id = str(uuid.uuid4())
    files.create(job_id)
    try:
        upload = await receive_upload(request, body, files.upload(job_id), settings.max_upload_bytes)
        options = _options(upload.fields, service)
        name = shown_name(upload.filename)
        video = await run_in_threadpool(check_video, files.upload(job_id), name, settings.max_duration_s)
        files.keep_upload(job_id)
        job = NewJob(job_id, upload.filename, video.media_type, upload.size_bytes, video.duration_s, options.compound)
        # the queue may have filled while this upload arrived; `add` checks again, atomically
        if not await run_in_threadpool(service.store.add, job, service.capacity):
            raise queue_full(service)
    except BaseException:
        files.remove(job_id)
        raise
    return job_id
