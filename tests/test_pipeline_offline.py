"""The offline profile with its real packaged models on real media (../shared/data)."""

import numpy as np
import pytest

from cer.core.labels import BASIC

pytestmark = pytest.mark.offline
HAPPY = BASIC.index("Happiness")


@pytest.fixture(scope="module")
def offline_pipeline():
    from cer.pipeline import Pipeline

    with Pipeline.from_profile("offline") as pipeline:
        yield pipeline


def test_single_face_video_has_a_face_everywhere_and_the_smile_is_happy(offline_pipeline, shared_data):
    result = offline_pipeline.run(shared_data / "single_face.mp4")
    assert result.faces.detector == "blazeface"
    windows = result.window_results
    assert len(windows) == 1  # 2.4 s is one window
    for window in windows:
        static = window.experts["static_face"]
        assert static.probs is not None, static.reason
        assert static.evidence["face_frames"] == static.evidence["sampled_frames"]
    smile = max(windows, key=lambda w: w.experts["static_face"].probs[HAPPY])
    assert int(np.argmax(smile.experts["static_face"].probs)) == HAPPY
    assert int(np.argmax(smile.experts["dynamic_face"].probs)) == HAPPY


def test_no_face_video_marks_both_face_experts_absent_and_completes(offline_pipeline, shared_data):
    result = offline_pipeline.run(shared_data / "no_face.mp4")
    assert result.window_results
    for window in result.window_results:
        for name in ("static_face", "dynamic_face"):
            assert window.experts[name].probs is None
            assert window.experts[name].reason == "no face in window"


def test_face_then_no_face(offline_pipeline, shared_data):
    result = offline_pipeline.run(shared_data / "face_noface.mov")
    first, last = result.window_results[0], result.window_results[-1]
    assert first.experts["static_face"].probs is not None
    assert last.experts["static_face"].reason == "no face in window"


def test_offline_statuses_explain_what_is_missing(offline_pipeline, shared_data):
    result = offline_pipeline.run(shared_data / "single_face.mp4")
    experts = result.experts
    assert experts["static_face"].status == "ok"
    assert "not a trained model" in experts["dynamic_face"].note
    assert experts["audio"].status == "unavailable" and "speech-emotion" in experts["audio"].reason
    assert experts["clip_labels"].status == "unavailable" and "no CLIP model" in experts["clip_labels"].reason
    assert experts["scene"].status == "unavailable" and "no vision-language model" in experts["scene"].reason
