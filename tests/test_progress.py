"""What `cer` shows on stderr: progress as plain lines when stderr is not a terminal (nohup,
SLURM, CI), and nothing from the libraries it uses unless --verbose. Every command here is a
real subprocess whose stderr is a pipe, as under a batch scheduler."""

from __future__ import annotations

import csv
import logging
import os
import re
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cer.core.sources import download_url
from cer.pipeline.demo import write_clip
from tests.cli_process import cer
from tests.fake_hub import FakeHub, FakeRepo, serving
from tests.test_model_sources import COMMIT, WEIGHTS, _profile_on_the_fake_hub

ONLY_STATIC_FACE = """extends: tiny
experts: {dynamic_face: {enabled: false}, audio: {enabled: false}, text: {enabled: false}, clip_labels: {enabled: false},
          scene: {enabled: false}}
"""
ONLY_TEXT = """extends: tiny
experts: {static_face: {enabled: false}, dynamic_face: {enabled: false}, audio: {enabled: false}, clip_labels: {enabled: false},
          scene: {enabled: false}}
"""


def profile_file(folder: Path, text: str) -> Path:
    path = folder / "profile.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tiny_run(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    done = cer("run", demo_clip, "--profile", "tiny", "--out", tmp_path_factory.mktemp("run"))
    assert done.returncode == 0, done.stderr
    return done


def test_run_shows_progress_as_lines_off_a_terminal(tiny_run: subprocess.CompletedProcess[str]) -> None:
    stderr = tiny_run.stderr
    assert "\r" not in stderr  # no bar smeared over one line of a log
    # The models load before the first window: that wait is no longer silent.
    assert re.search(r"^cer: loading the experts' models: (\d+)/\1 experts \(100%\)", stderr, re.M)
    windows = [line for line in stderr.splitlines() if line.startswith("cer: demo.mp4: ")]
    assert windows[0] == "cer: demo.mp4: 0/2 windows"  # said when decoding starts
    assert windows[-1].startswith("cer: demo.mp4: 2/2 windows (100%)")


def test_stderr_holds_only_cers_own_lines_by_default(tiny_run: subprocess.CompletedProcess[str]) -> None:
    lines = tiny_run.stderr.splitlines()
    assert lines and all(line.startswith("cer: ") for line in lines), tiny_run.stderr
    assert "Loading weights" not in tiny_run.stderr  # transformers' bar, one per model


def test_verbose_lets_the_libraries_speak(demo_clip: Path, tmp_path: Path) -> None:
    done = cer("--verbose", "run", demo_clip, "--profile", profile_file(tmp_path, ONLY_TEXT), "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "Loading weights" in done.stderr
    assert "cer: demo.mp4: 2/2 windows (100%)" in done.stderr  # cer's own lines stay


@pytest.mark.offline
@pytest.mark.parametrize("verbose", [False, True])
def test_tflite_announces_itself_only_when_verbose(verbose: bool) -> None:
    """TFLite writes its INFO line from native code, out of reach of Python's logging."""
    build = (
        "from cer.core.config import load_profile\n"
        "from cer.core.face_detectors import load_detector\n"
        "profile = load_profile('offline')\n"
        "assert load_detector(profile.faces, profile.cache_path).name == 'blazeface'\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "CER_VERBOSE"} | ({"CER_VERBOSE": "1"} if verbose else {})
    done = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert ("XNNPACK delegate" in done.stderr) == verbose


def test_batch_shows_progress_and_names_the_files_it_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_clip(folder / "clip.mp4", lambda t: rng.integers(80, 120, size=(96, 128, 3), dtype=np.uint8), duration_s=2.0, fps=10)
    (folder / "notes.txt").write_text("not a video")
    (folder / "README").write_text("not a video either")
    out = tmp_path / "out"
    done = cer("batch", folder, "--out", out, "--profile", profile_file(tmp_path, ONLY_STATIC_FACE), "--jobs", "1")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert f"cer: skipped {folder / 'notes.txt'}: not a video (.txt)" in lines
    assert f"cer: skipped {folder / 'README'}: not a video (no extension)" in lines
    assert re.search(r"^cer: batch: 1/1 videos \(100%\)", done.stderr, re.M)
    assert "\r" not in done.stderr and all(line.startswith("cer: ") for line in lines), done.stderr  # Ray says nothing
    with (out / "not_videos.csv").open(newline="", encoding="utf-8") as handle:
        skipped = list(csv.DictReader(handle))
    assert sorted((Path(row["path"]).name, row["reason"]) for row in skipped) == [
        ("README", "not a video (no extension)"),
        ("notes.txt", "not a video (.txt)"),
    ]
    assert "not_videos.csv" in done.stdout


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_a_download_by_url_reports_its_bytes_off_a_terminal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Whisper's checkpoints come by URL, through `download_url` and its progress lines."""
    served = tmp_path / "served"
    served.mkdir()
    payload = np.random.default_rng(0).bytes(3_000_000)
    (served / "small.pt").write_bytes(payload)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietFiles, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.INFO, logger="cer.progress"):
            download_url(f"http://127.0.0.1:{server.server_address[1]}/small.pt", tmp_path / "small.pt")
    finally:
        server.shutdown()
    assert (tmp_path / "small.pt").read_bytes() == payload
    assert caplog.messages[0] == "small.pt: 0.00/3.00MB"
    assert caplog.messages[-1].startswith("small.pt: 3.00M/3.00MB (100%)")


def test_a_model_download_reports_its_bytes_off_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CER_OFFLINE", "HF_HUB_OFFLINE", "CER_CACHE")}
    with serving(FakeHub({"cer-tests/tiny-model": FakeRepo(COMMIT, {"weights.bin": WEIGHTS})})) as hub:
        env["HF_ENDPOINT"] = hub.url
        done = cer("models", "pull", "--profile", _profile_on_the_fake_hub(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    size = f"{len(WEIGHTS) / 1000:.2f}k"
    assert re.search(rf"^cer: weights\.bin: {size}/{size}B \(100%\)", done.stderr, re.M), done.stderr
