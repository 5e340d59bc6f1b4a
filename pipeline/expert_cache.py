"""The expert-output cache: every expert's output for every window, kept in an SQLite file, so
that a re-run (another fusion or compound method, an evaluation resumed, fusion weights fitted)
recomputes no expert.

An output is found by three things:
- the video's content (a SHA-256 of the file, streamed; remembered per path, size and mtime
  so that a video is read once, not once per run);
- the expert key: a hash of everything besides the video that decides the expert's outputs,
  namely its name and config (models, options, device), the sources of its module and of the
  cer.modalities modules it imports (for the face experts also core/faces.py and
  face_detectors.py), the window and
  sampling parameters, for experts that read face crops the face config and, for those that
  read the compound vocabulary, the vocabulary;
- the window's index (the windows follow from the video and the window parameters).

Caching is an `ExpertExecutor` around the real one, so neither the runner nor Ray know of it.
It is lazy: an expert is built (its model loaded, its Ray actor started) only once a chunk
misses one of its outputs, so a fully cached re-run loads no model. Outputs of a failed expert
are not kept: the next run tries again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cer.core.config import ExpertConfig, Profile
from cer.core.hashing import file_sha256
from cer.core.registry import evidence_about
from cer.core.types import Chunk, ExpertOutput, ExpertStatus, LabelEmbeddings
from cer.modalities.base import VocabularyExpert
from cer.modalities.factory import expert_class
from cer.pipeline.code_closure import module_closure
from cer.pipeline.execution import ExpertExecutor, is_failure
from cer.pipeline.result import jsonable

CACHE_FORMAT = 1  # part of every expert key: bumping it retires every stored output
DB_NAME = "experts.sqlite"
_RAY_FIELDS = {"num_cpus", "num_gpus"}  # where an expert runs, not what it answers

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outputs (
    video TEXT NOT NULL,         -- SHA-256 of the video file
    expert_key TEXT NOT NULL,
    window INTEGER NOT NULL,
    record TEXT NOT NULL,        -- JSON: probs, model_id, reason, evidence
    embedding BLOB,              -- .npy bytes of the PFSA image embedding, if any
    PRIMARY KEY (video, expert_key, window)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS experts (
    expert_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,   -- JSON of what the key hashes, for `cer cache info`
    status TEXT NOT NULL         -- JSON of the ExpertStatus, reported when the expert is not built
);
CREATE TABLE IF NOT EXISTS label_embeddings (  -- the text side of an expert's PFSA space, shared by its outputs
    expert_key TEXT PRIMARY KEY,
    npz BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
"""


def expert_description(profile: Profile, name: str) -> dict[str, Any]:
    """What an expert's outputs depend on besides the video (the expert key hashes this)."""
    cls = expert_class(name, profile.experts[name])
    # The sources of the expert's module and of the helpers it imports, so that editing any of
    # them retires its old outputs; the face experts also depend on how faces are found and cut.
    face_code = ("cer.core.faces", "cer.core.face_detectors", "cer.core.persons") if cls.uses_faces else ()
    per_person = evidence_about(name) in ("face", "frame")  # its outputs for a person's view depend on how persons are found
    code = module_closure(cls.__module__, face_code)
    return {
        "format": CACHE_FORMAT,
        "expert": name,
        "config": profile.experts[name].model_dump(mode="json", exclude=_RAY_FIELDS),
        "code": code,
        "windows": profile.windows.model_dump(mode="json"),
        "media": profile.media.model_dump(mode="json"),
        "faces": profile.faces.model_dump(mode="json") if cls.uses_faces else None,
        "persons": profile.persons.model_dump(mode="json") if per_person else None,
        "vocabulary": profile.compound.vocabulary if issubclass(cls, VocabularyExpert) else None,
    }


def expert_keys(profile: Profile) -> dict[str, str]:
    """The cache key of each enabled expert of `profile`, in profile order."""
    return {name: _key(expert_description(profile, name)) for name in profile.enabled_experts()}


