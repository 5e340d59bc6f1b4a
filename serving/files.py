"""Where a job's files live: `DATA/jobs/<id>/video` (the upload) and `DATA/jobs/<id>/out/`
(the pipeline's output folder). Every name here is made by the server; a client's file name
never becomes a path, and ids reach this module only as parsed UUIDs."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from uuid import UUID


class JobFiles:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        return self.root / str(UUID(job_id))  # UUID() refuses anything that could climb out of root

    def video(self, job_id: str) -> Path:
        return self.folder(job_id) / "video"

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

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def remove_orphans(self, known_ids: Iterable[str]) -> list[str]:
        """Delete folders that no job owns: uploads cut off by a crash before they were queued."""
        known = set(known_ids)
        orphans = [entry.name for entry in self.root.iterdir() if entry.name not in known]
        for name in orphans:
            shutil.rmtree(self.root / name, ignore_errors=True)
        return orphans
