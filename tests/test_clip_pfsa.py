"""CLIP label matching expert (tiny model), PFSA and compound vocabularies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from cer.core.config import ConfigError, ExpertConfig, ExpertContext, ModelRef, load_profile, load_vocabulary
from cer.core.devices import resolve_device
from cer.core.labels import BASIC, PAIRS
from cer.core.result import Result, load_result
from cer.core.sources import ModelNotAvailable, Source, resolve
from cer.core.types import Chunk, ExpertOutput, LabelEmbeddings, SampledFrame, VideoInfo
from cer.core.windows import make_windows
from cer.fusion.compound import to_compound
from cer.modalities.base import UnavailableExpert
from cer.modalities.clip_labels import NO_FRAMES, ClipLabelsExpert, build_tiny_clip
from cer.modalities.factory import build_expert
from tests.cli_process import cer, profile_file

RAF_CE = [
    "Happily_Surprised",
    "Happily_Disgusted",
    "Sadly_Fearful",
    "Sadly_Angry",
    "Sadly_Surprised",
    "Sadly_Disgusted",
    "Fearfully_Angry",
    "Fearfully_Surprised",
    "Angrily_Surprised",
    "Angrily_Disgusted",
    "Disgustedly_Surprised",
]
# The tiny profile's experts of the picture; those of the sound, the words and the scene off
PICTURE_ONLY = "extends: tiny\nexperts: {audio: {enabled: false}, text: {enabled: false}, scene: {enabled: false}}\n"
LABELLED = [b for b in BASIC if b != "Other"]  # the basic labels the default prompts describe


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def axis(label: str) -> np.ndarray:
    """A text embedding of its own: one axis of an 8-d space per basic label."""
    return np.eye(len(BASIC))[BASIC.index(label)]


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache with the tiny CLIP, laid out as `cer models make-tiny` does."""
    root = tmp_path_factory.mktemp("cache")
    folder = root / "tiny" / "clip"
    folder.mkdir(parents=True)
    build_tiny_clip(folder)
    return root


def clip_config(**options: object) -> ExpertConfig:
    return ExpertConfig(device="cpu", models={"clip": ModelRef(source="tiny:clip", licence="generated")}, options=options)


@pytest.fixture(scope="module")
def expert(tiny_cache: Path) -> ClipLabelsExpert:
    return ClipLabelsExpert(clip_config(), tiny_cache)


def make_chunk(n_frames: int, fps: float = 5.0) -> Chunk:
    """Random RGB frames sampled at `fps`, in the project's 4 s / 2 s windows."""
    rng = np.random.default_rng(0)
    duration = n_frames / fps
    frames = [SampledFrame(t_s=i / fps, frame_index=i, image=rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)) for i in range(n_frames)]
    windows = make_windows(duration, fps, n_frames, 4.0, 2.0, 1.0)
    video = VideoInfo("clip.mp4", duration, fps, 80, 60, False, n_frames)
    return Chunk(video=video, windows=windows, frames=frames, audio=np.zeros(0, np.float32))


class FixedEncoder:
    """Stands in for the CLIP model: fixed image embeddings and logit scale."""

    def __init__(self, rows: np.ndarray, logit_scale: float) -> None:
        self.rows = rows
        self.logit_scale = logit_scale

    def encode_images(self, images: list[np.ndarray]) -> np.ndarray:
        assert len(images) == len(self.rows)
        return self.rows


# --- the expert ------------------------------------------------------------------------------


def test_probabilities_are_a_softmax_scaled_by_the_logit_scale(expert: ClipLabelsExpert, monkeypatch) -> None:
    rng = np.random.default_rng(1)
    rows = np.stack([unit(v) for v in rng.normal(size=(3, len(BASIC)))])
    monkeypatch.setattr(expert, "encoder", FixedEncoder(rows, logit_scale=50.0))
    labels = LabelEmbeddings(basic={b: axis(b) for b in LABELLED}, compound={k: unit(axis(a) + axis(b)) for k, (a, b) in PAIRS.items()})
    monkeypatch.setattr(expert, "labels", labels)
    [output] = expert.predict(make_chunk(3))

    # by hand: per frame, softmax over the 7 described labels of 50 * cosine; then the mean over frames
    cosines = rows[:, : len(LABELLED)]  # the axes are the first seven coordinates
    per_frame = np.exp(50.0 * cosines) / np.exp(50.0 * cosines).sum(axis=1, keepdims=True)
    expected = np.append(per_frame.mean(axis=0), 0.0)  # Other has no prompt: 0
    assert output.probs == pytest.approx(expected.tolist(), abs=1e-9)
    unscaled = np.exp(cosines) / np.exp(cosines).sum(axis=1, keepdims=True)
    assert unscaled.mean(axis=0).max() < 0.25 < max(output.probs)  # the scale is what makes it decisive
    assert output.embedding == pytest.approx(unit(rows.mean(axis=0)))
    assert output.label_embeddings is labels
    assert list(output.evidence["compound_probs"]) == list(PAIRS)
    assert sum(output.evidence["compound_probs"].values()) == pytest.approx(1.0, abs=1e-3)


