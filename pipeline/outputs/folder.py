"""The output folder: checked before any work, and written by one process at a time."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputFolderError(ValueError):
    """An output folder that cannot be written; the message names it and says why."""


def check_output_folder(out_dir: Path) -> Path:
    """Create `out_dir` if missing and prove that a file can be written in it, so that a bad
    `--out` (a file, a folder without write permission, a read-only filesystem) fails in a
    second, before the video is decoded, instead of after all the work."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFolderError(f"output folder {out_dir}: a file of that name exists")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        # the OSError stays the cause: a full or read-only disk is the storage's fault, not the
        # job's, and the service retries such a job (cer.serving.storage.is_storage_failure)
        raise OutputFolderError(f"output folder {out_dir}: cannot write there ({exc.strerror or exc})") from exc
    return out_dir


@contextmanager
def writing_into(out_dir: Path) -> Iterator[None]:
    """Held while one run writes its files into `out_dir`: two runs into one folder then leave
    the whole set of one of them, never a mix of both (each file is also written atomically).
    The lock is taken on the folder itself (POSIX `flock` on its descriptor), so it leaves no
    file behind in the results."""
    import fcntl

    descriptor = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
