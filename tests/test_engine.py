"""`execution.engine: auto` picks the engine from the work: Ray where it pays for its start-up."""

from __future__ import annotations

import pytest
import torch

from cer.core.config import ExecutionConfig, load_profile
from cer.pipeline.executors import LONG_VIDEO_S, choose_engine, with_engine

AUTO = ExecutionConfig(engine="auto")


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def test_a_named_engine_is_kept_whatever_the_work() -> None:
    assert choose_engine(ExecutionConfig(engine="inprocess"), many_videos=True) == "inprocess"
    assert choose_engine(ExecutionConfig(engine="ray"), video_s=5.0) == "ray"


def test_auto_uses_ray_for_many_or_long_videos_and_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_engine(AUTO, many_videos=True) == "ray"
    assert choose_engine(AUTO, video_s=LONG_VIDEO_S + 1) == "ray"
    assert choose_engine(ExecutionConfig(engine="auto", ray_address="ray://head:10001"), video_s=5.0) == "ray"
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    assert choose_engine(AUTO, video_s=5.0) == "ray"


def test_auto_runs_one_short_video_in_process_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_engine(AUTO, video_s=10.0) == "inprocess"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_engine(AUTO, video_s=10.0) == "ray"  # experts share the GPU at once


def test_the_shipped_default_is_auto_and_resolving_keeps_the_rest() -> None:
    profile = load_profile("default")
    assert profile.execution.engine == "auto"
    resolved = with_engine(profile, "inprocess")
    assert resolved.execution.engine == "inprocess" and resolved.execution.chunks_in_flight == profile.execution.chunks_in_flight
    assert load_profile("tiny").execution.engine == "inprocess"
