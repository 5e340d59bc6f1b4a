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


def test_a_part_of_a_video_is_analysed_alone_on_the_video_s_clock(offline_pipeline, shared_data):
    """--start/--end: windows, faces and frame rows cover the part alone; each part is its own
    entry in the expert-output cache (a part's window 0 is not the video's)."""
    video = shared_data / "face_noface.mov"  # a face for its first 2.7 s, then none, 6.4 s in all
    late = offline_pipeline.run(video, start_s=3.0, end_s=9.0)
    early = offline_pipeline.run(video, start_s=1.0, end_s=3.0)
    assert late.video.part_s == (3.0, late.video.duration_s) and early.video.part_s == (1.0, 3.0)
    assert [(w.start_s, w.end_s) for w in early.window_results] == [(1.0, 3.0)]
    assert early.window_results[0].experts["static_face"].probs is not None
    assert all(w.experts["static_face"].reason == "no face in window" for w in late.window_results)
    assert all(late.video.part_s[0] <= w.start_s < w.end_s <= late.video.part_s[1] for w in late.window_results)
    frames = early.frames()
    inside = frames[(frames.frame >= early.window_results[0].start_frame) & (frames.frame < early.window_results[0].end_frame)]
    assert frames.face.isna().sum() == len(frames) - len(inside)  # outside the part no one looked
    assert set(frames.why_none[frames.face.isna()]) == {"outside the part analysed"}
    assert inside.face.eq(1).any()
