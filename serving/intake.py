"""From an upload request to a queued job, or to a 4xx that leaves no job and no file behind."""

from __future__ import annotations

import math
import uuid

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from cer.serving.errors import ApiError
from cer.serving.schemas import JobOptions
from cer.serving.service import Service
from cer.serving.store import JobRecord, NewJob
from cer.serving.uploads import ENVELOPE_BYTES, Body, receive_upload, too_large
from cer.serving.video_check import check_video

UNKNOWN_RUN_S = 30.0  # a job's run time assumed for Retry-After before any job has finished
MAX_RETRY_AFTER_S = 600


def queue_full(service: Service) -> ApiError:
    """429, with Retry-After: about when a worker frees up, from recent run times."""
    run_s = service.store.mean_run_s() or UNKNOWN_RUN_S
    wait_s = min(MAX_RETRY_AFTER_S, max(1, math.ceil(run_s / service.settings.concurrency)))
    message = f"the queue is full ({service.settings.max_queue} jobs waiting); try again in {wait_s} s"
    return ApiError(429, "queue_full", message, headers={"Retry-After": str(wait_s)})


def _options(fields: dict[str, str], service: Service) -> JobOptions:
    try:
        options = JobOptions.model_validate({key: value or None for key, value in fields.items()})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ApiError(422, "bad_form", problems) from None
    if options.profile not in (None, service.profile.name):
        raise ApiError(422, "wrong_profile", f"this server runs the {service.profile.name} profile, not {options.profile}")
    return options


async def _refuse_early(request: Request, body: Body, service: Service) -> None:
    """Refusals that need no byte of the video: answered before the client sends it all."""
    error = None
    if service.pool.error:
        error = ApiError(503, "not_ready", f"the pipelines could not be loaded: {service.pool.error}")
    elif service.store.counts()["queued"] >= service.settings.max_queue:
        error = queue_full(service)
    elif int(request.headers.get("content-length") or 0) > service.settings.max_upload_bytes + ENVELOPE_BYTES:
        error = too_large(service.settings.max_upload_bytes)
    if error is not None:
        await body.discard()
        raise error


async def submit(request: Request, service: Service) -> JobRecord:
    """Stream the upload into a new job folder, check it, queue it."""
    body = Body(request)
    await _refuse_early(request, body, service)
    settings, files = service.settings, service.files
    job_id = str(uuid.uuid4())
    files.create(job_id)
    try:
        upload = await receive_upload(request, body, files.video(job_id), settings.max_upload_bytes)
        options = _options(upload.fields, service)
        video = await run_in_threadpool(check_video, files.video(job_id), upload.filename, settings.max_duration_s)
        job = NewJob(job_id, upload.filename, video.media_type, upload.size_bytes, video.duration_s, options.compound)
        # the queue may have filled while this upload arrived; `add` checks again, atomically
        if not await run_in_threadpool(service.store.add, job, settings.max_queue):
            raise queue_full(service)
    except BaseException:
        files.remove(job_id)
        raise
    service.pool.notify()
    record = service.store.get(job_id)
    assert record is not None  # only a DELETE could remove it, and nobody knows its id yet
    return record
