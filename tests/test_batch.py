"""`cer batch` over generated clips and a corrupt file: results, tables, resuming after a kill.
The batches run in this process on the module's Ray (`ray_local`), except the one killed."""

from __future__ import annotations

import csv
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bench.proctree import in_session
from cer.core.config import load_profile
from cer.core.media import MediaError, probe
from cer.core.result import load_result
from cer.pipeline.batch import VideoRow, batch_engine, plan_lanes, run_batch
from cer.pipeline.batch_inputs import find_videos, output_folder, scan_inputs
from cer.pipeline.demo import write_clip
from tests.cli_process import profile_file

# Ray's actor pools, with fewer actors to start; a file, so that the `cer batch` subprocess runs
# the same profile.
FAST_PROFILE = """extends: tiny
execution: {engine: ray}
experts: {dynamic_face: {enabled: false}, audio: {enabled: false}, text: {enabled: false}, clip_labels: {enabled: false}}
"""


def noise(seed: int) -> Callable[[float], np.ndarray]:
    rng = np.random.default_rng(seed)
    return lambda t: rng.integers(80, 120, size=(96, 128, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 2-second silent clips, two of them both named clip.mp4, and one corrupt file."""
    root = tmp_path_factory.mktemp("corpus")
    for seed, relative in enumerate(["a/clip.mp4", "b/clip.mp4", "c.mp4", "d.mov"]):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        write_clip(root / relative, noise(seed), duration_s=2.0, fps=10)
    (root / "corrupt.mp4").write_bytes(b"this is not a video\n" * 50)
    (root / "notes.txt").write_text("not a video either, and not picked up")
    return root


@pytest.fixture(scope="module")
def fast_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return profile_file(tmp_path_factory, FAST_PROFILE)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Batch:
    rows: list[VideoRow]
    out: Path
    actor_killed: bool
    log: list[str]


@pytest.fixture(scope="module")
def batch(ray_local, corpus, fast_profile, tmp_path_factory) -> Batch:
    """The corpus as one batch, with the static_face expert's actor killed for good once the
    videos have started (as if Ray had used up its restarts): every test of this batch also
    checks that such a fault leaves no trace in the results."""
    import ray

    out = tmp_path_factory.mktemp("batch-out")
    killed = threading.Event()
    earlier = set(ray.util.list_named_actors())
    killer = threading.Thread(target=_kill_once_videos_start, args=("cer-static_face-", earlier, out, killed), daemon=True)
    killer.start()
    lines = _LogLines()
    batch_log = logging.getLogger("cer.pipeline.batch")
    batch_log.addHandler(lines)
    try:
        rows = run_batch([str(corpus)], out, load_profile(str(fast_profile)), jobs=2)
    finally:
        batch_log.removeHandler(lines)
    killer.join()
    return Batch(rows, out, killed.is_set(), lines.messages)


class _LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_good_videos_finish_and_the_corrupt_one_is_a_failure(batch, corpus):
    rows, out = batch.rows, batch.out
    by_name = {Path(row.path).relative_to(corpus).as_posix(): row for row in rows}
    assert set(by_name) == {"a/clip.mp4", "b/clip.mp4", "c.mp4", "d.mov", "corrupt.mp4"}
    assert by_name["corrupt.mp4"].status == "failed"
    for name in ("a/clip.mp4", "b/clip.mp4", "c.mp4", "d.mov"):
        assert by_name[name].status == "done", by_name[name].error
        assert (Path(by_name[name].output) / "result.json").is_file()
    failures = read_csv(out / "failures.csv")
    assert [Path(f["path"]).name for f in failures] == ["corrupt.mp4"]
    assert "not a readable video" in failures[0]["error"]


def test_files_of_the_folder_that_are_not_videos_are_listed_with_the_reason(batch, corpus):
    out = batch.out
    assert read_csv(out / "not_videos.csv") == [{"path": str(corpus / "notes.txt"), "reason": "not a video (.txt)"}]


def test_summary_has_one_complete_row_per_video(batch):
    rows, out = batch.rows, batch.out
    summary = read_csv(out / "summary.csv")
    assert len(summary) == len(rows) == 5
    assert list(summary[0]) == ["path", "output", "status", "duration_s", "windows", "decision", "wall_s", "error"]
    for row in summary:
        if row["status"] == "done":
            assert float(row["duration_s"]) == pytest.approx(2.0, abs=0.2)
            assert int(row["windows"]) == 1 and row["decision"] and not row["error"]


def test_equal_file_names_get_separate_output_folders(batch):
    rows = batch.rows
    outputs = [row.output for row in rows]
    assert len(set(outputs)) == len(outputs)
    assert not [p for row in rows for p in Path(row.output).glob(".*.tmp")], "no temporary files left behind"


def test_a_rerun_of_finished_videos_skips_them_all(batch, corpus, fast_profile):
    rows, out = batch.rows, batch.out
    done = [row for row in rows if row.status == "done"]
    before = {row.path: (Path(row.output) / "result.json").stat().st_mtime_ns for row in done}
    again = run_batch([row.path for row in done], out, load_profile(str(fast_profile)))
    assert [row.status for row in again] == ["skipped"] * len(done)
    assert [(row.windows, row.decision) for row in again] == [(row.windows, row.decision) for row in done]
    assert before == {row.path: (Path(row.output) / "result.json").stat().st_mtime_ns for row in again}


def test_a_killed_batch_resumes_with_only_the_missing_videos(ray_local, corpus, fast_profile, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cer", "batch", str(corpus), "--out", str(out), "--profile", str(fast_profile), "--jobs", "1"]
    # A session of its own, so that the kill reaches every process the batch started (its Ray too).
    batch = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("*/result.json")) and batch.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert batch.poll() is None, f"the batch ended before it could be killed: {batch.stderr.read().decode()[-2000:]}"
    finally:
        os.killpg(batch.pid, signal.SIGKILL)
        batch.wait()
    deadline = time.monotonic() + 30
    while in_session(batch.pid) and time.monotonic() < deadline:  # Ray's processes die with their parents
        time.sleep(0.5)
    assert not in_session(batch.pid), "the killed batch left processes behind"

    finished = {p.parent: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    assert 1 <= len(finished) < 4
    rows = run_batch([str(corpus)], out, load_profile(str(fast_profile)), jobs=2)
    statuses = {Path(row.output): row.status for row in rows}
    assert all(statuses[folder] == "skipped" for folder in finished)
    assert sorted(statuses.values()).count("done") == 4 - len(finished)
    assert finished == {folder: (folder / "result.json").stat().st_mtime_ns for folder in finished}


def test_inputs_are_folders_globs_and_manifests(corpus, tmp_path):
    videos = find_videos([str(corpus)])
    assert {v.name for v in videos} == {"clip.mp4", "c.mp4", "d.mov", "corrupt.mp4"} and len(videos) == 5
    assert find_videos([str(corpus / "*.mp4"), str(corpus / "c.mp4")]) == [corpus / "c.mp4", corpus / "corrupt.mp4"]
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "e.mp4").write_bytes(b"")  # listed, so taken; whether it plays is the worker's business
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path,label\n{corpus / 'd.mov'},x\nclips/e.mp4,y\n")  # relative to the manifest's folder
    assert find_videos([str(manifest)]) == [corpus / "d.mov", tmp_path / "clips" / "e.mp4"]
    with pytest.raises(ValueError, match="no such file"):
        find_videos([str(corpus / "missing" / "*.mp4")])
    bad_manifest = tmp_path / "bad.csv"
    bad_manifest.write_text("file\nx.mp4\n")
    with pytest.raises(ValueError, match="`path` column"):
        find_videos([str(bad_manifest)])
    assert output_folder(tmp_path, corpus / "a" / "clip.mp4") != output_folder(tmp_path, corpus / "b" / "clip.mp4")


def test_links_that_lead_nowhere_are_kept_to_fail_with_their_reason(tmp_path):
    """A symlink loop or a dangling link in a corpus reaches failures.csv (its video fails to
    probe, with the reason), or not_videos.csv; it never vanishes from the batch."""
    (tmp_path / "loop.mp4").symlink_to(tmp_path / "loop.mp4")
    (tmp_path / "gone.mov").symlink_to(tmp_path / "missing.mov")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")
    scanned = scan_inputs([str(tmp_path)])
    assert [video.name for video in scanned.videos] == ["gone.mov", "loop.mp4"]
    assert [(skipped.path.name, skipped.reason) for skipped in scanned.skipped] == [("gone.txt", "not a video (.txt)")]
    for video in scanned.videos:
        with pytest.raises(MediaError, match="a symbolic link that leads nowhere"):
            probe(video)
        assert output_folder(tmp_path / "out", video).parent == tmp_path / "out"


def test_lanes_fit_the_cluster():
    no_demand = {"CPU": 0.0, "GPU": 0.0}
    assert plan_lanes(videos=8, jobs=None, demand=no_demand, cluster={"CPU": 2, "GPU": 0}).jobs == 2
    assert plan_lanes(videos=1, jobs=None, demand=no_demand, cluster={"CPU": 16, "GPU": 0}).jobs == 1
    gpu_bound = plan_lanes(videos=100, jobs=None, demand={"CPU": 0.0, "GPU": 0.85}, cluster={"CPU": 16, "GPU": 1})
    assert (gpu_bound.jobs, gpu_bound.pools, gpu_bound.worker_cpus) == (16, 1, 1.0)


def _kill_once_videos_start(prefix: str, earlier: set[str], out: Path, killed: threading.Event, timeout_s: float = 120.0) -> None:
    """Kill the new actor named `prefix*` for good (as if its restarts were used up) once the
    first video has started (its output folder exists; the batch's tables are files): the pool and its workers are up, and
    the videos still to come meet the dead actor. `earlier`: names to pass over (Ray keeps an
    earlier batch's dead actors' names a moment)."""
    import ray

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        names = [name for name in ray.util.list_named_actors() if name.startswith(prefix) and name not in earlier]
        if names and out.is_dir() and any(entry.is_dir() for entry in out.iterdir()):
            ray.kill(ray.get_actor(names[0]), no_restart=True)
            killed.set()
            return
        time.sleep(0.05)


def test_videos_cut_off_by_a_dead_expert_actor_run_again_whole(batch):
    """The actor killed under the batch: no video is written with that expert absent; the actor
    is started again and the videos cut off run again."""
    assert batch.actor_killed
    assert any("the experts start again and the video runs again" in line for line in batch.log), batch.log
    for row in batch.rows:
        if row.status == "done":
            assert load_result(Path(row.output) / "result.json").experts["static_face"].status == "ok"


def test_ray_starts_only_when_it_pays(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few short videos, no parallel jobs asked for, no GPU: in process, as `cer run` would
    run them (starting Ray takes longer than such a batch); otherwise Ray."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    auto = load_profile("tiny", {"execution": {"engine": "auto"}})
    two = [(corpus / "c.mp4", Path("c")), (corpus / "corrupt.mp4", Path("x"))]  # 2 s of video, and a file to fail later
    assert batch_engine(auto, two, jobs=None) == "inprocess" == batch_engine(auto, two, jobs=1)
    assert batch_engine(auto, two, jobs=2) == "ray"  # parallel videos asked for
    assert batch_engine(auto, two * 3, jobs=None) == "ray"  # more than a few videos
    assert batch_engine(load_profile("tiny", {"execution": {"engine": "ray"}}), two, jobs=1) == "ray"  # named
    assert batch_engine(load_profile("tiny"), two * 3, jobs=4) == "inprocess"  # named (the tests' profile)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert batch_engine(auto, two, jobs=None) == "ray"  # a GPU: the experts share it at once
