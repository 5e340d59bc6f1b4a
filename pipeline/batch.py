"""`cer batch`: many videos through shared Ray actor pools, each video's outputs in a folder
of its own.

Design. The driver (this process) lists the videos and skips those whose folder already
holds a result.json (written last, so it marks a complete folder). The rest go one at a time
to `jobs` video workers, Ray actors that each do for one video what `cer run` does (decode,
faces, fusion, outputs) while sending its chunks to an expert pool. Two workers share each
pool, so every expert has the other video's chunks to work on while one video decodes or
writes its outputs. A worker that finishes a video gets the next one. Memory stays bounded
whatever the videos' lengths: a worker holds only its chunks in flight. A video that fails
(a corrupt file, a crashed worker) becomes a row of failures.csv and the others go on. A video
cut off by the engine (an expert actor that Ray gave up, `EngineFault`) is no fault of its own:
the dead actors are started again and the video runs again, MAX_RUNS times at most, so that
no video is written with an expert missing.
summary.csv and failures.csv are written at the end, also when interrupted; not_videos.csv, at
the start, lists the files of the input folders that are not videos (the first few are also
named on stderr).

Ray starts only when it pays (`batch_engine`): a few short videos on a CPU machine, with no
parallel jobs asked for, run one after another in this process, as `cer run` would run them,
since starting Ray and its actors takes longer (about 15 s on two cores) than such a batch.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayError

from cer.core.config import Engine, Profile
from cer.core.engine import MAX_RUNS, EngineFault
from cer.core.media import MediaError, probe
from cer.core.progress import ProgressBar
from cer.core.result import Result, load_result
from cer.pipeline.batch_inputs import SkippedFile, output_folder, scan_inputs
from cer.pipeline.executors import attached_executor, choose_engine, with_engine
from cer.pipeline.model_store import ensure_models
from cer.pipeline.outputs.atomic import atomic_open
from cer.pipeline.ray_executor import ExpertPool, PoolAddress, actor_resources, pool_demand, pools_that_fit
from cer.pipeline.ray_runtime import Built, actor_handle, cluster_resources, error_line, get_raising_cause, ray_session
from cer.pipeline.runner import Pipeline

NOT_VIDEOS_CSV = "not_videos.csv"
SKIPPED_SHOWN = 10  # files named on stderr; not_videos.csv has them all

log = logging.getLogger(__name__)


@dataclass
class VideoRow:
    """One line of summary.csv."""

    path: str
    output: str  # the video's output folder
    status: str  # done; skipped (finished by an earlier run); failed; pending (not reached)
    duration_s: float | None = None
    windows: int | None = None
    decision: str | None = None  # the video's decision, as every view writes it
    wall_s: float | None = None  # time this run spent on the video
    error: str | None = None

    @classmethod
    def from_result(cls, video: str, folder: str, result: Result, status: str, wall_s: float | None = None) -> VideoRow:
        return cls(video, folder, status, result.video.duration_s, result.summary.n_windows, result.decision.text, wall_s)


class _VideoWorker:
    """The body of one video worker: a Pipeline whose experts are a shared pool's actors."""

    def __init__(self, profile: Profile, pool: PoolAddress) -> None:
        self._make = lambda: Pipeline(profile, executor=attached_executor(profile, pool))
        self.pipeline = Built(self._make)

    def ready(self) -> None:
        """Raises what stopped the pipeline's build (a model that cannot load); an expert actor
        that died meanwhile is left to the first video, which is then run again."""
        with suppress(EngineFault):
            self.pipeline.get()

    def _pipeline(self) -> Pipeline:
        try:
            return self.pipeline.get()
        except EngineFault:  # the pool's dead actors may have been started again since
            self.pipeline = Built(self._make)
            return self.pipeline.get()

    def process(self, video: str, folder: str) -> VideoRow:
        return _video_row(self._pipeline, video, folder)


