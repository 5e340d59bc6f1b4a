"""Failures of the data folder's storage (a full disk, a read-only or failing filesystem, and
the job store's SQLite errors that come from them), told apart from bugs, and answered to
clients: 507 when space ran out, 503 otherwise, both with Retry-After."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from cer.serving.errors import ApiError

RETRY_AFTER_S = 30  # what a client is told to wait for space to be freed or the disk to come back

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_UNWRITABLE = {errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}
# SQLite's primary result codes (the low byte of the extended ones) for the same failures:
# FULL; IOERR, READONLY, CANTOPEN. Spelled as numbers, as Python 3.10's sqlite3 names none of
# them (nor gives the code: there, a full store answers 503, not 507).
_SQLITE_NO_SPACE = {13}
_SQLITE_UNWRITABLE = {10, 8, 14}


def _sqlite_code(exc: sqlite3.Error) -> int:
    return getattr(exc, "sqlite_errorcode", -1) & 0xFF


def is_out_of_space(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return _sqlite_code(exc) in _SQLITE_NO_SPACE
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


def is_storage_failure(exc: BaseException) -> bool:
    """The disk or filesystem failed, not the code: what is being done may succeed once it is
    put right, so it is to be retried rather than reported as the job's fault."""
    if is_out_of_space(exc):
        return True
    if exc.__cause__ is not None and is_storage_failure(exc.__cause__):  # e.g. an output folder that cannot be made
        return True
    if isinstance(exc, sqlite3.Error):
        return _sqlite_code(exc) in _SQLITE_UNWRITABLE
    return isinstance(exc, OSError) and exc.errno in _UNWRITABLE


def describe(exc: BaseException) -> str:
    """The failure in words, without the file it concerns: shown where anyone may read it."""
    if not isinstance(exc, OSError) and isinstance(exc.__cause__, OSError):
        exc = exc.__cause__  # our own wrapper names the path; the cause says what failed
    return (exc.strerror or type(exc).__name__) if isinstance(exc, OSError) else str(exc)


def space_problem(folder: Path, min_free_bytes: int) -> BaseException | None:
    """Why a job stored in `folder` now could not complete (its filesystem is read-only, or has
    no more than `min_free_bytes` free), as the error a write would raise; None when it could."""
    stats = os.statvfs(folder)
    if stats.f_flag & os.ST_RDONLY:
        return OSError(errno.EROFS, os.strerror(errno.EROFS))
    free = stats.f_bavail * stats.f_frsize
    if free <= min_free_bytes:
        return OSError(
            errno.ENOSPC, f"{free // 2**20} MiB free on the data folder's disk, below the {min_free_bytes // 2**20} MiB kept free"
        )
    return None


def storage_error(exc: BaseException) -> ApiError:
    """The answer to a request that a storage failure stopped. It names no file: the server's
    paths are not the client's business (the server's log has them)."""
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if is_out_of_space(exc):
        return ApiError(507, "insufficient_storage", "the server's disk is full; try again later", headers=retry)
    return ApiError(503, "storage_unavailable", "the server cannot write to its data folder now; try again later", headers=retry)
