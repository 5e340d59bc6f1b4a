"""How the in-process executor shares the cores: the lead experts' threads at the normal
priority, the others below them, and torch's intra-op threads shared out among the experts."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from cer.core.config import ExpertConfig, ExpertContext, load_profile
from cer.core.types import Chunk, ExpertOutput, VideoInfo, Window
from cer.modalities.base import Expert
from cer.pipeline.core_shares import BACKGROUND_NICE
from cer.pipeline.execution import InProcessExecutor

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread has a priority of its own on Linux only")


def thread_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


class NiceReporter(Expert):
    """Answers every window absent, with the niceness of the thread it ran on and torch's
    intra-op threads as evidence."""

    name = "nice_reporter"

    @property
    def model_id(self) -> str:
        return "nice-reporter"

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        seen = {"nice": thread_nice(), "torch_threads": torch.get_num_threads()}
        return [self.absent(window.index, "reports its thread", **seen) for window in chunk.windows]


def a_chunk() -> Chunk:
    info = VideoInfo(path="x.mp4", duration_s=4, fps=25, width=64, height=64, has_audio=False, n_frames=100)
    return Chunk(video=info, windows=[Window(0, 0.0, 4.0, 0, 100)], frames=[], audio=np.zeros(0, dtype=np.float32))


def reporters(*names: str) -> dict[str, ExpertConfig]:
    return {name: ExpertConfig(target="tests.test_core_shares:NiceReporter") for name in names}


@linux_only
def test_only_the_lead_experts_keep_the_normal_priority(tmp_path: Path) -> None:
    executor = InProcessExecutor(reporters("lead", "other", "third"), ExpertContext(tmp_path, {}), lead=["lead"])
    try:
        answers = executor.collect(executor.submit(a_chunk()))
    finally:
        executor.close()
    nice = {name: outputs[0].evidence["nice"] for name, outputs in answers.items()}
    base = thread_nice()
    assert nice == {"lead": base, "other": min(19, base + BACKGROUND_NICE), "third": min(19, base + BACKGROUND_NICE)}
    assert thread_nice() == base  # the caller's own thread is left as it was


def test_torch_threads_are_the_cores_shared_among_the_experts_until_closed(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    executor = InProcessExecutor(reporters("a", "b"), ExpertContext(tmp_path, {}))
    try:
        answers = executor.collect(executor.submit(a_chunk()))
    finally:
        executor.close()
    assert {outputs[0].evidence["torch_threads"] for outputs in answers.values()} == {max(1, (os.cpu_count() or 1) // 2)}
    assert torch.get_num_threads() == before


def test_experts_one_after_another_keep_torch_threads_and_priority(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    executor = InProcessExecutor(reporters("a", "b"), ExpertContext(tmp_path, {}), concurrent=False, lead=["a"])
    try:
        answers = executor.collect(executor.submit(a_chunk()))
    finally:
        executor.close()
    assert {outputs[0].evidence["torch_threads"] for outputs in answers.values()} == {before}
    assert {outputs[0].evidence["nice"] for outputs in answers.values()} == {thread_nice()}


def test_lead_experts_must_be_experts_of_the_profile() -> None:
    assert load_profile("offline").execution.lead_experts == ["text"]
    with pytest.raises(ValueError, match=r"execution\.lead_experts names no expert of the profile: speech"):
        load_profile("offline", {"execution": {"lead_experts": ["speech"]}})