def _video_row(pipeline: Callable[[], Pipeline], video: str, folder: str) -> VideoRow:
    """Run one video on `pipeline()`, into `folder`: its summary row, done or failed."""
    started = time.perf_counter()
    try:
        result = pipeline().run(video, folder)
    except EngineFault:
        raise  # not the video's fault: the driver starts the engine again and reruns it
    except Exception as exc:  # noqa: BLE001 - recorded in failures.csv; the batch goes on
        return VideoRow(video, folder, "failed", wall_s=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
    return VideoRow.from_result(video, folder, result, "done", time.perf_counter() - started)


SMALL_BATCH = 4  # videos: up to this many are probed to see whether Ray pays for itself


def batch_engine(profile: Profile, todo: Sequence[tuple[Path, Path]], jobs: int | None) -> Engine:
    """Ray, unless the profile names the engine, or the batch is a few short videos with no
    parallel jobs asked for, on a machine where `cer run` would not start Ray for their length
    (no GPU, no cluster): then in this process. Says which, and why, on the log."""
    engine = profile.execution.engine
    if engine == "auto":
        if (jobs or 1) > 1 or len(todo) > SMALL_BATCH:
            engine = "ray"
        else:
            engine = choose_engine(profile.execution, video_s=sum(_duration(video) for video, _ in todo))
        how = "in this process, one after another (starting Ray would take longer)" if engine == "inprocess" else "on Ray"
        log.info("%d video(s) %s", len(todo), how)
    return engine


def _duration(video: Path) -> float:
    try:
        return probe(video).duration_s
    except MediaError:
        return 0.0  # it fails when its turn comes, with its reason


def _process_here(todo: Sequence[tuple[Path, Path]], profile: Profile) -> Iterator[VideoRow]:
    """The videos one after another on one in-process pipeline, models loaded once."""
    with Pipeline(with_engine(profile, "inprocess"), start_experts=False) as pipeline:
        for video, folder in todo:
            yield _video_row(lambda: pipeline, str(video), str(folder))


@dataclass(frozen=True)
class Lanes:
    jobs: int  # videos processed at once, one worker each
    pools: int  # expert pools the workers share
    worker_cpus: float  # CPUs each worker holds: decoding and face detection keep about one busy


def plan_lanes(videos: int, jobs: int | None, demand: Mapping[str, float], cluster: Mapping[str, float]) -> Lanes:
    """By default one video per CPU; a pool per two workers, as many as the GPUs hold."""
    jobs = jobs or max(1, min(videos, int(cluster["CPU"])))
    pools = max(1, pools_that_fit(demand, cluster, math.ceil(jobs / 2)))
    cpus_left = max(0.0, cluster["CPU"] - pools * demand["CPU"])
    return Lanes(jobs, pools, min(1.0, cpus_left / jobs))


def _start_workers(profile: Profile, jobs: int | None, videos: int) -> tuple[list[ActorHandle], list[ExpertPool]]:
    ensure_models(profile)  # fetched once here, not by every pool's actors at once
    experts = profile.enabled_experts()
    cluster = cluster_resources()
    lanes = plan_lanes(videos, jobs, pool_demand(actor_resources(experts, cluster)), cluster)
    pools: list[ExpertPool] = []
    workers: list[ActorHandle] = []
    try:
        pools = [ExpertPool.launch(experts, profile.expert_context, profile.execution) for _ in range(lanes.pools)]
        for pool in pools:  # the pools load their models side by side
            pool.wait_ready()
        worker_class = ray.remote(_VideoWorker).options(num_cpus=lanes.worker_cpus, max_restarts=profile.execution.max_restarts)
        workers = [actor_handle(worker_class.remote(profile, pools[i % lanes.pools].address)) for i in range(lanes.jobs)]
        get_raising_cause([worker.ready.remote() for worker in workers])
    except BaseException:
        _stop(workers, pools)
        raise
    return workers, pools


def _stop(workers: list[ActorHandle], pools: list[ExpertPool]) -> None:
    for worker in workers:
        ray.kill(worker, no_restart=True)
    for pool in pools:
        pool.kill()


def _hand_out(todo: Sequence[tuple[Path, Path]], workers: list[ActorHandle], pools: Sequence[ExpertPool]) -> Iterator[VideoRow]:
    """Give each worker a video; as each finishes, yield its row and give that worker the next."""
    waiting = deque(todo)
    running: dict[Any, tuple[ActorHandle, Path, Path]] = {}
    runs: Counter[Path] = Counter()

    def start(worker: ActorHandle) -> None:
        if waiting:
            video, folder = waiting.popleft()
            runs[video] += 1
            running[worker.process.remote(str(video), str(folder))] = (worker, video, folder)

    for worker in workers:
        start(worker)
    while running:
        [done], _ = ray.wait(list(running))
        worker, video, folder = running.pop(done)
        try:
            row = ray.get(done)
        except RayError as exc:  # the worker process itself died (a crash in a decoder, out of memory); Ray restarts it
            fault = _engine_fault(exc)
            if fault is None:
                row = VideoRow(str(video), str(folder), "failed", error=error_line(exc))
            elif runs[video] < MAX_RUNS:
                log.warning("cer batch: %s: %s; the experts start again and the video runs again", video, fault)
                for pool in pools:
                    pool.revive()
                waiting.appendleft((video, folder))
                start(worker)
                continue
            else:
                row = VideoRow(str(video), str(folder), "failed", error=f"EngineFault in each of {runs[video]} runs; the last: {fault}")
        yield row
        start(worker)


def _engine_fault(error: RayError) -> EngineFault | None:
    """The fault of the experts' engine that stopped the video worker, if that is what did."""
    cause = getattr(error, "cause", None)  # what the worker raised (a RayTaskError's)
    return cause if isinstance(cause, EngineFault) else None


def _process(
    todo: Sequence[tuple[Path, Path]], profile: Profile, jobs: int | None, batch_counts: dict[str, tuple[int, int]] | None
) -> Iterator[VideoRow]:
    workers, pools = _start_workers(profile, jobs, len(todo))
    try:
        yield from _hand_out(todo, workers, pools)
        if batch_counts is not None:
            batch_counts.update(_pool_batch_counts(pools))
    finally:
        _stop(workers, pools)


def _pool_batch_counts(pools: Sequence[ExpertPool]) -> dict[str, tuple[int, int]]:
    """Per expert, over every pool: (forward calls, items they read)."""
    totals: dict[str, tuple[int, int]] = {}
    for pool in pools:
        for name, (forward_calls, items) in pool.batch_counts().items():
            before = totals.get(name, (0, 0))
            totals[name] = (before[0] + forward_calls, before[1] + items)
    return totals


def _earlier_result(video: Path, folder: Path) -> VideoRow:
    return VideoRow.from_result(str(video), str(folder), load_result(folder / "result.json"), "skipped")


def write_tables(out_dir: Path, rows: Sequence[VideoRow]) -> None:
    """summary.csv (every video) and failures.csv (the failed ones), each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "summary.csv") as handle:
        summary = csv.DictWriter(handle, [f.name for f in fields(VideoRow)])
        summary.writeheader()
        summary.writerows(asdict(row) for row in rows)
    with atomic_open(out_dir / "failures.csv") as handle:
        failures = csv.writer(handle)
        failures.writerow(["path", "error"])
        failures.writerows([row.path, row.error] for row in rows if row.status == "failed")


def report_skipped(out_dir: Path, skipped: Sequence[SkippedFile]) -> None:
    """not_videos.csv (every file of the input folders that is not a video, and why), and the
    first few of them as log lines."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / NOT_VIDEOS_CSV) as handle:
        table = csv.writer(handle)
        table.writerow(["path", "reason"])
        table.writerows([str(file.path), file.reason] for file in skipped)
    for file in skipped[:SKIPPED_SHOWN]:
        log.info("skipped %s: %s", file.path, file.reason)
    if len(skipped) > SKIPPED_SHOWN:
        log.info("skipped %d more files that are not videos; %s lists them all", len(skipped) - SKIPPED_SHOWN, out_dir / NOT_VIDEOS_CSV)


class _Progress:
    """Videos done, windows per second and the ETA: a bar on a terminal, lines in a log."""

    def __init__(self, total: int, skipped: int) -> None:
        self.bar = ProgressBar(total=total, initial=skipped, desc="batch", unit="videos")
        self.started = time.perf_counter()
        self.windows = 0

    def update(self, row: VideoRow) -> None:
        self.windows += row.windows or 0
        rate = self.windows / max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix_str(f"{rate:.2f} windows/s", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run_batch(
    inputs: Sequence[str],
    out_dir: Path,
    profile: Profile,
    force: bool = False,
    jobs: int | None = None,
    batch_counts: dict[str, tuple[int, int]] | None = None,
) -> list[VideoRow]:
    """Process every video the inputs name that has no result yet (all of them with `force`);
    returns one row per video, as written to summary.csv. `batch_counts`, when given, receives
    per expert the forward calls and the items they read (bench/gpu_e2e.py's mean batch)."""
    found = scan_inputs(inputs)
    report_skipped(out_dir, found.skipped)
    plan = {video: output_folder(out_dir, video) for video in found.videos}
    rows = {video: _earlier_result(video, folder) for video, folder in plan.items() if not force and (folder / "result.json").is_file()}
    todo = [(video, folder) for video, folder in plan.items() if video not in rows]
    progress = _Progress(len(plan), len(rows))

    def record(done: Iterable[VideoRow]) -> None:
        for row in done:
            rows[Path(row.path)] = row
            progress.update(row)

    try:
        record(_unusable_before_the_first_good(todo))  # Ray starts only for videos it can run
        todo = [(video, folder) for video, folder in todo if video not in rows]
        if todo and batch_engine(profile, todo, jobs) == "inprocess":
            record(_process_here(todo, profile))
        elif todo:
            with ray_session(profile.execution.ray_address):
                record(_process(todo, profile, jobs, batch_counts))
    finally:
        progress.close()
        table = [rows.get(video) or VideoRow(str(video), str(folder), "pending") for video, folder in plan.items()]
        write_tables(out_dir, table)
    return table


def _unusable_before_the_first_good(todo: Sequence[tuple[Path, Path]]) -> Iterator[VideoRow]:
    """A failure row for each video that cannot be used (probed here), up to the first that can:
    a batch of bad files ends without starting Ray (seconds, not half a minute), while a corpus
    of good ones is probed by its workers, in parallel, as it runs."""
    for video, folder in todo:
        try:
            probe(video)
        except MediaError as exc:
            yield VideoRow(str(video), str(folder), "failed", error=f"{type(exc).__name__}: {exc}")
            continue
        return


def totals_line(rows: Sequence[VideoRow], wall_s: float) -> str:
    """The last line of `cer batch`: counts by status, and the speed of this run."""
    counts = {status: sum(row.status == status for row in rows) for status in ("done", "skipped", "failed", "pending")}
    done = [row for row in rows if row.status == "done"]
    windows = sum(row.windows or 0 for row in done)
    video_s = sum(row.duration_s or 0.0 for row in done)
    wall_s = max(wall_s, 1e-9)
    why = {"skipped": " (finished by an earlier run; --force computes them again)"}
    by_status = ", ".join(f"{n} {status}{why.get(status, '') if n else ''}" for status, n in counts.items() if n or status != "pending")
    return (
        f"cer batch: {len(rows)} videos: {by_status}; {windows} windows ({video_s:.1f} s of video) in {wall_s:.1f} s: "
        f"{windows / wall_s:.2f} windows/s, {video_s / wall_s:.2f}x real time"
    )
