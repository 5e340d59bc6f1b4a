"""Who feels what: persons tracked over a video, the voice given to the one who speaks, each
person fused on their own (cer.core.persons, cer.core.speakers, cer.pipeline.persons)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bench.people_clips import crowd_clip, two_person_clip
from cer.core.config import PersonsConfig
from cer.core.persons import PersonTracker
from cer.core.result import ResultError, load_result
from cer.core.speakers import MOUTH_MOTION, NO_SPEECH, ONLY_PERSON, UNCLEAR, attribute_voice
from cer.core.types import FaceBox, SampledFrame
from cer.pipeline.outputs.terminal import person_line, summary_table
from cer.pipeline.persons import persons_to_score

GREY = np.full((100, 200, 3), 128, dtype=np.uint8)


def frame(t_s: float, *boxes: FaceBox, image: np.ndarray = GREY) -> SampledFrame:
    return SampledFrame(t_s=t_s, frame_index=round(t_s * 25), image=image, faces=list(boxes))


def box(x: float, track: int, size: float = 20.0, person: int = -1, motion: float | None = None) -> FaceBox:
    return FaceBox(x, 40, x + size, 40 + size, 0.9, track_id=track, person=person, mouth_motion=motion)


# --- persons from tracks ---------------------------------------------------------------


def test_a_track_that_breaks_and_resumes_nearby_stays_one_person() -> None:
    tracker = PersonTracker(PersonsConfig(join_gap_s=3.0))
    seen = []
    for f in (frame(0.0, box(50, 0)), frame(0.2, box(52, 0)), frame(1.5, box(55, 1)), frame(1.7, box(150, 2))):
        tracker.update(f)
        seen += [b.person for b in f.faces]
    assert seen == [1, 1, 1, 2]  # track 1 resumes person 1; track 2 is far away: someone else


def test_a_track_that_resumes_after_the_gap_or_at_another_size_is_a_new_person() -> None:
    tracker = PersonTracker(PersonsConfig(join_gap_s=1.0, join_size_ratio=1.5))
    later, bigger = frame(2.0, box(50, 1)), frame(2.2, box(60, 2, size=40))
    for f in (frame(0.0, box(50, 0)), later, bigger):
        tracker.update(f)
    assert [later.faces[0].person, bigger.faces[0].person] == [2, 3]


def test_two_faces_seen_together_are_never_joined() -> None:
    tracker = PersonTracker(PersonsConfig())
    tracker.update(frame(0.0, box(50, 0)))
    both = frame(0.2, box(50, 0), box(60, 1))  # a second track right beside a visible person
    tracker.update(both)
    assert [b.person for b in both.faces] == [1, 2]


def test_mouth_motion_is_measured_between_consecutive_frames_of_a_person() -> None:
    tracker = PersonTracker(PersonsConfig())
    rng = np.random.default_rng(0)
    still, moved = GREY.copy(), GREY.copy()
    still[40:60, 50:70] = rng.integers(0, 255, size=(20, 20, 3))
    moved[40:60, 50:70] = rng.integers(0, 255, size=(20, 20, 3))
    frames = [frame(0.0, box(50, 0), image=still), frame(0.2, box(50, 0), image=still), frame(0.4, box(50, 0), image=moved)]
    for f in frames:
        tracker.update(f)
    motions = [f.faces[0].mouth_motion for f in frames]
    assert motions[0] is None  # nothing to compare the first sighting with
    assert motions[1] == pytest.approx(0.0)
    assert motions[2] > 0.5  # the mouth region changed wholesale


# --- who speaks -------------------------------------------------------------------------


def test_the_voice_goes_to_the_mouth_that_moves_during_speech() -> None:
    frames = [frame(t, box(10, 0, person=1, motion=0.05), box(120, 1, person=2, motion=0.9)) for t in (0.0, 0.2, 0.4, 2.0)]
    verdict = attribute_voice(frames, [1, 2], [(0.0, 1.0)], min_confidence=0.3)
    assert (verdict.speaker, verdict.basis) == (2, MOUTH_MOTION)
    assert verdict.shares[2] > 0.9 and verdict.confidence == pytest.approx(verdict.shares[2] - verdict.shares[1], abs=1e-3)


def test_an_unclear_speaker_gets_no_voice_and_silence_gives_none() -> None:
    frames = [frame(t, box(10, 0, person=1, motion=0.5), box(120, 1, person=2, motion=0.45)) for t in (0.0, 0.2)]
    unclear = attribute_voice(frames, [1, 2], [(0.0, 1.0)], min_confidence=0.3)
    assert (unclear.speaker, unclear.basis) == (None, UNCLEAR)
    assert attribute_voice(frames, [1, 2], [], min_confidence=0.3).basis == NO_SPEECH
    assert attribute_voice(frames, [1], [(0.0, 1.0)], min_confidence=0.3).basis == ONLY_PERSON


# --- which persons a chunk scores ---------------------------------------------------------


def test_the_most_present_persons_are_scored_up_to_the_cap(tmp_path: Path) -> None:
    from cer.core.types import Chunk, VideoInfo, Window

    info = VideoInfo(path="x.mp4", duration_s=4, fps=25, width=200, height=100, has_audio=False, n_frames=100)
    # person 3 on every frame, person 1 on 3 of 4, person 2 on 1 of 4 (too seldom to score)
    frames = [
        frame(t, box(10, 0, person=3), *([box(60, 1, person=1)] if k else []), *([box(120, 2, person=2)] if k == 1 else []))
        for k, t in enumerate((0.0, 1.0, 2.0, 3.0))
    ]
    chunk = Chunk(video=info, windows=[Window(0, 0.0, 4.0, 0, 100)], frames=frames, audio=np.zeros(0, dtype=np.float32))
    assert persons_to_score(chunk, PersonsConfig()) == [3, 1]
    assert persons_to_score(chunk, PersonsConfig(max_persons=1)) == [3]
    assert persons_to_score(chunk, PersonsConfig(max_persons=0)) == []


# --- the offline pipeline on generated and real clips --------------------------------------


@pytest.fixture(scope="module")
def offline_pipeline():
    from cer.pipeline import Pipeline

    with Pipeline.from_profile("offline") as pipeline:
        yield pipeline


@pytest.mark.offline
def test_two_persons_get_their_own_timelines_and_the_voice_goes_to_the_speaker(offline_pipeline, tmp_path: Path) -> None:
    clip = two_person_clip(tmp_path / "two.mp4", duration_s=6.0)
    result = offline_pipeline.run(clip, tmp_path / "out")
    assert len(result.persons) == 2
    main, other = result.persons
    assert main.boxes[0].box[0] < 0.5 < other.boxes[0].box[0]  # the larger face, on the left, is the main person
    speaker = other.id
    assert other.speaking_share == 1.0 and main.speaking_share == 0.0
    for person in result.persons:
        assert [w.index for w in person.windows] == [w.index for w in result.window_results]
        assert person.summary.n_windows == len(person.windows)
        for window in person.windows:
            assert window.voice is not None and window.voice.speaker == speaker, window.voice
            assert window.experts["static_face"].present
            text = window.experts["text"]
            if person.id == speaker:
                assert text.present and text.evidence["transcript"]
            else:
                assert not text.present and text.reason == f"the voice is person {speaker}'s"
    # the whole-video view keeps fusing the voice with the main (largest) face
    assert all(w.experts["text"].present for w in result.window_results)
    with (tmp_path / "out" / "windows.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted({row["person"] for row in rows}) == sorted({str(main.id), str(other.id)})
    assert len(rows) == 2 * len(result.window_results)
    reloaded = load_result(tmp_path / "out" / "result.json")
    assert reloaded.persons == result.persons
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f"<tr><td>person {speaker}</td><td>{other.summary.decision.text}</td><td>{len(other.windows)}</td><td>100%</td></tr>" in report
    lines = summary_table(result).splitlines()
    assert lines[-2:] == [person_line(main), person_line(other)] and "speaking in 100%" in lines[-1]


@pytest.mark.offline
def test_every_face_of_a_panned_group_photo_keeps_its_person(offline_pipeline, shared_data, tmp_path: Path) -> None:
    clip = crowd_clip(shared_data / "multi_face.jpg", tmp_path / "crowd.mp4")
    result = offline_pipeline.run(clip)
    assert len(result.persons) == PersonsConfig().max_persons  # five faces, the default cap of four
    sampled = {b.frame for person in result.persons for b in person.boxes}
    for person in result.persons:
        assert {b.frame for b in person.boxes} == sampled  # tracked on every sampled frame, never split
        assert person.windows and all(w.experts["static_face"].present for w in person.windows)
        assert person.summary.decision.label is not None


@pytest.mark.offline
def test_a_one_person_video_s_person_is_the_video_and_its_results_do_not_change(offline_pipeline, shared_data) -> None:
    video = shared_data / "single_face.mp4"
    result = offline_pipeline.run(video)
    assert len(result.persons) == 1
    (person,) = result.persons
    for own, whole in zip(person.windows, result.window_results, strict=True):
        assert (own.fused, own.compound, own.decision) == (whole.fused, whole.compound, whole.decision)
    profile = offline_pipeline.profile
    offline_pipeline.profile = profile.model_copy(update={"persons": PersonsConfig(max_persons=0)})
    try:
        without = offline_pipeline.run(video)
    finally:
        offline_pipeline.profile = profile
    assert without.persons == []
    assert without.window_results == result.window_results


def test_a_voice_given_to_an_unknown_person_is_refused(shared_data, offline_pipeline) -> None:
    result = offline_pipeline.run(shared_data / "single_face.mp4")
    data = result.model_dump(mode="json", by_alias=True)
    data["persons"][0]["windows"][0]["voice"] = {"speaker": 7, "confidence": 0.9, "basis": MOUTH_MOTION, "shares": {}}
    with pytest.raises(ResultError, match=r"result\.persons\[0\]\.windows\[0\]\.voice\.speaker: 7 is not a person"):
        load_result(data)
