"""Scene context expert: the tiny Qwen2.5-VL through the real loading code, batching, prompt
styles, and its description in every output of the tiny pipeline."""

from __future__ import annotations

import csv
import html
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from cer.core.config import ExpertConfig, ModelRef, load_vocabulary
from cer.core.labels import PAIRS
from cer.core.options import SceneOptions
from cer.core.result import Result
from cer.core.types import Chunk, SampledFrame, VideoInfo, Window
from cer.modalities.scene import NO_FRAMES, SceneExpert, build_prompt, one_paragraph, window_clip
from cer.modalities.tiny import make_tiny

FPS = 5.0  # the pipeline's default sampling rate
TINY_OPTIONS = {"max_pixels": 112 * 112, "min_pixels": 56 * 56, "max_new_tokens": 12}


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the tiny scene and text-emotion models (built as `cer models make-tiny` does)."""
    root = tmp_path_factory.mktemp("cache")
    make_tiny(root, names=["scene", "text_emotion"])
    return root


def scene_config(**options: Any) -> ExpertConfig:
    return ExpertConfig(
        device="cpu",
        models={
            "vlm": ModelRef(source="tiny:scene", licence="generated"),
            "emotion": ModelRef(source="tiny:text_emotion", licence="generated"),
        },
        options={**TINY_OPTIONS, **options},
    )


def frame(t_s: float) -> SampledFrame:
    """A 96 x 128 frame whose content changes with time (a moving bright bar over noise)."""
    rng = np.random.default_rng(int(t_s * FPS))
    image = rng.integers(0, 80, size=(96, 128, 3), dtype=np.uint8)
    column = int(t_s * 20) % 128
    image[:, column : column + 16] = 230
    return SampledFrame(t_s=t_s, frame_index=int(t_s * 25), image=image)


@pytest.fixture(scope="module")
def chunk() -> Chunk:
    """Three 4 s windows over 8 s of frames, and one window past the frames (nothing to see)."""
    spans = [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (20.0, 24.0)]
    windows = [Window(i, s, e, int(s * 25), int(e * 25)) for i, (s, e) in enumerate(spans)]
    video = VideoInfo("generated.mp4", 24.0, 25.0, 128, 96, has_audio=False, n_frames=600)
    frames = [frame(k / FPS) for k in range(int(8 * FPS))]
    return Chunk(video=video, windows=windows, frames=frames, audio=np.zeros(0, np.float32))


@pytest.fixture(scope="module")
def expert(tiny_cache: Path) -> SceneExpert:
    return SceneExpert(scene_config(batch_size=4), tiny_cache)


def test_tiny_expert_describes_each_window_and_scores_the_description(expert: SceneExpert, chunk: Chunk) -> None:
    outputs = expert.predict(chunk)
    assert [o.window_index for o in outputs] == [0, 1, 2, 3]
    for output in outputs[:3]:
        assert output.present, output.reason
        assert len(output.probs) == 8 and sum(output.probs) == pytest.approx(1.0)
        assert all(p >= 0 for p in output.probs)
        assert isinstance(output.evidence["scene"], str) and output.evidence["scene"].strip()
        assert output.evidence["frames"] == 4  # 1 frame per second of a 4 s window
        assert output.model_id == "scene + classifier(text_emotion)"
    assert outputs[3].probs is None and outputs[3].reason == NO_FRAMES
    assert len({o.evidence["scene"] for o in outputs[:3]}) > 1, "different frames should give different words"


def test_the_scene_expert_reads_descriptions_and_says_so(expert: SceneExpert, tiny_cache: Path) -> None:
    assert expert.options.text_kind == "description"  # chosen by the expert, not by the profile
    assert "descriptions" in expert.status().note
    as_speech = SceneExpert(scene_config(text_kind="transcript"), tiny_cache)  # a profile may override it
    assert "transcripts" in as_speech.status().note


def test_batched_generation_gives_what_one_window_at_a_time_gives(expert: SceneExpert, chunk: Chunk, tiny_cache: Path) -> None:
    one_by_one = SceneExpert(scene_config(batch_size=1), tiny_cache).predict(chunk)
    batched = expert.predict(chunk)
    assert [o.evidence for o in batched] == [o.evidence for o in one_by_one]
    for a, b in zip(batched, one_by_one, strict=True):
        assert (a.probs is None) == (b.probs is None)
        if a.probs is not None:
            np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


def test_a_copy_without_models_prepares_what_the_expert_runs(expert: SceneExpert, chunk: Chunk, tiny_cache: Path) -> None:
    preprocessor = SceneExpert(scene_config(batch_size=4), tiny_cache, load_models=False)
    assert not hasattr(preprocessor, "describer") and preprocessor.prompt == expert.prompt
    prepared = preprocessor.preprocess(chunk)
    # one clip per window with frames (the window past the frames has none); the plan keeps every window
    assert [clip.frames.shape for clip in prepared.items] == [(4, 96, 128, 3)] * 3
    assert [(w.index, w.frames) for w in prepared.plan] == [(0, 4), (1, 4), (2, 4), (3, 0)]
    travelled = pickle.loads(pickle.dumps(prepared))  # items and plan cross processes as plain data
    assert [o.evidence for o in expert.answer([travelled])[0]] == [o.evidence for o in expert.predict(chunk)]


def test_prompt_style_option_changes_the_request(expert: SceneExpert, tiny_cache: Path) -> None:
    assert expert.prompt == build_prompt("free", PAIRS)
    assert "happily surprised" not in expert.prompt
    labelled = SceneExpert(scene_config(prompt_style="labelled"), tiny_cache)
    assert labelled.prompt.startswith(expert.prompt) and labelled.prompt != expert.prompt
    for label in ("neutral", "surprise", "happily surprised", "sadly angry"):
        assert label in labelled.prompt
    assert "other" not in labelled.prompt.lower().split(": ")[1]  # Other names no visible emotion
    # the request reaches the model in the chat layout, after the video placeholder
    text = labelled.describer.prompt_text(labelled.prompt)
    assert text.index("<|video_pad|>") < text.index(labelled.prompt)
    assert text.endswith("<|im_start|>assistant\n")


def test_labelled_prompt_follows_the_profile_vocabulary(tiny_cache: Path) -> None:
    raf_ce = load_vocabulary("raf_ce")
    prompt = SceneExpert(scene_config(prompt_style="labelled"), tiny_cache, raf_ce).prompt
    assert "happily disgusted" in prompt and "fearfully angry" in prompt


def test_window_frames_are_spread_at_the_requested_rate() -> None:
    frames = [frame(k / FPS) for k in range(20)]  # one 4 s window at 5 fps
    clip = window_clip(frames, 4.0, fps=1.0)
    assert clip is not None and clip.frames.shape == (4, 96, 128, 3) and clip.fps == 1.0
    np.testing.assert_array_equal(clip.frames[0], frames[2].image)  # the middle of the first second
    assert window_clip(frames[:3], 4.0, fps=1.0).frames.shape[0] == 3  # fewer frames than asked: all of them
    assert window_clip([], 4.0, fps=1.0) is None


def test_answers_become_one_line_of_printable_text() -> None:
    assert one_paragraph(" A man sits.\n\nHe smiles,\x00 then\tlooks away. ") == "A man sits. He smiles, then looks away."
    assert one_paragraph("\n\x07 ") == ""


def test_options_and_model_roles_are_checked(tiny_cache: Path) -> None:
    with pytest.raises(ValidationError, match="min_pixels"):
        SceneOptions(min_pixels=200_000, max_pixels=100_000)
    with pytest.raises(ValidationError):
        SceneOptions(prompt_style="poem")
    config = scene_config().model_copy(update={"models": {"emotion": scene_config().models["emotion"]}})
    with pytest.raises(ValueError, match="vlm"):
        SceneExpert(config, tiny_cache)


@pytest.fixture(scope="module")
def tiny_run(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    from cer.core.config import load_profile
    from cer.pipeline import Pipeline

    make_tiny(load_profile("tiny").cache_path)  # builds only the tiny models missing from the cache
    out = tmp_path_factory.mktemp("scene-run")
    with Pipeline.from_profile("tiny") as pipeline:
        return pipeline.run(demo_clip, out), out


@pytest.mark.slow
def test_six_expert_tiny_pipeline_shows_the_description_everywhere(tiny_run: tuple[Result, Path]) -> None:
    result, out = tiny_run
    assert set(result.experts) == {"static_face", "dynamic_face", "audio", "text", "clip_labels", "scene"}
    assert result.experts["scene"].status == "ok"
    stored = json.loads((out / "result.json").read_text())
    # each expert's text head, and the kind of text it reads, is recorded with its status
    assert "descriptions" in stored["experts"]["scene"]["note"] and "transcripts" in stored["experts"]["text"]["note"]
    scenes = [w["experts"]["scene"]["evidence"]["scene"] for w in stored["windows"]]
    assert all(isinstance(s, str) and s for s in scenes)
    for window in stored["windows"]:
        assert sum(window["experts"]["scene"]["probs"]) == pytest.approx(1.0)
    with open(out / "windows.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["expert_scene_scene"] for row in rows] == scenes
    report = (out / "report.html").read_text()
    assert all(html.escape(s) in report for s in scenes)


def test_offline_profile_reports_scene_unavailable_with_the_reason() -> None:
    from cer.core.config import load_profile
    from cer.modalities.factory import build_expert

    profile = load_profile("offline")
    assert "scene" not in {key.split(".")[0] for key in profile.all_models()}
    expert = build_expert("scene", profile.experts["scene"], profile.expert_context)
    status = expert.status()
    assert status.status == "unavailable" and "no vision-language model" in status.reason
