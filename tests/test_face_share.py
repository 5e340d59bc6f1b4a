"""The face experts speak only for windows where the face was seen long enough (offline
profile, real packaged models, ../shared/data)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cer.core.options import MIN_FACE_SHARE
from cer.modalities.static_face import NO_FACE
from cer.pipeline import Pipeline

pytestmark = pytest.mark.offline
FACE_EXPERTS = ("static_face", "dynamic_face")


@pytest.fixture(scope="module")
def face_then_sky(shared_data: Path) -> Iterator[dict[str, Any]]:
    """face_noface.mov through the offline profile: the man until 2.4 s, then a sky scene."""
    with Pipeline.from_profile("offline", execution={"engine": "inprocess"}, cache={"enabled": False}) as pipeline:
        yield pipeline.run(shared_data / "face_noface.mov")


def test_the_window_the_face_fills_speaks_with_its_share(face_then_sky: dict[str, Any]) -> None:
    first = face_then_sky.window_results[0]  # 0-4 s: the face in 12 of 20 sampled frames
    for name in FACE_EXPERTS:
        output = first.experts[name]
        assert output.probs is not None, output.reason
        assert output.evidence["face_share"] == pytest.approx(0.6)


def test_a_face_glimpsed_at_the_start_of_a_window_leaves_the_face_experts_absent(face_then_sky: dict[str, Any]) -> None:
    middle = face_then_sky.window_results[1]  # 2-6 s: the face in its first 2 of 20 sampled frames
    assert (middle.start_s, middle.end_s) == (2.0, 6.0)
    for name in FACE_EXPERTS:
        output = middle.experts[name]
        assert output.probs is None
        assert output.reason == f"face in under {MIN_FACE_SHARE:.0%} of the sampled frames"
        assert output.evidence["face_share"] == pytest.approx(0.1)
    # no other expert hears or sees anything there, so the window has no answer at all
    # (before, it was Happiness 0.995 from those two frames)
    assert middle.fused.probs is None


def test_the_windows_after_the_face_have_no_face(face_then_sky: dict[str, Any]) -> None:
    last = face_then_sky.window_results[-1]
    for name in FACE_EXPERTS:
        assert last.experts[name].reason == NO_FACE
        assert last.experts[name].evidence["face_share"] == 0.0
