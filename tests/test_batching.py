"""Batching across chunks and videos: the items of chunks that reach an expert together share
its forward passes, and every chunk still gets exactly its own outputs.

- `ItemBatcher` (a Ray actor's threads): concurrent callers' parcels go through in shared
  rounds, each caller gets its chunk's outputs, an error reaches every caller of its round;
- in process: the runner's chunks in flight share the forward passes;
- on Ray: an actor whose caller preprocesses (what a GPU actor gets) answers as in process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cer.core.config import ExpertConfig
from cer.core.labels import BASIC
from cer.core.types import ExpertOutput
from cer.modalities.base import Prepared, StagedExpert
from cer.pipeline.batching import ItemBatcher
from cer.pipeline.runner import Pipeline
from tests.test_ray import assert_same


class Doubling(StagedExpert):
    """Items are numbers; a window's answer puts its item's double on Happiness. Records each
    forward batch so that tests see which items went together."""

    name = "doubling"

    def __init__(self, batch_size: int, fail_on: int | None = None) -> None:
        self._batch_size = batch_size
        self.fail_on = fail_on
        self.batches: list[list[int]] = []
        super().__init__(ExpertConfig(device="cpu"), Path("."))

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def model_id(self) -> str:
        return "doubling"

    def load(self) -> None:
        pass  # no model: the arithmetic is the forward pass

    def preprocess(self, chunk: Any) -> Prepared:
        raise NotImplementedError("the tests hand in parcels")

    def forward(self, items: Sequence[Any]) -> list[Any]:
        time.sleep(0.01)  # a forward pass takes time, so that callers pile up behind it
        self.batches.append(list(items))
        if self.fail_on in items:
            raise RuntimeError(f"cannot double {self.fail_on}")
        return [2 * item for item in items]

    def postprocess(self, plan: Any, results: list[Any]) -> list[ExpertOutput]:
        outputs = []
        for window, result in zip(plan, results, strict=True):
            probs = np.full(len(BASIC), 1.0)
            probs[BASIC.index("Happiness")] += result
            outputs.append(self.present(window, probs, doubled=result))
        return outputs


def parcel(first_window: int, items: list[int]) -> Prepared:
    windows = list(range(first_window, first_window + len(items)))
    return Prepared(items=items, plan=windows, windows=tuple(windows))


def call_together(batcher: ItemBatcher, parcels: list[Prepared]) -> list[Any]:
    """Each parcel from its own thread, all at once; each thread's answer or error."""
    answers: list[Any] = [None] * len(parcels)

    def ask(i: int) -> None:
        try:
            answers[i] = batcher.answer([parcels[i]])[0]
        except RuntimeError as exc:
            answers[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(parcels))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_callers_share_batches_and_each_gets_its_own_outputs() -> None:
    expert = Doubling(batch_size=8)
    parcels = [parcel(10 * i, [10 * i + k for k in range(3)]) for i in range(6)]  # 6 chunks of 3 items
    answers = call_together(ItemBatcher(expert, wait_s=0.5), parcels)
    for chunk, outputs in zip(parcels, answers, strict=True):
        assert [o.window_index for o in outputs] == list(chunk.windows)
        assert [o.evidence["doubled"] for o in outputs] == [2 * item for item in chunk.items]
    assert sum(len(b) for b in expert.batches) == 18
    assert max(len(b) for b in expert.batches) == 8  # full batches, across chunks
    assert len(expert.batches) < len(parcels)


def test_a_lone_caller_waits_at_most_the_wait() -> None:
    expert = Doubling(batch_size=64)
    started = time.perf_counter()
    [outputs] = ItemBatcher(expert, wait_s=0.2).answer([parcel(0, [1, 2])])
    assert 0.2 <= time.perf_counter() - started < 2.0
    assert [o.evidence["doubled"] for o in outputs] == [2, 4]


def test_an_error_reaches_every_caller_of_its_round_and_the_next_round_works() -> None:
    expert = Doubling(batch_size=100, fail_on=13)
    batcher = ItemBatcher(expert, wait_s=0.5)
    answers = call_together(batcher, [parcel(0, [1]), parcel(1, [13]), parcel(2, [3])])
    assert all(isinstance(a, RuntimeError) for a in answers)
    [outputs] = batcher.answer([parcel(5, [4])])
    assert outputs[0].evidence["doubled"] == 8


