"""Drives one video through the whole pipeline: probe, windows, faces, experts, fusion, outputs."""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cer.core.chunks import iter_chunks
from cer.core.config import Profile, load_profile
from cer.core.face_presence import Sighting, seen_spans
from cer.core.faces import FaceTracker
from cer.core.labels import BASIC
from cer.core.media import probe
from cer.core.result import FacesRecord, Labels, Provenance, Result, Timings, WindowResult
from cer.core.speakers import VoiceVerdict
from cer.core.types import Chunk, ExpertOutput, SampledFrame, VideoInfo, Window
from cer.core.windows import analysed_part, make_windows
from cer.fusion.compound import to_compound
from cer.fusion.mhpf import MHPF, fuse
from cer.pipeline import result as results
from cer.pipeline.execution import ExpertExecutor
from cer.pipeline.executors import make_executor
from cer.pipeline.model_store import ensure_models
from cer.pipeline.outputs.folder import check_output_folder
from cer.pipeline.person_log import PersonLog
from cer.pipeline.persons import PersonViews, person_outputs, seen_enough, voice_verdict
from cer.pipeline.prefetch import Prefetcher
from cer.version import __version__, git_revision

Progress = Callable[[int, int], None]  # (windows done, windows in total)


@dataclass(frozen=True)
class SubmittedChunk:
    """A chunk and its persons' views, sent to the experts (`Pipeline.submit`)."""

    chunk: Chunk
    views: PersonViews
    handle: Any  # the executor's, for the chunk
    person_handles: dict[int, list[Any]]  # the executor's, for each person's views


@dataclass(frozen=True)
class AnsweredChunk:
    """A chunk with every expert's answers, and each person's answers on their own views."""

    chunk: Chunk
    answers: dict[str, list[ExpertOutput]]
    views: PersonViews
    own: dict[int, dict[str, list[ExpertOutput]]]  # person -> expert -> outputs (experts that read the person's own view)


