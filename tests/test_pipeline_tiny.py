"""The whole pipeline on the tiny profile (random-weight models) over a generated clip."""

import json

import numpy as np
import pytest

from cer.core.labels import BASIC, COMPOUND
from cer.core.result import SCHEMA_ID, load_result


@pytest.fixture(scope="module")
def tiny_pipeline():
    from cer.pipeline import Pipeline

    with Pipeline.from_profile("tiny") as pipeline:
        yield pipeline


@pytest.fixture(scope="module")
def tiny_run(tiny_pipeline, demo_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-run")
    return tiny_pipeline.run(demo_clip, out), out


def test_every_output_file_is_written(tiny_run):
    _, out = tiny_run
    for name in ("result.json", "windows.csv", "frames.csv", "timeline.png", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary files left behind"


def test_result_json_validates_and_matches_the_returned_result(tiny_run):
    result, out = tiny_run
    stored = json.loads((out / "result.json").read_text())
    assert stored["schema"] == SCHEMA_ID
    assert stored["labels"]["basic"] == list(BASIC) and stored["labels"]["compound"] == list(COMPOUND)
    assert load_result(stored) == result


def test_every_window_has_fused_probabilities_and_compound_scores(tiny_run):
    result, _ = tiny_run
    assert [w.index for w in result.window_results] == [0, 1]  # 5 s: [0, 4] and [2, 5]
    for window in result.window_results:
        fused = window.fused.probs
        assert len(fused) == 8 and sum(fused) == pytest.approx(1.0)
        assert len(window.compound.scores) == 7
        assert window.compound.label in COMPOUND
        for name, output in window.experts.items():
            assert (output.probs is None) == (output.reason is not None), name
            if output.probs is not None:
                assert sum(output.probs) == pytest.approx(1.0)


def test_expert_statuses_and_timings(tiny_run):
    result, _ = tiny_run
    assert set(result.experts) == {"static_face", "dynamic_face", "audio", "text", "clip_labels", "scene"}
    assert all(e.status == "ok" for e in result.experts.values())
    timings = result.timings
    assert set(timings.experts_s) == set(result.experts)
    assert timings.total_s >= timings.decode_s >= 0


def test_frames_csv_has_one_line_per_frame(tiny_run):
    result, out = tiny_run
    lines = (out / "frames.csv").read_text().splitlines()
    assert lines[0] == "image_location," + ",".join(COMPOUND)
    assert len(lines) - 1 == result.video.n_frames
    assert lines[1].startswith("demo/00001.jpg,")


def test_a_video_without_audio_runs_and_says_why(tiny_pipeline, silent_clip):
    result = tiny_pipeline.run(silent_clip)
    for window in result.window_results:
        assert window.experts["audio"].probs is None
        assert "audio" in window.experts["audio"].reason
        assert window.experts["static_face"].reason == "no face in window"


def test_an_expert_that_raises_makes_its_windows_absent(demo_clip):
    from cer.pipeline import Pipeline

    with Pipeline.from_profile("tiny", experts={"broken": {"target": "tests.broken_expert:BrokenExpert"}}) as pipeline:
        result = pipeline.run(demo_clip)
    for window in result.window_results:
        assert window.experts["broken"].probs is None
        assert "deliberate failure" in window.experts["broken"].reason
        assert window.fused.probs is not None
        assert np.isclose(sum(window.fused.probs), 1.0)
