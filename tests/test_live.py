"""`cer live` on a stream the test serves itself over HTTP on 127.0.0.1, in real time: verdicts
while the stream runs, the results at its end or on Ctrl-C, one line for a stream that is no
video; and the parts underneath (the window grid, the latency budget) on their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bench.loopback_stream import LoopbackStream, Served, as_matroska
from bench.people_clips import faces_clip
from cer.core.config import WindowConfig
from cer.core.live_chunks import LiveChunker
from cer.core.live_media import Arrival, LiveSource
from cer.core.result import load_result
from cer.core.types import AUDIO_RATE, SampledFrame
from cer.core.windows import make_windows
from cer.pipeline.demo import write_clip
from cer.pipeline.live_budget import SKIPPED, LatencyBudget
from tests.cli_process import profile_file

CLIP_S = 10.0  # four windows; long enough for the first verdict to come before the stream ends
# The tiny profile's quickest experts (the face experts and CLIP; those of the sound, the words and
# the scene take seconds to start), in this process
FAST_PROFILE = """extends: tiny
execution: {engine: inprocess}
experts: {audio: {enabled: false}, text: {enabled: false}, scene: {enabled: false}}
"""


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackStream]:
    """The same clip (10 s of moving noise with a quiet hiss) in real time (clip.mkv) and at once
    (at-once.mkv), garbage.mkv: bytes that are no video, and two.mkv: two persons, 2.5 s, at once."""
    folder = tmp_path_factory.mktemp("live")
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(int(CLIP_S * AUDIO_RATE)) * 0.002).astype(np.float32)
    clip = as_matroska(
        write_clip(folder / "clip.mkv", lambda t: rng.integers(80, 120, size=(96, 128, 3), dtype=np.uint8), CLIP_S, fps=10, audio=hiss)
    )
    two = as_matroska(faces_clip(folder / "two.mkv", [420, 360], speaker=None, duration_s=2.5))  # one window
    files = {
        "clip.mkv": Served(clip, CLIP_S),
        "at-once.mkv": Served(clip, 0.0),
        "garbage.mkv": Served(rng.bytes(64_000), 0.0),
        "two.mkv": Served(two, 0.0),
    }
    with LoopbackStream(files) as server:
        yield server


@pytest.fixture(scope="module")
def fast_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return profile_file(tmp_path_factory, FAST_PROFILE)


@dataclass
class LiveRun:
    """A `cer live` process, its output read line by line as it comes (and timed); with
    `interrupt_after`, Ctrl-C (SIGINT) is sent to it once it has printed that many verdicts."""

    process: subprocess.Popen[str]
    out: Path
    interrupt_after: int | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)  # standard output: (time.monotonic(), line)
    errors: list[str] = field(default_factory=list)  # standard error
    _readers: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, url: str, profile: Path, out: Path, *options: str, interrupt_after: int | None = None) -> LiveRun:
        command = [sys.executable, "-m", "cer", "live", url, "--profile", str(profile), "--out", str(out), *options]
        run = cls(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out, interrupt_after)
        run._readers = [threading.Thread(target=reader, daemon=True) for reader in (run._read_out, run._read_errors)]
        for reader in run._readers:
            reader.start()
        return run

    def _read_out(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))
            if self.interrupt_after is not None and len(self.verdicts()) == self.interrupt_after:
                self.process.send_signal(signal.SIGINT)
                self.interrupt_after = None  # once

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self.errors += self.process.stderr

    def verdicts(self) -> list[tuple[float, str]]:
        return [(at, line) for at, line in self.lines if " s  " in line and "latency " in line]

    def finish(self, timeout_s: float = 90) -> str:
        """Wait for the process to end; its standard error."""
        self.process.wait(timeout_s)
        for reader in self._readers:
            reader.join(timeout_s)
        return "".join(self.errors)


def test_verdicts_come_while_the_stream_runs_and_ctrl_c_writes_what_was_seen(stream, fast_profile, tmp_path):
    run = LiveRun.start(stream.url("clip.mkv"), fast_profile, tmp_path / "out", interrupt_after=2)
    stderr = run.finish()
    assert run.process.returncode == 0 and "Traceback" not in stderr and "interrupted" in stderr, stderr
    verdicts = run.verdicts()
    assert len(verdicts) >= 2, run.lines
    stream_ends = stream.started["clip.mkv"] + CLIP_S
    assert verdicts[1][0] < stream_ends, f"the second verdict came {verdicts[1][0] - stream_ends:.1f} s after the stream's end"
    assert verdicts[0][1].startswith("0.00-4.00 s  ") and verdicts[1][1].startswith("2.00-6.00 s  ")
    result = load_result(run.out / "result.json")  # what was seen until Ctrl-C
    assert 2 <= len(result.window_results) == len(verdicts) < 4
    assert result.video.path == stream.url("clip.mkv") and 6.0 <= result.video.duration_s < CLIP_S
    assert all(w.latency_s is not None and w.latency_s >= 0 for w in result.window_results)
    assert "latency over " in "\n".join(line for _, line in run.lines)


def test_the_results_are_written_when_the_stream_ends(stream, fast_profile, tmp_path):
    # a budget no expert fits once measured: from the third window on, each is skipped, and the verdicts still come
    run = LiveRun.start(stream.url("at-once.mkv"), fast_profile, tmp_path / "out", "--max-latency", "0.001")
    stderr = run.finish()
    assert run.process.returncode == 0 and "Traceback" not in stderr, stderr
    verdicts = run.verdicts()
    assert [line.split("  ")[0] for _, line in verdicts] == ["0.00-4.00 s", "2.00-6.00 s", "4.00-8.00 s", "6.00-10.00 s"]
    printed = "\n".join(line for _, line in run.lines)
    assert "latency over 4 windows: median " in printed and f"results in {run.out}/" in printed

    result = load_result(run.out / "result.json")
    assert result.video.duration_s == pytest.approx(CLIP_S, abs=0.15) and result.video.has_audio and result.video.n_frames == 100
    assert [(w.start_s, w.end_s) for w in result.window_results] == [(0, 4), (2, 6), (4, 8), (6, 10)]
    # measured on the first two windows, the experts are skipped on the others, absent with the reason
    skipped = [[name for name, answer in w.experts.items() if (answer.reason or "").startswith(SKIPPED)] for w in result.window_results]
    assert skipped[:2] == [[], []] and skipped[2] and skipped[3], skipped
    assert "past live.max_latency_s (0.001 s)" in (result.window_results[3].experts[skipped[3][0]].reason or "")
    assert "skipped to keep up: " in verdicts[3][1]
    assert {"frames.csv", "windows.csv", "timeline.png", "report.html"} <= {path.name for path in run.out.iterdir()}


def test_each_person_s_verdict_follows_the_window_s(stream, tmp_path_factory, tmp_path):
    one_face_expert = profile_file(tmp_path_factory, FAST_PROFILE.replace("scene:", "dynamic_face: {enabled: false}, scene:"), "one")
    run = LiveRun.start(stream.url("two.mkv"), one_face_expert, tmp_path / "out")
    stderr = run.finish()
    assert run.process.returncode == 0 and "Traceback" not in stderr, stderr
    result = load_result(run.out / "result.json")
    assert len(result.persons) == 2
    printed = [line for _, line in run.lines]
    for window in result.window_results:
        at = next(i for i, line in enumerate(printed) if line.startswith(window.span_text))
        persons = [(p.id, own) for p in result.persons for own in p.windows if own.index == window.index]
        assert printed[at + 1 : at + 1 + len(persons)] == [f"  person {pid}: {own.decision_text()}" for pid, own in persons]


def test_a_stream_that_is_no_video_is_one_line(stream, fast_profile, tmp_path):
    url = stream.url("garbage.mkv")
    done = subprocess.run(
        [sys.executable, "-m", "cer", "live", url, "--profile", fast_profile, "--out", tmp_path / "out"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CER_QUIET": "1"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"cer: error: {url}: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


class _Silent:
    """A container with nothing to read: the chunker takes a source's facts only."""

    def close(self) -> None:
        """Nothing to close."""


