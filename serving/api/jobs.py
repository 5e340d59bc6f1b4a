"""`/v1/jobs`: submit a video, follow the job, fetch its results, delete it."""

from __future__ import annotations

from enum import Enum
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse

from cer.core.result import SCHEMA_ID
from cer.pipeline.outputs.files import FILE_NAMES, FILES_BY_NAME
from cer.serving.api.deps import ServiceDep, require_token
from cer.serving.errors import ApiError, error_responses, not_found
from cer.serving.intake import submit
from cer.serving.ranged_file import RangedFileResponse
from cer.serving.schemas import Job, JobAccepted, JobPage, JobUrls, UploadForm
from cer.serving.service import Service
from cer.serving.store import JobRecord

# 422: a path or query parameter that does not validate (a job id that is not a UUID, ...)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)], responses=error_responses(401, 422, 503, 507))

MAX_OFFSET = 10**9  # far beyond any real store, well inside SQLite's 64-bit integers

JobId = Annotated[UUID, Path(description="the id that POST /v1/jobs answered with")]


# The output files a finished job has, from the one table (cer.pipeline.outputs.files).
OutputName = Enum("OutputName", {name: name for name in FILE_NAMES}, type=str)  # type: ignore[misc]
# The report is a page built from the video's transcript and descriptions: served from this
# origin it must not run anything (it needs no script; its styles and image are inline).
_REPORT_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"}

# The body is parsed by the route itself (streamed to disk), so the form is declared here.
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": UploadForm.model_json_schema()}}}}


def _record(service: Service, job_id: UUID) -> JobRecord:
    record = service.store.get(str(job_id))
    if record is None:
        raise not_found(str(job_id))
    return record


def _output(service: Service, job_id: UUID, name: str) -> FileResponse:
    record = _record(service, job_id)
    if record.status != "done":
        raise ApiError(409, "not_done", f"job {job_id} is {record.status}; its results exist once it is done")
    headers = _REPORT_HEADERS if name == "report.html" else None
    return RangedFileResponse(service.files.output(record.id, name), media_type=FILES_BY_NAME[name].media_type, headers=headers)


@router.post(
    "",
    status_code=202,
    responses=error_responses(400, 408, 413, 415, 422, 429),
    openapi_extra=_UPLOAD_BODY,
    summary="Upload a video (multipart field `file`) and queue a job for it",
)
async def create_job(request: Request, response: Response, service: ServiceDep) -> JobAccepted:
    record = await submit(request, service)
    urls = JobUrls.of(record.id)
    response.headers["Location"] = urls.job
    return JobAccepted(id=UUID(record.id), status=record.status, urls=urls)


@router.get("", summary="Recent jobs, newest first")
def list_jobs(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> JobPage:
    records, total = service.store.page(limit, offset)
    return JobPage(items=[Job.of(record, service.files) for record in records], total=total, limit=limit, offset=offset)


@router.get("/{job_id}", responses=error_responses(404), summary="A job's status, progress and timestamps")
def get_job(job_id: JobId, service: ServiceDep) -> Job:
    return Job.of(_record(service, job_id), service.files)


@router.delete("/{job_id}", status_code=204, responses=error_responses(404), summary="Delete a job and its files")
def delete_job(job_id: JobId, service: ServiceDep) -> Response:
    # A running job's worker notices at its next progress report and stops.
    if not service.store.delete(str(job_id)):
        raise not_found(str(job_id))
    service.files.remove(str(job_id))
    return Response(status_code=204)


@router.get(
    "/{job_id}/video",
    response_class=FileResponse,
    responses={200: {"content": {"video/*": {}}}, **error_responses(404)},
    summary="The uploaded video (for the page's player; supports Range requests)",
)
def get_video(job_id: JobId, service: ServiceDep) -> FileResponse:
    record = _record(service, job_id)
    return RangedFileResponse(service.files.video(record.id), media_type=record.media_type)


@router.get(
    "/{job_id}/preview",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}}}, **error_responses(404)},
    summary="A copy of the video that browsers play (H.264), made when they cannot play the upload's codec",
)
def get_preview(job_id: JobId, service: ServiceDep) -> FileResponse:
    preview = service.files.preview(_record(service, job_id).id)
    if not preview.is_file():
        raise ApiError(404, "no_preview", f"job {job_id} has no preview: its video plays as it is, or no copy was made (see its player)")
    return RangedFileResponse(preview, media_type="video/mp4")


@router.get(
    "/{job_id}/result",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/json": {}}, "description": f"the {SCHEMA_ID} document"},
        **error_responses(404, 409),
    },
    summary="result.json, once the job is done",
)
def get_result(job_id: JobId, service: ServiceDep) -> FileResponse:
    return _output(service, job_id, "result.json")


@router.get(
    "/{job_id}/{name}",
    response_class=FileResponse,
    responses=error_responses(404, 409),
    summary=f"One output file ({', '.join(FILE_NAMES)}), once the job is done",
)
def get_output(job_id: JobId, name: OutputName, service: ServiceDep) -> FileResponse:
    return _output(service, job_id, name.value)