def window_probs(result: dict[str, Any]) -> dict[str, list[Any]]:
    experts = result.window_results[0].experts
    return {name: [w.experts[name].probs for w in result.window_results] for name in experts}


@pytest.fixture(scope="module")
def one_chunk_at_a_time(demo_clip: Path) -> dict[str, Any]:
    """The tiny profile on the demo clip, one window per chunk and each chunk answered before
    the next is sent, the experts one after another: no batching across chunks, no threads."""
    execution = {"chunks_in_flight": 1, "concurrent_experts": False}
    with Pipeline.from_profile("tiny", media={"chunk_windows": 1}, execution=execution) as pipeline:
        return pipeline.run(demo_clip)


def test_chunks_in_flight_share_forward_passes_in_process(demo_clip: Path, one_chunk_at_a_time: dict[str, Any]) -> None:
    wide_clip = {"clip_labels": {"options": {"batch_size": 256}}}  # room for every frame of the clip
    with Pipeline.from_profile("tiny", media={"chunk_windows": 1}, execution={"chunks_in_flight": 3}, experts=wide_clip) as pipeline:
        batched = pipeline.run(demo_clip)
        counts = pipeline.executor.batch_counts()
    assert_same(window_probs(batched), window_probs(one_chunk_at_a_time))
    assert len(batched.window_results) >= 2
    assert counts["clip_labels"][0] == 1  # every chunk's frames in one forward pass


def test_ray_actors_answer_chunks_preprocessed_by_their_caller(
    ray_local: None, demo_clip: Path, one_chunk_at_a_time: dict[str, Any]
) -> None:
    """What a GPU actor gets: its caller preprocesses, the actor runs forward passes only."""
    from cer.core.config import load_profile
    from cer.modalities.factory import build_preprocessor
    from cer.pipeline.ray_executor import ExpertPool, RayExecutor

    profile = load_profile("tiny", {"media": {"chunk_windows": 1}, "execution": {"engine": "ray", "chunks_in_flight": 3}})
    experts = profile.enabled_experts()
    pool = ExpertPool.start(experts, profile.expert_context, profile.execution)
    preprocessors = {name: build_preprocessor(name, cfg, profile.expert_context) for name, cfg in experts.items()}
    executor = RayExecutor(pool, {name: p for name, p in preprocessors.items() if p is not None}, on_close=pool.kill)
    assert executor.preprocessors.keys() == experts.keys()
    with Pipeline(profile, executor=executor) as pipeline:
        result = pipeline.run(demo_clip)
        counts = pipeline.executor.batch_counts()
    assert_same(window_probs(result), window_probs(one_chunk_at_a_time))
    assert all(items > 0 for calls, items in counts.values() if calls)


def test_ray_actors_that_preprocess_for_themselves_take_chunks_concurrently(ray_local: None, tmp_path: Path) -> None:
    """Several chunks reach each actor at once (its threads): its preprocessing, whose voice
    activity model keeps state, still sees them one at a time, and the answers are unchanged."""
    from cer.pipeline.demo import build_demo_clip

    clip = build_demo_clip(tmp_path / "long.mp4", duration_s=16.0, face_until_s=8.0)
    speech_only = {name: {"enabled": name in ("audio", "text")} for name in ("static_face", "dynamic_face", "clip_labels", "scene")}
    one_window_chunks = {"chunk_windows": 1}
    with Pipeline.from_profile("tiny", media=one_window_chunks, experts=speech_only, execution={"chunks_in_flight": 1}) as pipeline:
        alone = pipeline.run(clip)
    ray = {"engine": "ray", "chunks_in_flight": 4}
    with Pipeline.from_profile("tiny", media=one_window_chunks, experts=speech_only, execution=ray) as pipeline:
        concurrent = pipeline.run(clip)
    assert len(concurrent.window_results) >= 6
    assert_same(window_probs(concurrent), window_probs(alone))
    reasons = [w.experts[name].reason or "" for w in concurrent.window_results for name in ("audio", "text")]
    assert not any("failed" in reason for reason in reasons)