def test_tiny_model_loads_through_open_clip_with_its_learned_scale(expert: ClipLabelsExpert) -> None:
    assert expert.encoder.logit_scale == pytest.approx(expert.encoder.model.logit_scale.exp().item())
    assert set(expert.labels.basic) == set(LABELLED) and list(expert.labels.compound) == list(PAIRS)
    for vector in [*expert.labels.basic.values(), *expert.labels.compound.values()]:
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_each_frame_is_embedded_once_and_windows_share_it(expert: ClipLabelsExpert, monkeypatch) -> None:
    seen: list[int] = []
    encode = expert.encoder.encode_images
    monkeypatch.setattr(expert.encoder, "encode_images", lambda images: (seen.append(len(images)), encode(images))[1])
    chunk = make_chunk(40)  # 8 s: windows [0, 4], [2, 6], [4, 8]
    outputs = expert.predict(chunk)
    assert seen == [32, 8] and [o.window_index for o in outputs] == [0, 1, 2]  # 40 frames, in batches of batch_size
    for output in outputs:
        assert sum(output.probs) == pytest.approx(1.0) and output.probs[BASIC.index("Other")] == 0.0
        assert output.evidence["frames"] == 20 and np.linalg.norm(output.embedding) == pytest.approx(1.0, abs=1e-5)


def test_torch_preprocessing_gives_the_probabilities_of_open_clips_own(expert: ClipLabelsExpert, tiny_cache: Path) -> None:
    """`preprocess: torch` (what CUDA gets by default) against open_clip's PIL transform, which
    `auto` keeps on the CPU: on random 80 x 60 frames (enlarged to 224 px) the probabilities
    differed by at most 2.0e-6 (on the chunks of the shared videos, 1.0e-5)."""
    torch_expert = ClipLabelsExpert(clip_config(preprocess="torch"), tiny_cache)
    assert expert.encoder.transform is None and torch_expert.encoder.transform is not None
    chunk = make_chunk(40)
    for ours, theirs in zip(torch_expert.predict(chunk), expert.predict(chunk), strict=True):
        assert ours.probs == pytest.approx(theirs.probs, abs=1e-5)
        assert ours.embedding @ theirs.embedding > 0.9999


def test_window_without_frames_is_absent(expert: ClipLabelsExpert) -> None:
    chunk = make_chunk(10)
    chunk.frames.clear()
    assert expert.predict(chunk)[0].reason == NO_FRAMES


def test_vocabulary_reaches_the_prompts_and_needs_words_for_its_labels(tiny_cache: Path) -> None:
    raf_ce = load_vocabulary("raf_ce")
    assert list(ClipLabelsExpert(clip_config(), tiny_cache, raf_ce).labels.compound) == RAF_CE
    words = {b: b.lower() for b in ("Neutral", "Happiness", "Sadness", "Surprise")}
    with pytest.raises(ValueError, match="Anger, Disgust, Fear"):
        ClipLabelsExpert(clip_config(basic_words=words), tiny_cache, raf_ce)
    with pytest.raises(ValueError, match="once"):
        ClipLabelsExpert(clip_config(templates=["a {} face {}"]), tiny_cache)


def test_offline_profile_has_no_clip_and_says_why(tmp_path: Path) -> None:
    profile = load_profile("offline")
    expert = build_expert("clip_labels", profile.experts["clip_labels"], ExpertContext(tmp_path, profile.compound.vocabulary))
    assert isinstance(expert, UnavailableExpert)
    assert "no CLIP model" in expert.status().reason and "--profile default" in expert.status().reason