class Pipeline:
    """Loads the models of a profile once and runs any number of videos through them."""

    def __init__(self, profile: Profile, executor: ExpertExecutor | None = None, *, start_experts: bool = True) -> None:
        """`start_experts` False defers starting the experts (Ray, their models) to the first
        run, which then decodes its first chunks meanwhile (`cer run`); a server starts them here."""
        self.profile = profile
        experts = profile.enabled_experts()
        # Fetched here, once, before any expert (a Ray actor each) starts and asks for them.
        ensure_models(profile)
        self.faces = FaceTracker(profile.faces, profile.cache_path, profile.persons)
        self.fusion = MHPF.build(list(experts), profile.fusion.heads, profile.fusion.weights, profile.fusion.temperatures)
        # Last: with Ray it starts processes, which nothing would stop if a step above failed.
        self._executor = executor
        if start_experts:
            self._executor = self.executor

    @property
    def executor(self) -> ExpertExecutor:
        """What runs the experts, started on first use."""
        if self._executor is None:
            self._executor = make_executor(self.profile)
        return self._executor

    @classmethod
    def from_profile(cls, name_or_path: str, **overrides: Any) -> Pipeline:
        """`Pipeline.from_profile("offline")`; keyword overrides are nested profile keys."""
        return cls(load_profile(name_or_path, overrides or None))

    def run(
        self,
        video: str | Path | VideoInfo,
        out_dir: str | Path | None = None,
        progress: Progress | None = None,
        *,
        start_s: float = 0.0,
        end_s: float | None = None,
    ) -> Result:
        """Process one video (a path, or what `probe` said of it, so a caller that probed first
        does not read the file twice); with `out_dir`, also write every output file there.
        `start_s`/`end_s` analyse a part of it (times stay the video's own)."""
        if out_dir is not None:
            check_output_folder(Path(out_dir))  # a folder that cannot be written fails before any decoding
        clock, cpu_clock = time.perf_counter(), time.process_time()
        info = video if isinstance(video, VideoInfo) else probe(video)
        probe_s = time.perf_counter() - clock
        cfg = self.profile.windows
        info = dataclasses.replace(info, part_s=analysed_part(info.duration_s, start_s, end_s))
        windows = make_windows(info.duration_s, info.fps, info.n_frames, cfg.length_s, cfg.hop_s, cfg.min_tail_s, info.part_s)
        self.faces.reset()
        stage_seconds = {"decode_s": 0.0, "faces_s": 0.0}
        sightings: list[Sighting] = []
        persons = PersonLog()
        # Decoding starts before the experts are asked for, so that a first run decodes while they start.
        decoded = Prefetcher(self._decoded(info, windows, stage_seconds, sightings, persons), self.profile.execution.chunks_in_flight)
        try:
            started, cpu_started = time.perf_counter(), time.process_time()
            executor = self.executor  # started here on a first run (Ray, the models), while the first chunks decode
            start_s, start_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
            expert_seconds_before = dict(executor.seconds)
            from_cache_before = dict(executor.from_cache)
            if progress:
                progress(0, len(windows))
            records: list[WindowResult] = []
            fusion_s = 0.0
            for answered in self._answered_chunks(decoded):
                started = time.perf_counter()
                records += [
                    self._window_record(window, position, answered.answers) for position, window in enumerate(answered.chunk.windows)
                ]
                for person, record in self.person_records(answered):
                    persons.scored(person, record)
                fusion_s += time.perf_counter() - started
                if progress:
                    progress(len(records), len(windows))
        finally:
            decoded.close()
        experts_s = {name: seconds - expert_seconds_before.get(name, 0.0) for name, seconds in executor.seconds.items()}
        from_cache = {name: count - from_cache_before.get(name, 0) for name, count in executor.from_cache.items()}
        timings = Timings(
            probe_s=probe_s,
            start_s=start_s,
            **stage_seconds,
            experts_s=experts_s,
            fusion_s=fusion_s,
            outputs_s=0.0,
            total_s=time.perf_counter() - clock,
            cpu_s=time.process_time() - cpu_clock - start_cpu_s,
        )
        result = self.result(info, records, persons, sightings, timings, from_cache)
        if out_dir is not None:
            from cer.pipeline.outputs import write_outputs

            result = write_outputs(result, Path(out_dir))
        return result

    def labels(self) -> Labels:
        """The labels its verdicts name: the basic emotions and the profile's compound vocabulary."""
        vocabulary = self.profile.compound.vocabulary
        return Labels(basic=list(BASIC), compound=list(vocabulary), pairs=dict(vocabulary))

    def result(
        self,
        info: VideoInfo,
        records: list[WindowResult],
        persons: PersonLog,
        sightings: list[Sighting],
        timings: Timings,
        from_cache: dict[str, int] | None = None,
    ) -> Result:
        """The Result of a video (or a stream) whose windows were decided: `records`, the
        persons' records in `persons`, whether each sampled frame showed a face (`sightings`)."""
        vocabulary = list(self.profile.compound.vocabulary)
        from_cache = from_cache or {}
        return Result(
            cer=Provenance(version=__version__, git=git_revision()),
            video=results.video_record(info),
            profile=self.profile.name,
            labels=self.labels(),
            experts={name: results.expert_record(status, from_cache.get(name)) for name, status in self.executor.statuses.items()},
            fusion=results.fusion_record(self.fusion, self.profile.fusion.weights),
            faces=FacesRecord(
                detector=self.faces.detector_name,
                tracks=self.faces.track_count,
                seen=[(start, end) for start, end in seen_spans(sightings, info.n_frames)],
            ),
            windows=records,
            summary=results.summary(records, vocabulary),
            persons=persons.persons(vocabulary),
            timings=timings,
        )

    def _window_record(self, window: Window, position: int, answers: dict[str, list[ExpertOutput]]) -> WindowResult:
        """The fused, compound-scored record of the chunk's `position`-th window."""
        return self._fused_record(window, {name: outs[position] for name, outs in answers.items()})

    def person_records(self, answered: AnsweredChunk) -> list[tuple[int, WindowResult]]:
        """(person, record) of each person in each window of the chunk where they were seen
        enough, in window order."""
        config = self.profile.persons
        chunk = answered.chunk
        records = []
        for position, window in enumerate(chunk.windows):
            outputs = {name: outs[position] for name, outs in answered.answers.items()}
            seen = seen_enough(chunk.frames_in(window), config.min_share)
            in_window = [person for person in answered.views.persons if person in seen]
            voice = voice_verdict(window, chunk, in_window, outputs, config)
            for person in in_window:
                own = {name: outs[position] for name, outs in answered.own.get(person, {}).items()}
                records.append((person, self._fused_record(window, person_outputs(person, outputs, own, voice), voice)))
        return records

    def _fused_record(self, window: Window, outputs: dict[str, ExpertOutput], voice: VoiceVerdict | None = None) -> WindowResult:
        """The fused, compound-scored record of a window from its experts' outputs."""
        fused = fuse(self.fusion, {name: out.probs for name, out in outputs.items()})
        compound_cfg = self.profile.compound
        compound = (
            to_compound(
                fused.probs,
                compound_cfg.vocabulary,
                compound_cfg.method,
                outputs,
                compound_cfg.pfsa.temperature,
                compound_cfg.pfsa.compound_phrase_weight,
                compound_cfg.basic_only_below,
            )
            if fused.probs
            else None
        )
        return results.window_result(window, outputs, fused, compound, compound_cfg.method, voice)

    def _decoded(
        self, info: VideoInfo, windows: list[Window], stage_seconds: dict[str, float], sightings: list[Sighting], persons: PersonLog
    ) -> Iterator[Chunk]:
        """The video's chunks, decoded and with their faces tracked (run ahead in a thread of
        its own); adds the time spent to `stage_seconds`, whether each sampled frame showed a
        face to `sightings` and the persons' boxes to `persons`."""
        chunks = iter_chunks(info, windows, self.profile.media)
        while True:
            started = time.perf_counter()
            work = next(chunks, None)
            stage_seconds["decode_s"] += time.perf_counter() - started
            if work is None:
                return
            stage_seconds["faces_s"] += self.find_faces(work.new_frames, sightings, persons)
            yield work.chunk

    def find_faces(self, frames: list[SampledFrame], sightings: list[Sighting], persons: PersonLog) -> float:
        """Find and track the faces on newly decoded frames (in place), noting whether each
        showed a face in `sightings` and the persons' boxes in `persons`; the seconds it took."""
        started = time.perf_counter()
        self.faces.process(frames)
        sightings.extend((frame.frame_index, bool(frame.faces)) for frame in frames)
        persons.saw(frames)
        return time.perf_counter() - started

    def _answered_chunks(self, chunks: Iterable[Chunk]) -> Iterator[AnsweredChunk]:
        """Each chunk with every expert's answers, and each person's own, in order. A chunk (and
        its persons' views) is sent to the experts as soon as it is decoded and collected once
        `chunks_in_flight` are out, so the experts work on several chunks at once (and batch
        them) while memory stays a few chunks deep."""
        in_flight: deque[SubmittedChunk] = deque()
        pending = iter(chunks)
        while True:
            chunk = next(pending, None)
            if chunk is not None:
                in_flight.append(self.submit(chunk))
            if not in_flight:
                return
            if chunk is None or len(in_flight) >= self.profile.execution.chunks_in_flight:
                yield self.collect(in_flight.popleft())

    def submit(self, chunk: Chunk) -> SubmittedChunk:
        """Send a chunk to the experts it names (every expert by default), and each person's
        views of it to the experts that read a person on their own."""
        experts = list(chunk.experts) if chunk.experts is not None else list(self.profile.enabled_experts())
        views = PersonViews.of(chunk, experts, self.profile.persons)
        handle = self.executor.submit(chunk)
        handles = {person: [self.executor.submit(view) for view in person_views] for person, person_views in views.views.items()}
        return SubmittedChunk(chunk, views, handle, handles)

    def collect(self, submitted: SubmittedChunk) -> AnsweredChunk:
        """The answers to a submitted chunk and its persons' views (in submission order)."""
        answers = self.executor.collect(submitted.handle)
        own = {
            person: {name: outputs for handle in handles for name, outputs in self.executor.collect(handle).items()}
            for person, handles in submitted.person_handles.items()
        }
        return AnsweredChunk(submitted.chunk, answers, submitted.views, own)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
