"""Request and response bodies of the HTTP API; the OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from cer.core.config import CompoundMethod
from cer.pipeline.outputs.files import FILE_NAMES
from cer.serving.files import JobFiles
from cer.serving.store import JobRecord, JobStatus


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: not_a_video, no_video_stream, too_long, too_large, ...")
    message: str = Field(description="what went wrong, for people")


class ErrorBody(BaseModel):
    error: ErrorDetail


class JobOptions(BaseModel):
    """The text fields of the upload form."""

    model_config = ConfigDict(extra="forbid")

    profile: str | None = Field(default=None, description="must name the profile this server runs, when given")
    compound: CompoundMethod | None = Field(default=None, description="basic-to-compound method; default: the profile's")


class UploadForm(JobOptions):
    """The multipart form of `POST /v1/jobs` (parsed by the route itself, streamed to disk)."""

    file: bytes = Field(description="the video")


class JobUrls(BaseModel):
    job: str
    video: str
    result: str
    files: dict[str, str] = Field(description="output file name -> its URL, for every file a finished job has")

    @classmethod
    def of(cls, job_id: str) -> JobUrls:
        base = f"/v1/jobs/{job_id}"
        return cls(job=base, video=f"{base}/video", result=f"{base}/result", files={name: f"{base}/{name}" for name in FILE_NAMES})


class JobAccepted(BaseModel):
    id: UUID
    status: JobStatus
    urls: JobUrls


class Progress(BaseModel):
    windows_done: int
    windows_total: int = Field(description="0 until the first chunk of windows is done")


class Player(BaseModel):
    """What a browser's <video> is to play. Settled when the job has run (before, the upload)."""

    url: str = Field(description="the upload, or a copy browsers can play (H.264, at most 720p) when they cannot play its codec")
    warning: str | None = Field(description="why a browser may not play the video: its codec, when no playable copy could be made")

    @classmethod
    def of(cls, files: JobFiles, job_id: str) -> Player:
        urls = JobUrls.of(job_id)
        if files.preview(job_id).is_file():
            return cls(url=f"{urls.job}/preview", warning=None)
        failure = files.preview_failure(job_id)
        return cls(url=urls.video, warning=failure.read_text() if failure.is_file() else None)


def _time(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds is not None else None


class Job(BaseModel):
    id: UUID
    status: JobStatus
    filename: str = Field(description="the uploaded file's name, as the client gave it")
    duration_s: float
    size_bytes: int
    compound: CompoundMethod | None
    progress: Progress
    attempts: int = Field(description="times a worker started the job (more than 1 after a restart)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    urls: JobUrls
    player: Player

    @classmethod
    def of(cls, record: JobRecord, files: JobFiles) -> Job:
        return cls(
            id=UUID(record.id),
            status=record.status,
            filename=record.filename,
            duration_s=record.duration_s,
            size_bytes=record.size_bytes,
            compound=record.compound,
            progress=Progress(windows_done=record.windows_done, windows_total=record.windows_total),
            attempts=record.attempts,
            created_at=datetime.fromtimestamp(record.created_at, timezone.utc),
            started_at=_time(record.started_at),
            finished_at=_time(record.finished_at),
            error=record.error,
            urls=JobUrls.of(record.id),
            player=Player.of(files, record.id),
        )


class JobPage(BaseModel):
    items: list[Job]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ExpertState(BaseModel):
    status: str
    model_id: str
    reason: str | None


class Readiness(BaseModel):
    ready: bool = Field(
        description="every worker's pipeline (Ray and the experts) is loaded, every worker takes jobs, the experts' engine runs,"
        " and the storage works and has room"
    )
    profile: str
    engine: str
    workers: int
    workers_loaded: int
    workers_alive: int = Field(description="workers taking jobs")
    experts: dict[str, ExpertState]
    error: str | None = Field(description="why the pipelines could not be loaded")
    storage_error: str | None = Field(
        description="why the data folder's last write failed (the job store's or a job's files': a full disk, ...), until one works"
    )
    engine_error: str | None = Field(default=None, description="why the experts' engine (Ray and its actors) failed, until it runs again")
    jobs: dict[JobStatus, int]