def test_open_clip_source_is_resolved_in_the_cer_cache(tmp_path: Path) -> None:
    assert Source.parse("open_clip:ViT-B-32@openai") == Source("open_clip", "ViT-B-32", "openai")
    with pytest.raises(ModelNotAvailable, match="cer models pull"):
        resolve("open_clip:ViT-B-32@openai", tmp_path, download=False)  # nothing cached, and no download asked
    with pytest.raises(ModelNotAvailable, match="laion2b_s34b_b79k"):
        resolve("open_clip:ViT-B-32@no_such_tag", tmp_path)


# --- PFSA ------------------------------------------------------------------------------------


def embedded(direction: np.ndarray, labels: LabelEmbeddings, name: str = "clip_labels") -> ExpertOutput:
    return ExpertOutput(0, [1 / 8] * 8, name, embedding=unit(direction), label_embeddings=labels)


ONE_HOT = LabelEmbeddings(basic={b: axis(b) for b in LABELLED}, compound={k: unit(axis(a) + axis(b)) for k, (a, b) in PAIRS.items()})
SAD_ANGRY_PROBS = [0.05, 0.3, 0.05, 0.05, 0.05, 0.4, 0.05, 0.05]  # PPA would say Sadly_Angry


def pfsa_by_hand(pair_cosines: list[float], temperature: float) -> np.ndarray:
    scores = np.exp(np.array(pair_cosines) / temperature)
    return scores / scores.sum()


def test_pfsa_follows_the_embedding_not_the_probabilities() -> None:
    image = axis("Happiness") + axis("Surprise")  # cos 1/sqrt(2) to both, 0 to the rest
    result = to_compound(SAD_ANGRY_PROBS, PAIRS, "pfsa", {"clip_labels": embedded(image, ONE_HOT)}, temperature=0.1)
    c = 1 / np.sqrt(2)
    # pairs in PAIRS order: FS, HS, SS, DS, AS share Surprise (c / 2), HS has both (c); SF, SA none
    expected = pfsa_by_hand([c / 2, c, c / 2, c / 2, c / 2, 0.0, 0.0], 0.1)
    assert result.method == "pfsa" and result.note is not None and "clip_labels" in result.note
    assert result.scores == pytest.approx(expected.tolist())
    assert result.label == "Happily_Surprised" and result.confidence == pytest.approx(expected.max())
    assert result.pair_probs == pytest.approx((0.05, 0.05))  # the fused probabilities behind the winner


def test_pfsa_fuses_several_experts_as_the_mean_of_their_distributions() -> None:
    outputs = {
        "clip_labels": embedded(axis("Happiness") + axis("Surprise"), ONE_HOT),
        "other_clip": embedded(axis("Sadness") + axis("Anger"), ONE_HOT, "other_clip"),
        "no_embedding": ExpertOutput(0, [1 / 8] * 8, "x"),  # takes no part
    }
    result = to_compound(SAD_ANGRY_PROBS, PAIRS, "pfsa", outputs, temperature=0.1)
    c = 1 / np.sqrt(2)
    first = pfsa_by_hand([c / 2, c, c / 2, c / 2, c / 2, 0.0, 0.0], 0.1)
    second = pfsa_by_hand([0.0, 0.0, c / 2, 0.0, c / 2, c / 2, c], 0.1)
    assert result.scores == pytest.approx(((first + second) / 2).tolist())


def test_pfsa_compound_phrase_weight() -> None:
    # the image lies on the phrase "sadly fearful" only: with w = 1 the pair's labels do not count
    phrases = {k: axis("Other") if k == "Sadly_Fearful" else unit(axis(a) + axis(b)) for k, (a, b) in PAIRS.items()}
    labels = LabelEmbeddings(basic=ONE_HOT.basic, compound=phrases)
    output = {"clip_labels": embedded(axis("Other") + 0.1 * axis("Surprise"), labels)}
    assert to_compound(SAD_ANGRY_PROBS, PAIRS, "pfsa", output, phrase_weight=1.0).label == "Sadly_Fearful"
    assert to_compound(SAD_ANGRY_PROBS, PAIRS, "pfsa", output, phrase_weight=0.0).label != "Sadly_Fearful"


