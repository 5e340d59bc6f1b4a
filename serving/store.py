"""The job store: one SQLite table in the data folder, in WAL mode so that the API's reads do
not wait for the workers' writes. Every state change is one transaction, so a crash at any
instant leaves each job in exactly one state, and `recover` at start-up puts it right.

States: queued -> running -> done | failed. A running job interrupted by a shutdown or a
crash goes back to queued and runs again from the start.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cer.core.config import CompoundMethod
from cer.core.engine import MAX_RUNS

JobStatus = Literal["queued", "running", "done", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- queue order
    id            TEXT NOT NULL UNIQUE,
    status        TEXT NOT NULL,
    filename      TEXT NOT NULL,      -- the client's name for the upload: shown, never a path
    media_type    TEXT NOT NULL,      -- the video's MIME type, for the page's player
    size_bytes    INTEGER NOT NULL,
    duration_s    REAL NOT NULL,
    compound      TEXT,               -- the basic-to-compound method asked for; NULL: the profile's
    created_at    REAL NOT NULL,      -- Unix seconds
    started_at    REAL,
    finished_at   REAL,
    windows_done  INTEGER NOT NULL DEFAULT 0,
    windows_total INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,  -- times a worker started it
    completions   INTEGER NOT NULL DEFAULT 0   -- times it ran to the end: 1 for every done job, or a bug
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
"""


@dataclass(frozen=True)
class NewJob:
    id: str
    filename: str
    media_type: str
    size_bytes: int
    duration_s: float
    compound: CompoundMethod | None  # only methods the API accepted are stored


@dataclass(frozen=True)
class JobRecord(NewJob):
    status: JobStatus
    created_at: float
    started_at: float | None
    finished_at: float | None
    windows_done: int
    windows_total: int
    error: str | None
    attempts: int
    completions: int


_COLUMNS = ", ".join(
    ("id", "filename", "media_type", "size_bytes", "duration_s", "compound", "status", "created_at", "started_at",
     "finished_at", "windows_done", "windows_total", "error", "attempts", "completions")
)  # fmt: skip


# The two ends a running job can be put to, by a worker or by `recover` after a crash.
_DONE = "status = 'done', finished_at = ?, windows_done = windows_total, completions = completions + 1"
_REQUEUED = "status = 'queued', started_at = NULL, windows_done = 0"
# A job whose runs were cut off MAX_RUNS times by the engine or by the server itself (a crash,
# a kill) fails instead of running again. A run stopped on purpose (the server stopping) or by
# the disk does not count.


def _record(row: sqlite3.Row | None) -> JobRecord | None:
    return JobRecord(**dict(row)) if row is not None else None


