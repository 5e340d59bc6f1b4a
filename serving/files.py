"""Where a job's files live: `DATA/jobs/<id>/video` (the upload), `DATA/jobs/<id>/out/` (the
pipeline's output folder) and, for an upload in a codec browsers cannot play, `preview.mp4`
(a copy they can) or `preview-failed.txt` (why there is none). Every name here is made by
the server; a client's file name never becomes a path, and ids reach this module only as
parsed UUIDs.

An upload arrives as `<id>/upload.part` and becomes `<id>/video` once it is complete and
checked: a folder holding nothing else is an upload that a crash cut off, the only thing in
`jobs/` that start-up removes without the store knowing it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

UPLOAD_PART = "upload.part"


def shown_name(filename: str) -> str:
    """What names an upload to people: the client's file name, never the server's path."""
    return filename or "upload"


def _is_job_id(name: str) -> bool:
    try:
        return str(UUID(name)) == name
    except ValueError:
        return False


@dataclass(frozen=True)
class Unknown:
    """What start-up finds in `jobs/` that the store does not know."""

    partial: list[str]  # job-id folders holding at most an unfinished upload
    jobs: list[str]  # job-id folders holding a whole upload or results: kept


class JobFiles:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        return self.root / str(UUID(job_id))  # UUID() refuses anything that could climb out of root

    def upload(self, job_id: str) -> Path:
        return self.folder(job_id) / UPLOAD_PART

    def video(self, job_id: str) -> Path:
        return self.folder(job_id) / "video"

    def preview(self, job_id: str) -> Path:
        return self.folder(job_id) / "preview.mp4"

    def preview_failure(self, job_id: str) -> Path:
        return self.folder(job_id) / "preview-failed.txt"

    def out_dir(self, job_id: str) -> Path:
        return self.folder(job_id) / "out"

    def output(self, job_id: str, name: str) -> Path:
        return self.out_dir(job_id) / name

    def has_result(self, job_id: str) -> bool:
        """result.json is written last and atomically: its presence means a complete run."""
        return self.output(job_id, "result.json").is_file()

    def create(self, job_id: str) -> Path:
        folder = self.folder(job_id)
        folder.mkdir()
        return folder

    def keep_upload(self, job_id: str) -> None:
        """The upload is whole and checked: from now on it is the job's video."""
        os.replace(self.upload(job_id), self.video(job_id))

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def unknown(self, known_ids: Iterable[str]) -> Unknown:
        """The job folders that no job in the store owns. Entries not named like a job id are
        not the server's and are not looked at."""
        known = set(known_ids)
        partial: list[str] = []
        jobs: list[str] = []
        for entry in sorted(self.root.iterdir()):
            if entry.name in known or not _is_job_id(entry.name) or not entry.is_dir():
                continue
            contents = {child.name for child in entry.iterdir()}
            (partial if contents <= {UPLOAD_PART} else jobs).append(entry.name)
        return Unknown(partial, jobs)