def _key(description: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def _npy(array: np.ndarray | None) -> bytes | None:
    if array is None:
        return None
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _from_npy(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.load(io.BytesIO(blob), allow_pickle=False)


def _npz_labels(labels: LabelEmbeddings) -> bytes:
    buffer = io.BytesIO()
    arrays = {f"basic/{k}": v for k, v in labels.basic.items()} | {f"compound/{k}": v for k, v in labels.compound.items()}
    # Plain float arrays, read back with allow_pickle=False. Saying so here also tells type
    # checkers that no key of `arrays` is meant as savez's own `allow_pickle`.
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _labels_from_npz(blob: bytes) -> LabelEmbeddings:
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        parts: dict[str, dict[str, np.ndarray]] = {"basic": {}, "compound": {}}
        for entry in archive.files:
            side, label = entry.split("/", 1)
            parts[side][label] = archive[entry]
    return LabelEmbeddings(basic=parts["basic"], compound=parts["compound"])


@dataclass(frozen=True)
class ExpertEntries:
    """One expert configuration's share of the cache."""

    name: str
    key: str
    windows: int
    videos: int


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    size_bytes: int  # the database with its write-ahead log
    windows: int  # stored outputs, all experts together
    videos: int
    experts: list[ExpertEntries]


class ExpertCache:
    """The SQLite store. Opened lazily, one connection per process (a Ray worker pickles the
    store without its connection); WAL mode lets parallel batch workers write side by side."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        self._db: sqlite3.Connection | None = None
        self._hashes: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha256), this process
        self._labels: dict[str, LabelEmbeddings | None] = {}  # expert key -> shared by all its outputs

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_db": None}

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            # check_same_thread off: the service may build a pipeline in one thread and run it in another.
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        return self._db

    def video_id(self, path: str | Path) -> str:
        """The content hash of a video file; hashed again only when its size or mtime changed."""
        path = str(Path(path).resolve())
        stat = os.stat(path)
        known = self._hashes.get(path)
        if known is None:
            row = self.db.execute("SELECT size, mtime_ns, sha256 FROM files WHERE path = ?", (path,)).fetchone()
            known = tuple(row) if row else None
        if known is None or known[:2] != (stat.st_size, stat.st_mtime_ns):
            known = (stat.st_size, stat.st_mtime_ns, file_sha256(Path(path)))
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", (path, *known))
        self._hashes[path] = known
        return known[2]

    def remember_expert(self, key: str, description: Mapping[str, Any], status: ExpertStatus) -> None:
        """Record an expert once it is built, so that a run that never builds it can report its status."""
        with self.db:
            self.db.execute(
                "INSERT INTO experts (expert_key, name, description, status) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (expert_key) DO UPDATE SET status = excluded.status",
                (key, status.name, json.dumps(description, sort_keys=True), json.dumps(dataclasses.asdict(status))),
            )

    def status(self, key: str) -> ExpertStatus | None:
        row = self.db.execute("SELECT status FROM experts WHERE expert_key = ?", (key,)).fetchone()
        return ExpertStatus(**json.loads(row[0])) if row else None

    def store(self, video: str, key: str, outputs: Sequence[ExpertOutput]) -> None:
        rows = []
        for output in outputs:
            record = {"probs": output.probs, "model_id": output.model_id, "reason": output.reason, "evidence": jsonable(output.evidence)}
            rows.append((video, key, output.window_index, json.dumps(record), _npy(output.embedding)))
        labels = next((o.label_embeddings for o in outputs if o.label_embeddings is not None), None)
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?)", rows)
            if labels is not None and self._label_embeddings(key) is None:
                self.db.execute("INSERT OR IGNORE INTO label_embeddings VALUES (?, ?)", (key, _npz_labels(labels)))
                self._labels[key] = labels

    def load(self, video: str, key: str, windows: Iterable[int]) -> dict[int, ExpertOutput]:
        """The stored outputs of those of `windows` the cache holds, by window index."""
        wanted = set(windows)
        if not wanted:
            return {}
        rows = self.db.execute(
            "SELECT window, record, embedding FROM outputs WHERE video = ? AND expert_key = ? AND window BETWEEN ? AND ?",
            (video, key, min(wanted), max(wanted)),
        ).fetchall()
        found = {}
        for window, record, blob in rows:
            if window in wanted:
                fields = json.loads(record)
                embedding = _from_npy(blob)
                labels = self._label_embeddings(key) if embedding is not None else None
                found[window] = ExpertOutput(window_index=window, embedding=embedding, label_embeddings=labels, **fields)
        return found

    def _label_embeddings(self, key: str) -> LabelEmbeddings | None:
        if key not in self._labels:
            row = self.db.execute("SELECT npz FROM label_embeddings WHERE expert_key = ?", (key,)).fetchone()
            self._labels[key] = _labels_from_npz(row[0]) if row else None
        return self._labels[key]

    def info(self) -> CacheInfo:
        files = [self.path, self.path.with_name(DB_NAME + "-wal")]
        size = sum(p.stat().st_size for p in files if p.exists())
        if not self.path.exists():
            return CacheInfo(self.path, 0, 0, 0, [])
        rows = self.db.execute(
            "SELECT e.name, e.expert_key, COUNT(o.window), COUNT(DISTINCT o.video) FROM experts e "
            "LEFT JOIN outputs o ON o.expert_key = e.expert_key GROUP BY e.expert_key ORDER BY e.name"
        ).fetchall()
        windows, videos = self.db.execute("SELECT COUNT(*), COUNT(DISTINCT video) FROM outputs").fetchone()
        return CacheInfo(self.path, size, windows, videos, [ExpertEntries(*row) for row in rows])

    def clear(self, expert: str | None = None) -> int:
        """Forget every stored output (only `expert`'s, when named); returns how many were stored."""
        if not self.path.exists():
            return 0
        where, args = ("WHERE expert_key IN (SELECT expert_key FROM experts WHERE name = ?)", (expert,)) if expert else ("", ())
        with self.db:
            removed = self.db.execute(f"DELETE FROM outputs {where}", args).rowcount
            self.db.execute(f"DELETE FROM label_embeddings {where}", args)
            self.db.execute(f"DELETE FROM experts {where}", args)
            if expert is None:
                self.db.execute("DELETE FROM files")
        self.db.execute("VACUUM")  # give the space back to the disk
        self._labels.clear()
        return removed

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


BuildExecutor = Callable[[Mapping[str, ExpertConfig]], ExpertExecutor]  # builds an executor for these experts


@dataclass
class _Submitted:
    video: str  # its content hash (and the part, the person)
    wanted: list[str]  # the experts the chunk went to
    counted: bool  # whether its windows count in `from_cache` (the video's own; a person's view repeats them)
    cached: dict[str, list[ExpertOutput]]  # experts whose every output for the chunk was stored
    calls: list[tuple[ExpertExecutor, Any]]  # the built executors working on the chunk, with their handles


class CachingExecutor(ExpertExecutor):
    """Answers from the cache what it holds and sends the chunk to real experts for the rest,
    storing their answers. An executor for the experts that miss is built on the first miss;
    an expert missing later gets an executor of its own."""

    def __init__(
        self, experts: Mapping[str, ExpertConfig], descriptions: Mapping[str, Mapping[str, Any]], store: ExpertCache, build: BuildExecutor
    ) -> None:
        super().__init__()
        self.experts = dict(experts)
        self.descriptions = dict(descriptions)
        self.keys = {name: _key(description) for name, description in descriptions.items()}
        self.store = store
        self._build = build
        self._serving: dict[str, ExpertExecutor] = {}  # expert -> the built executor running it
        self.seconds = dict.fromkeys(self.experts, 0.0)
        self.from_cache = dict.fromkeys(self.experts, 0)

    def _serve(self, names: Sequence[str]) -> list[ExpertExecutor]:
        """The executors running `names`, building one for those that have none yet."""
        unserved = [name for name in names if name not in self._serving]
        if unserved:
            executor = self._build({name: self.experts[name] for name in unserved})
            statuses = executor.statuses
            for name in unserved:
                self._serving[name] = executor
                self.store.remember_expert(self.keys[name], self.descriptions[name], statuses[name])
        return list(dict.fromkeys(self._serving[name] for name in names))

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        found: dict[str, ExpertStatus] = {}
        for executor in dict.fromkeys(self._serving.values()):
            found.update(executor.statuses)
        for name in self.experts:
            if name not in found and (status := self.store.status(self.keys[name])) is not None:
                found[name] = status
        unknown = [name for name in self.experts if name not in found]
        if unknown:  # nothing of theirs was ever built (an empty video): build them to ask
            for executor in self._serve(unknown):
                found.update(executor.statuses)
        return {name: found[name] for name in self.experts}

    def submit(self, chunk: Chunk) -> _Submitted:
        video = self.store.video_id(chunk.video.path)
        if chunk.video.part_s is not None:  # a part's windows are numbered from its start, and its face tracks begin there
            video += "@{:g}-{:g}".format(*chunk.video.part_s)
        if chunk.person is not None:  # one person's view: their own outputs
            video += f"/person{chunk.person}"
        indices = chunk.window_indices
        wanted = [name for name in self.experts if chunk.wants(name)]
        cached = {}
        for name in wanted:
            stored = self.store.load(video, self.keys[name], indices)
            if len(stored) == len(indices):
                cached[name] = [stored[i] for i in indices]
        missing = [name for name in wanted if name not in cached]
        return _Submitted(video, wanted, chunk.person is None, cached, [(e, e.submit(chunk)) for e in self._serve(missing)])

    def collect(self, handle: _Submitted) -> dict[str, list[ExpertOutput]]:
        answers = dict(handle.cached)
        for name, outputs in handle.cached.items():
            if handle.counted:
                self.from_cache[name] += len(outputs)
        for executor, call in handle.calls:
            for name, outputs in executor.collect(call).items():
                self.seconds[name] = executor.seconds[name]
                if name in answers:  # this executor also runs experts whose outputs were cached
                    continue
                answers[name] = outputs
                if not any(is_failure(o) for o in outputs):
                    self.store.store(handle.video, self.keys[name], outputs)
        return {name: answers[name] for name in handle.wanted}

    def close(self) -> None:
        # Last built first: the first executor may own the Ray session the later ones borrow.
        for executor in reversed(list(dict.fromkeys(self._serving.values()))):
            executor.close()
        self._serving.clear()
        self.store.close()


def cached_executor(profile: Profile, build: BuildExecutor) -> ExpertExecutor:
    """`build(experts)` behind the cache when the profile enables it; else built right away."""
    experts = profile.enabled_experts()
    if not profile.cache.enabled:
        return build(experts)
    descriptions = {name: expert_description(profile, name) for name in experts}
    return CachingExecutor(experts, descriptions, ExpertCache(profile.expert_cache_path), build)


def describe(info: CacheInfo) -> str:
    """`cer cache info`: where the cache is, its size, and its share per expert configuration."""
    lines = [f"{info.path}: {info.size_bytes / 1e6:.1f} MB, {info.windows} window output(s) of {info.videos} video(s)"]
    if info.experts:
        lines.append(f"{'expert':<16} {'windows':>8} {'videos':>7}  key")
        lines += [f"{e.name:<16} {e.windows:>8} {e.videos:>7}  {e.key[:12]}" for e in info.experts]
    return "\n".join(lines)
