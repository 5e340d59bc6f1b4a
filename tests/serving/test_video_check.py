"""The service answers by MediaError's code, not by its words: each problem a video can have
comes with its code, and the API's code follows from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cer.core.media import MediaError, MediaProblem, probe
from cer.serving.errors import ApiError
from cer.serving.video_check import check_video, media_message

AUDIO_ONLY = Path(__file__).resolve().parents[2] / "pipeline" / "assets" / "demo_speech.wav"


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[MediaProblem, Path]:
    empty, text, folder = tmp_path / "empty.mp4", tmp_path / "notes.mp4", tmp_path / "folder.mp4"
    empty.write_bytes(b"")
    text.write_text("not a video\n" * 100)
    folder.mkdir()
    return {"not_found": tmp_path / "missing.mp4", "not_a_file": folder, "empty": empty, "unreadable": text, "no_video_stream": AUDIO_ONLY}


@pytest.mark.parametrize("problem", ["not_found", "not_a_file", "empty", "unreadable", "no_video_stream"])
def test_each_problem_has_its_code(bad_inputs: dict[MediaProblem, Path], problem: MediaProblem) -> None:
    with pytest.raises(MediaError) as refused:
        probe(bad_inputs[problem])
    assert refused.value.code == problem


@pytest.mark.parametrize(("problem", "api_code"), [("no_video_stream", "no_video_stream"), ("empty", "not_a_video")])
def test_the_api_code_follows_the_media_code(bad_inputs: dict[MediaProblem, Path], problem: MediaProblem, api_code: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_video(bad_inputs[problem], "clip.mp4", max_duration_s=60)
    assert refused.value.code == api_code and refused.value.message.startswith("clip.mp4: ")


def test_messages_name_the_upload_not_the_server_path(tmp_path: Path) -> None:
    path = tmp_path / "jobs" / "video"
    for message in (f"{path}: file not found", f"{path.name}: file not found"):
        assert media_message(MediaError(message, "not_found"), path, "clip.mp4") == "clip.mp4: file not found"