def test_pfsa_without_embeddings_in_the_window_falls_back_to_ppa() -> None:
    outputs = {"static_face": ExpertOutput(0, SAD_ANGRY_PROBS, "x")}
    result = to_compound(SAD_ANGRY_PROBS, PAIRS, "pfsa", outputs)
    assert result.method == "ppa" and result.label == "Sadly_Angry" and "PPA used" in result.note


# --- vocabularies ---------------------------------------------------------------------------


def test_profile_names_a_vocabulary_and_the_clip_expert_is_built_with_it(tmp_path: Path, tiny_cache: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: tiny\ncompound: {vocabulary: raf_ce}\n")
    profile = load_profile(str(mine))
    assert list(profile.compound.vocabulary) == RAF_CE
    context = dataclasses.replace(profile.expert_context, cache_dir=tiny_cache)
    expert = build_expert("clip_labels", profile.experts["clip_labels"].model_copy(update={"device": "cpu"}), context)
    assert isinstance(expert, ClipLabelsExpert) and list(expert.labels.compound) == RAF_CE


def test_an_expert_cannot_have_its_own_vocabulary(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: tiny\nexperts: {clip_labels: {compound_vocabulary: {A_B: [Anger, Fear]}}}\n")
    with pytest.raises(ConfigError, match=r"experts.clip_labels.compound_vocabulary: Extra inputs are not permitted"):
        load_profile(str(mine))


@pytest.fixture(scope="module")
def raf_ce_run(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """`cer run` on the tiny profile with the RAF-CE vocabulary and PFSA (the experts of the
    picture only: the vocabulary reaches CLIP and the compound step; the voice adds nothing here)."""
    out = tmp_path_factory.mktemp("raf-ce")
    profile = profile_file(tmp_path_factory, PICTURE_ONLY, "picture")
    done = cer("run", demo_clip, "--profile", profile, "--vocabulary", "raf_ce", "--compound", "pfsa", "--out", out)
    if "tiny model" in done.stderr and "not found" in done.stderr:
        pytest.skip("tiny models not built; run `cer models make-tiny`")
    assert done.returncode == 0, done.stderr
    return load_result(out / "result.json"), out


@pytest.mark.slow
def test_raf_ce_vocabulary_runs_end_to_end(raf_ce_run: tuple[Result, Path]) -> None:
    result, out = raf_ce_run
    assert result.labels.compound == RAF_CE
    assert (out / "frames.csv").read_text().splitlines()[0] == "image_location," + ",".join(RAF_CE)
    assert len((out / "frames.csv").read_text().splitlines()[0].split(",")) == 12
    assert "Disgustedly_Surprised" in (out / "report.html").read_text()
    for window in result.window_results:
        assert len(window.compound.scores) == 11 and window.compound.label in RAF_CE
        assert list(window.experts["clip_labels"].evidence["compound_probs"]) == RAF_CE


@pytest.mark.slow
def test_tiny_clip_expert_in_the_pipeline_feeds_pfsa(raf_ce_run: tuple[Result, Path]) -> None:
    result, _ = raf_ce_run
    assert result.experts["clip_labels"].model_dump() == {
        "status": "ok",
        "model_id": "tiny:clip",
        "reason": None,
        "note": None,
        "device": resolve_device("auto"),  # the tiny profile's: cpu on a machine without a GPU
        "cached_windows": None,
    }
    for window in result.window_results:
        probs = window.experts["clip_labels"].probs
        assert len(probs) == 8 and sum(probs) == pytest.approx(1.0) and min(probs) >= 0
        # PFSA ran on the expert's embeddings (not the PPA fallback), and says whose
        assert window.compound.method == "pfsa" and "embeddings of clip_labels" in window.compound.note
        assert sum(window.compound.scores) == pytest.approx(1.0)


def test_unknown_basic_label_in_a_vocabulary_is_one_line_naming_the_pair(tmp_path: Path, demo_clip: Path) -> None:
    vocabulary = tmp_path / "mine.yaml"
    vocabulary.write_text("Happily_Surprised: [Happiness, Surprise]\nHappily_Bored: [Happiness, Boredom]\n")
    done = cer("run", demo_clip, "--profile", "tiny", "--vocabulary", vocabulary, "--out", tmp_path / "out")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("cer: error:") and "Happily_Bored" in line and "Boredom" in line and "mine.yaml" in line
