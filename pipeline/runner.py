"""Drives one video through the whole pipeline: probe, windows, faces, experts, fusion, outputs."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cer.fusion.compound import to_compound
from cer.fusion.mhpf import MHPF, fuse
from cer.pipeline import result as results
from cer.pipeline.chunks import ChunkWork, iter_chunks
from cer.pipeline.config import Profile, load_profile
from cer.pipeline.execution import ExpertExecutor
from cer.pipeline.executors import make_executor
from cer.pipeline.face_presence import Sighting, seen_spans
from cer.pipeline.faces import FaceTracker
from cer.pipeline.labels import BASIC
from cer.pipeline.media import probe
from cer.pipeline.model_store import ensure_models
from cer.pipeline.outputs.folder import check_output_folder
from cer.pipeline.types import Chunk, ExpertOutput, VideoInfo
from cer.pipeline.windows import make_windows
from cer.version import __version__, git_revision

Progress = Callable[[int, int], None]  # (windows done, windows in total)


class Pipeline:
    """Loads the models of a profile once and runs any number of videos through them."""

    def __init__(self, profile: Profile, executor: ExpertExecutor | None = None) -> None:
        self.profile = profile
        experts = profile.enabled_experts()
        # Fetched here, once, before any expert (a Ray actor each) starts and asks for them.
        ensure_models(profile)
        self.faces = FaceTracker(profile.faces, profile.cache_path)
        self.fusion = MHPF.build(list(experts), profile.fusion.heads, profile.fusion.weights, profile.fusion.temperatures)
        # Last: with Ray it starts processes, which nothing would stop if a step above failed.
        self.executor = executor or make_executor(profile)

    @classmethod
    def from_profile(cls, name_or_path: str, **overrides: Any) -> Pipeline:
        """`Pipeline.from_profile("offline")`; keyword overrides are nested profile keys."""
        return cls(load_profile(name_or_path, overrides or None))

    def run(self, video: str | Path | VideoInfo, out_dir: str | Path | None = None, progress: Progress | None = None) -> dict[str, Any]:
        """Process one video (a path, or what `probe` said of it, so a caller that probed first
        does not read the file twice); with `out_dir`, also write every output file there."""
        if out_dir is not None:
            check_output_folder(Path(out_dir))  # a folder that cannot be written fails before any decoding
        timings: dict[str, Any] = {}
        clock = time.perf_counter()
        info = video if isinstance(video, VideoInfo) else probe(video)
        timings["probe_s"] = time.perf_counter() - clock
        cfg = self.profile.windows
        windows = make_windows(info.duration_s, info.fps, info.n_frames, cfg.length_s, cfg.hop_s, cfg.min_tail_s)
        vocabulary = self.profile.compound.vocabulary
        expert_seconds_before = dict(self.executor.seconds)
        from_cache_before = dict(self.executor.from_cache)
        self.faces.reset()
        records: list[dict[str, Any]] = []
        stage_seconds = {"decode_s": 0.0, "faces_s": 0.0}
        sightings: list[Sighting] = []
        fusion_s = 0.0
        if progress:
            progress(0, len(windows))
        chunks = iter_chunks(info, windows, self.profile.media)
        for chunk, answers in self._answered_chunks(chunks, stage_seconds, sightings):
            started = time.perf_counter()
            for position, window in enumerate(chunk.windows):
                outputs = {name: outs[position] for name, outs in answers.items()}
                fused = fuse(self.fusion, {name: out.probs for name, out in outputs.items()})
                method, pfsa = self.profile.compound.method, self.profile.compound.pfsa
                compound = (
                    to_compound(
                        fused.probs,
                        vocabulary,
                        method,
                        outputs,
                        pfsa.temperature,
                        pfsa.compound_phrase_weight,
                        self.profile.compound.basic_only_below,
                    )
                    if fused.probs
                    else None
                )
                records.append(results.window_record(window, outputs, fused, compound, method))
            fusion_s += time.perf_counter() - started
            if progress:
                progress(len(records), len(windows))
        timings.update(stage_seconds, fusion_s=fusion_s)
        timings["experts_s"] = {name: seconds - expert_seconds_before.get(name, 0.0) for name, seconds in self.executor.seconds.items()}
        from_cache = {name: count - from_cache_before.get(name, 0) for name, count in self.executor.from_cache.items()}
        document = {
            "schema": results.SCHEMA,
            "cer": {"version": __version__, "git": git_revision()},
            "video": results.video_record(info),
            "profile": self.profile.name,
            "labels": {"basic": list(BASIC), "compound": list(vocabulary), "pairs": {k: list(v) for k, v in vocabulary.items()}},
            "experts": {name: results.expert_record(status, from_cache.get(name)) for name, status in self.executor.statuses.items()},
            "fusion": results.fusion_record(self.fusion, self.profile.fusion.weights),
            "faces": {
                "detector": self.faces.detector_name,
                "tracks": self.faces.track_count,
                "seen": seen_spans(sightings, info.n_frames),
            },
            "windows": records,
            "summary": results.summary(records, list(vocabulary)),
            "timings": timings,
        }
        timings["outputs_s"] = 0.0
        timings["total_s"] = time.perf_counter() - clock
        if out_dir is not None:
            from cer.pipeline.outputs import write_outputs

            write_outputs(document, Path(out_dir))
        return document

    def _answered_chunks(
        self, chunks: Iterator[ChunkWork], stage_seconds: dict[str, float], sightings: list[Sighting]
    ) -> Iterator[tuple[Chunk, dict[str, list[ExpertOutput]]]]:
        """Each chunk with every expert's answers, in order. A chunk is sent to the experts as
        soon as its faces are known and collected once `chunks_in_flight` are out, so decoding
        the next chunk overlaps the experts' work while memory stays a few chunks deep. Whether
        each sampled frame showed a face is added to `sightings`."""
        in_flight: deque[tuple[Chunk, Any]] = deque()
        while True:
            started = time.perf_counter()
            work = next(chunks, None)
            stage_seconds["decode_s"] += time.perf_counter() - started
            if work is not None:
                started = time.perf_counter()
                self.faces.process(work.new_frames)
                stage_seconds["faces_s"] += time.perf_counter() - started
                sightings.extend((frame.frame_index, bool(frame.faces)) for frame in work.new_frames)
                in_flight.append((work.chunk, self.executor.submit(work.chunk)))
            if not in_flight:
                return
            if work is None or len(in_flight) >= self.profile.execution.chunks_in_flight:
                chunk, handle = in_flight.popleft()
                yield chunk, self.executor.collect(handle)

    def close(self) -> None:
        self.executor.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