class JobStore:
    """Thread-safe: one connection shared under a lock (the workers and the API's thread pool
    all use it; SQLite serialises writers anyway).

    Opening it checks the file (sqlite3.DatabaseError when it is not a sound job store). A
    write that fails (a full disk, an I/O error) is remembered in `failure` until a write
    succeeds, so that readiness and uploads can tell while nothing else is being written."""

    def __init__(self, path: Path) -> None:
        self.failure: sqlite3.Error | None = None
        # autocommit (isolation_level=None): transactions are opened explicitly in `_transaction`
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL loses nothing when the process dies (only on power loss), which
            # is the failure the restart guarantee is about, and saves an fsync per progress update.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check()
        except BaseException:
            self._db.close()
            raise

    def _check(self) -> None:
        (verdict,) = self._db.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"damaged: {verdict}")
        self._db.execute(f"SELECT {_COLUMNS} FROM jobs LIMIT 0")  # a `jobs` table of another program's fails here

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    # SQLite may have rolled back already (it does on some SQLITE_FULL); a
                    # rollback that fails as well leaves the next BEGIN to fail and try again
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    self.failure = exc
                raise
            self.failure = None

    def _one(self, sql: str, *params: object) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def add(self, job: NewJob, capacity: int) -> bool:
        """Queue `job` unless `capacity` jobs are already queued or running; the check and the
        insert are one transaction, so concurrent uploads cannot overfill the queue."""
        with self._transaction() as db:
            (active,) = db.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()
            if active >= capacity:
                return False
            db.execute(
                "INSERT INTO jobs (id, filename, media_type, size_bytes, duration_s, compound, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)",
                (job.id, job.filename, job.media_type, job.size_bytes, job.duration_s, job.compound, time.time()),
            )
        return True

    def get(self, job_id: str) -> JobRecord | None:
        return _record(self._one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", job_id))

    def page(self, limit: int, offset: int) -> tuple[list[JobRecord], int]:
        """The newest jobs first, and how many there are in all."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq DESC LIMIT ? OFFSET ?", (limit, offset))
            records = [JobRecord(**dict(row)) for row in rows]
            (total,) = self._db.execute("SELECT count(*) FROM jobs").fetchone()
        return records, total

    def ids(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM jobs")]

    def counts(self) -> dict[JobStatus, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
        return {"queued": 0, "running": 0, "done": 0, "failed": 0, **{status: n for status, n in rows}}

    def mean_run_s(self, last: int = 20) -> float | None:
        """Mean run time of the last finished jobs, for Retry-After; None before the first."""
        row = self._one(
            "SELECT avg(finished_at - started_at) FROM (SELECT started_at, finished_at FROM jobs"
            " WHERE status = 'done' ORDER BY finished_at DESC LIMIT ?)",
            last,
        )
        return row[0] if row else None

    def claim_next(self) -> JobRecord | None:
        """Mark the oldest queued job running and return it (None when the queue is empty)."""
        with self._transaction() as db:
            row = db.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, windows_done = 0, attempts = attempts + 1"
                " WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1)"
                f" RETURNING {_COLUMNS}",
                (time.time(),),
            ).fetchone()
        return _record(row)

    def _update_running(self, job_id: str, assignments: str, *params: object) -> bool:
        """Change a running job; False when it is no longer running (deleted meanwhile)."""
        with self._transaction() as db:
            cursor = db.execute(f"UPDATE jobs SET {assignments} WHERE id = ? AND status = 'running'", (*params, job_id))
        return cursor.rowcount == 1

    def set_progress(self, job_id: str, done: int, total: int) -> bool:
        return self._update_running(job_id, "windows_done = ?, windows_total = ?", done, total)

    def finish(self, job_id: str) -> bool:
        return self._update_running(job_id, _DONE, time.time())

    def fail(self, job_id: str, error: str) -> bool:
        return self._update_running(job_id, "status = 'failed', finished_at = ?, error = ?", time.time(), error)

    def requeue(self, job_id: str, *, counted: bool = False) -> bool:
        """Back to the queue; `counted`: the cut-off run counts towards MAX_RUNS."""
        return self._update_running(job_id, _REQUEUED if counted else f"{_REQUEUED}, attempts = attempts - 1")

    def delete(self, job_id: str) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 1

    def recover(self, has_result: Callable[[str], bool]) -> dict[str, list[str]]:
        """At start-up, before any worker runs: every job left running by a crash either
        finished (its result.json exists, so it is done, not run again), goes back to the
        queue, or fails when the crashes used up its MAX_RUNS. Returns the ids of each kind."""
        recovered: dict[str, list[str]] = {"done": [], "queued": [], "failed": []}
        now = time.time()
        with self._transaction() as db:
            for job_id, attempts in db.execute("SELECT id, attempts FROM jobs WHERE status = 'running'").fetchall():
                if has_result(job_id):
                    db.execute(f"UPDATE jobs SET {_DONE} WHERE id = ?", (now, job_id))
                    recovered["done"].append(job_id)
                elif attempts >= MAX_RUNS:
                    error = f"the server stopped {attempts} times while running it (a crash or a kill); it is not run again"
                    db.execute("UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?", (now, error, job_id))
                    recovered["failed"].append(job_id)
                else:
                    db.execute(f"UPDATE jobs SET {_REQUEUED} WHERE id = ?", (job_id,))
                    recovered["queued"].append(job_id)
        return recovered

    def close(self) -> None:
        with self._lock:
            self._db.close()
