"""Every expert's output for every window of a corpus's videos, from the expert-output cache.

Videos whose outputs are all cached are not decoded again; the others go through the pipeline
once (with Ray, as `cer batch` runs them: several videos at a time), which fills the cache.
That makes an evaluation resumable, and a second evaluation with another fusion or compound
method free of expert work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cer.core.config import Profile
from cer.core.labels import BASIC
from cer.core.media import probe
from cer.core.progress import ProgressBar
from cer.core.types import ExpertOutput, VideoInfo, Window
from cer.core.windows import make_windows
from cer.pipeline.executors import choose_engine
from cer.pipeline.expert_cache import ExpertCache, expert_keys

NOT_CACHED = "no cached output: the expert failed on this window (see the video's result)"


@dataclass
class VideoExperts:
    """One video's windows and every expert's output for each of them."""

    path: Path
    n_frames: int
    windows: list[Window]
    outputs: dict[str, list[ExpertOutput]]  # expert -> one output per window, in window order

    @property
    def spans(self) -> list[tuple[int, int]]:
        return [(w.start_frame, w.end_frame) for w in self.windows]

    def probs(self, experts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """[windows, experts, 8] probabilities (0 where absent) and the [windows, experts] presence mask."""
        probs = np.zeros((len(self.windows), len(experts), len(BASIC)))
        present = np.zeros((len(self.windows), len(experts)), dtype=bool)
        for m, name in enumerate(experts):
            for w, output in enumerate(self.outputs[name]):
                if output.probs is not None:
                    probs[w, m], present[w, m] = output.probs, True
        return probs, present


def _windows(video: Path, profile: Profile) -> tuple[VideoInfo, list[Window]]:
    info = probe(video)
    cfg = profile.windows
    return info, make_windows(info.duration_s, info.fps, info.n_frames, cfg.length_s, cfg.hop_s, cfg.min_tail_s)


def with_cache(profile: Profile) -> Profile:
    """`profile` with the expert-output cache on: evaluations and fitting read from it."""
    return profile.model_copy(update={"cache": profile.cache.model_copy(update={"enabled": True})})


def _compute(videos: Mapping[Path, VideoInfo], profile: Profile, work_dir: Path) -> list[str]:
    """Run the pipeline over `videos` (what `probe` said of each), filling the cache; returns
    one line per failed video.
    With Ray this is `cer batch`, which also writes each video's outputs under `work_dir`; in
    process only the cache is filled (`cer run` or `cer batch` give the per-video files later,
    from the cache, at no expert cost)."""
    if choose_engine(profile.execution, many_videos=True) == "ray":
        from cer.pipeline.batch import run_batch  # deferred: imports Ray

        rows = run_batch([str(v) for v in videos], work_dir, profile, force=True)
        return [f"{row.path}: {row.error}" for row in rows if row.status == "failed"]
    from cer.pipeline.runner import Pipeline

    failures = []
    with Pipeline(profile) as pipeline:
        for video in ProgressBar(list(videos), desc="eval: running the experts", unit="videos"):
            try:
                pipeline.run(videos[video])  # probed already: read once
            except Exception as exc:  # noqa: BLE001 - as in a batch: recorded, and the other videos go on
                failures.append(f"{video}: {type(exc).__name__}: {exc}")
    return failures


def _read(store: ExpertCache, video: Path, windows: list[Window], keys: dict[str, str]) -> dict[str, dict[int, ExpertOutput]]:
    digest = store.video_id(video)
    return {name: store.load(digest, key, [w.index for w in windows]) for name, key in keys.items()}


def collect(videos: Sequence[Path], profile: Profile, work_dir: Path) -> tuple[dict[Path, VideoExperts], list[str]]:
    """Each video's expert outputs, computing what the cache lacks; and the failures (one line
    per video the pipeline could not process: its windows count as having no prediction)."""
    profile = with_cache(profile)
    store = ExpertCache(profile.expert_cache_path)
    keys = expert_keys(profile)
    plans: dict[Path, tuple[VideoInfo, list[Window]]] = {}
    stored: dict[Path, dict[str, dict[int, ExpertOutput]]] = {}
    # Probing and hashing every video of a corpus takes minutes on the first evaluation.
    for video in ProgressBar(list(dict.fromkeys(videos)), desc="eval: reading the videos", unit="videos"):
        plans[video] = _windows(video, profile)
        stored[video] = _read(store, video, plans[video][1], keys)
    todo = [video for video, found in stored.items() if any(len(f) < len(plans[video][1]) for f in found.values())]
    failures = _compute({video: plans[video][0] for video in todo}, profile, work_dir) if todo else []
    stored.update({video: _read(store, video, plans[video][1], keys) for video in todo})
    store.close()
    data = {}
    for video, (info, windows) in plans.items():
        outputs = {
            name: [found.get(w.index) or ExpertOutput(w.index, None, "none", reason=NOT_CACHED) for w in windows]
            for name, found in stored[video].items()
        }
        data[video] = VideoExperts(video, info.n_frames, windows, outputs)
    return data, failures
