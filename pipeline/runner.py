"""Drives one video through the whole pipeline: probe, windows, faces, experts, fusion, outputs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fusion.compound import to_compound
from fusion.mhpf import MHPF, fuse
from pipeline.chunks import iter_chunks
from pipeline.config import Profile, load_profile
from pipeline.execution import ExpertExecutor, InProcessExecutor
from pipeline.faces import FaceTracker
from pipeline.labels import BASIC
from pipeline.media import probe
from pipeline import result as results
from pipeline.windows import make_windows

Progress = Callable[[int, int], None]  # (windows done, windows in total)


class Pipeline:
    """Loads the models of a profile once and runs any number of videos through them."""

    def __init__(self, profile: Profile, executor: ExpertExecutor | None = None) -> None:
        self.profile = profile
        experts = {name: cfg for name, cfg in profile.experts.items() if cfg.enabled}
        self.executor = executor or InProcessExecutor(experts, profile.cache_path)
        self.faces = FaceTracker(profile.faces, profile.cache_path)
        weights = profile.fusion.weights
        self.fusion = MHPF.load(Path(weights), list(experts)) if weights else MHPF(list(experts), profile.fusion.heads)

    @classmethod
    def from_profile(cls, name_or_path: str, **overrides: Any) -> Pipeline:
        """`Pipeline.from_profile("offline")`; keyword overrides are nested profile keys."""
        return cls(load_profile(name_or_path, overrides or None))

    def run(self, video: str | Path, out_dir: str | Path | None = None, progress: Progress | None = None) -> dict[str, Any]:
        """Process one video; with `out_dir`, also write every output file there."""
        timings: dict[str, Any] = {}
        clock = time.perf_counter()
        info = probe(video)
        timings["probe_s"] = time.perf_counter() - clock
        cfg = self.profile.windows
        windows = make_windows(info.duration_s, info.fps, info.n_frames, cfg.length_s, cfg.hop_s, cfg.min_tail_s)
        vocabulary = self.profile.compound.vocabulary
        expert_seconds_before = dict(self.executor.seconds)
        self.faces.reset()
        records: list[dict[str, Any]] = []
        decode_s = faces_s = fusion_s = 0.0
        chunks = iter_chunks(info, windows, self.profile.media)
        while True:
            started = time.perf_counter()
            work = next(chunks, None)
            decode_s += time.perf_counter() - started
            if work is None:
                break
            started = time.perf_counter()
            self.faces.process(work.new_frames)
            faces_s += time.perf_counter() - started
            answers = self.executor.run(work.chunk)
            started = time.perf_counter()
            for position, window in enumerate(work.chunk.windows):
                outputs = {name: outs[position] for name, outs in answers.items()}
                fused = fuse(self.fusion, {name: out.probs for name, out in outputs.items()})
                method = self.profile.compound.method
                compound = to_compound(fused.probs, vocabulary, method) if fused.probs else None
                records.append(results.window_record(window, outputs, fused, compound, method))
            fusion_s += time.perf_counter() - started
            if progress:
                progress(len(records), len(windows))
        timings.update(decode_s=decode_s, faces_s=faces_s, fusion_s=fusion_s)
        timings["experts_s"] = {
            name: seconds - expert_seconds_before.get(name, 0.0) for name, seconds in self.executor.seconds.items()
        }
        document = {
            "schema": results.SCHEMA,
            "video": results.video_record(info),
            "profile": self.profile.name,
            "labels": {"basic": list(BASIC), "compound": list(vocabulary), "pairs": {k: list(v) for k, v in vocabulary.items()}},
            "experts": {name: results.expert_record(status) for name, status in self.executor.statuses.items()},
            "faces": {"detector": self.faces.detector_name, "tracks": self.faces.track_count},
            "windows": records,
            "summary": results.summary(records, list(vocabulary)),
            "timings": timings,
        }
        timings["outputs_s"] = 0.0
        timings["total_s"] = time.perf_counter() - clock
        if out_dir is not None:
            from pipeline.outputs import write_outputs

            write_outputs(document, Path(out_dir))
        return document

    def close(self) -> None:
        self.executor.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