@pytest.mark.parametrize("seen_s", [9.3, 10.0, 4.5, 2.5])
def test_live_windows_are_the_windows_of_the_video_seen(seen_s):
    """Handed out as the stream goes, then the tail at its end: the windows `cer run` cuts."""
    fps, config = 10.0, WindowConfig()
    source = LiveSource("cam", _Silent(), fps, 64, 48, has_audio=True)
    chunker = LiveChunker(source, config)
    handed: list[tuple[float, float]] = []
    for index in range(round(seen_s * fps)):
        t = index / fps
        picture = SampledFrame(t_s=t, frame_index=index, image=np.zeros((48, 64, 3), dtype=np.uint8))
        arrivals = [
            Arrival(video_s=t + 1 / fps, frame=picture),
            Arrival(audio_s=t + 1 / fps, audio=np.zeros(AUDIO_RATE // 10, dtype=np.float32), audio_start_s=t),
        ]
        for arrival in arrivals:
            handed += [(w.chunk.windows[0].start_s, w.chunk.windows[0].end_s) for w in chunker.add(arrival)]
    assert all(end <= seen_s + 1e-6 for _, end in handed)
    handed += [(w.chunk.windows[0].start_s, w.chunk.windows[0].end_s) for w in chunker.finish()]
    expected = make_windows(seen_s, fps, round(seen_s * fps), config.length_s, config.hop_s, config.min_tail_s)
    assert handed == [(w.start_s, w.end_s) for w in expected]


def test_a_window_waits_for_the_audio_only_so_long():
    """The video runs on; a window whose audio lags more than AUDIO_WAIT_S is decided without it."""
    chunker = LiveChunker(LiveSource("cam", _Silent(), 10.0, 64, 48, has_audio=True), WindowConfig())
    assert chunker.add(Arrival(video_s=4.5)) == []
    (work,) = chunker.add(Arrival(video_s=5.0))
    assert work.chunk.windows[0].end_s == 4.0 and work.chunk.audio.size == 0


def test_the_budget_measures_each_expert_then_keeps_the_verdict_within_it():
    budget = LatencyBudget(max_latency_s=1.0, parallel=False)
    names = ["face", "audio", "scene", "idle"]
    assert budget.choose(names, waited_s=5.0) == (names, {})  # unmeasured: each runs, whatever the wait
    for seconds in ({"face": 0.1, "audio": 0.3, "scene": 9.0, "idle": 0.001}, {"face": 0.2, "audio": 0.4, "scene": 6.0, "idle": 0.0}):
        for name, value in seconds.items():
            budget.learn(name, value)
    assert budget.estimate("scene") == 6.0  # the shorter of its last two windows
    chosen, skipped = budget.choose(names, waited_s=0.2)
    assert chosen == ["face", "audio", "idle"] and list(skipped) == ["scene"]
    assert skipped["scene"].startswith(SKIPPED) and "about 6.00 s a window" in skipped["scene"]
    assert budget.choose(names, waited_s=3.0)[0] == ["idle"]  # late already: only what costs nothing runs
    # one after another, the quickest first while the sum fits; at once, each on its own
    assert budget.choose(names, waited_s=0.65)[0] == ["face", "idle"]
    parallel = LatencyBudget(max_latency_s=1.0, parallel=True)
    for name, value in {"face": 0.1, "audio": 0.3, "scene": 6.0}.items():
        parallel.learn(name, value)
        parallel.learn(name, value)
    assert parallel.choose(names, waited_s=0.65)[0] == ["face", "audio", "idle"]
