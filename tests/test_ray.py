"""The experts as Ray actors: same results as in process, failures that stay local, and the
runner's pipelining. One embedded Ray serves the whole module (`ray_local`)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.people_clips import faces_clip
from cer.core.config import load_profile
from cer.core.engine import EngineFault
from cer.core.types import Chunk, ExpertOutput, ExpertStatus
from cer.pipeline.execution import ExpertExecutor
from cer.pipeline.ray_executor import actor_resources, pools_that_fit
from cer.pipeline.runner import Pipeline

RAY = {"engine": "ray"}


def only_experts(*keep: str) -> dict[str, Any]:
    """A tiny-profile override that disables every expert but `keep` (fewer actors to start)."""
    return {name: {"enabled": name in keep} for name in load_profile("tiny").experts}


def assert_same(a: Any, b: Any, where: str = "result") -> None:
    """Equal JSON documents, floats up to a tolerance (Ray's workers use other thread counts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_ray_gives_the_same_result_as_in_process(ray_local, tmp_path):
    """On two silent persons, so that each person's views of a chunk go to the actors too."""
    clip = faces_clip(tmp_path / "two.mp4", [420, 360], speaker=None, duration_s=2.5)  # one window
    with Pipeline.from_profile("tiny") as pipeline:
        in_process = pipeline.run(clip)
    with Pipeline.from_profile("tiny", execution=RAY) as pipeline:
        under_ray = pipeline.run(clip)
    assert under_ray.experts.keys() == in_process.experts.keys()
    assert len(under_ray.persons) == 2
    without_timings = {"timings"}
    assert_same(under_ray.model_dump(mode="json", exclude=without_timings), in_process.model_dump(mode="json", exclude=without_timings))


def test_an_expert_that_raises_under_ray_gives_absent_windows(ray_local, silent_clip):
    experts = {**only_experts("static_face"), "broken": {"target": "tests.broken_expert:BrokenExpert"}}  # the actors build from it
    with Pipeline.from_profile("tiny", execution=RAY, experts=experts) as pipeline:
        result = pipeline.run(silent_clip)
    assert result.experts["broken"].status == "ok"
    for window in result.window_results:
        assert window.experts["broken"].probs is None
        assert "deliberate failure" in window.experts["broken"].reason


def test_an_actor_that_keeps_crashing_stops_the_run_instead_of_a_half_result(ray_local, silent_clip):
    """Ray gives the actor up after its restarts: no result with that expert's windows absent
    as if the video lacked them, but an EngineFault that names the expert."""
    experts = {**only_experts("static_face"), "crashing": {"target": "tests.broken_expert:CrashingExpert"}}
    execution = {**RAY, "max_restarts": 1, "max_task_retries": 1}
    with Pipeline.from_profile("tiny", execution=execution, experts=experts) as pipeline:
        with pytest.raises(EngineFault, match="the crashing expert's engine failed: ActorDiedError"):
            pipeline.run(silent_clip)
        assert list(pipeline.executor.pool.dead()) == ["crashing"]


def test_a_dead_actor_is_started_again_under_its_name_and_the_run_repeated_whole(ray_local, silent_clip):
    import ray

    with Pipeline.from_profile("tiny", execution=RAY, experts=only_experts("static_face")) as pipeline:
        pool = pipeline.executor.pool
        ray.kill(pool.actors["static_face"], no_restart=True)
        with pytest.raises(EngineFault, match="static_face"):
            pipeline.run(silent_clip)
        assert pool.revive() == ["static_face"]
        assert pool.dead() == {} and pool.revive() == []
        result = pipeline.run(silent_clip)
    assert result.experts["static_face"].status == "ok"
    assert all("failed" not in (window.experts["static_face"].reason or "") for window in result.window_results)


def test_a_model_that_fails_to_load_in_an_actor_raises_its_own_error(ray_local):
    unloadable = {"target": "tests.broken_expert:UnloadableExpert"}
    with pytest.raises(FileNotFoundError, match="missing on purpose"):
        Pipeline.from_profile("tiny", execution=RAY, experts={**only_experts(), "unloadable": unloadable})


class RecordingExecutor(ExpertExecutor):
    """Answers nothing but records the order of submits and collects."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.in_flight = self.most_in_flight = 0

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        return {}

    def submit(self, chunk: Chunk) -> int:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.events.append(f"submit {chunk.windows[0].index}")
        return chunk.windows[0].index

    def collect(self, handle: int) -> dict[str, list[ExpertOutput]]:
        self.in_flight -= 1
        self.events.append(f"collect {handle}")
        return {}


def test_the_runner_sends_the_next_chunk_before_collecting_one(silent_clip):
    profile = load_profile("tiny", {"media": {"chunk_windows": 1}, "windows": {"length_s": 1.0, "hop_s": 1.0}})
    executor = RecordingExecutor()
    Pipeline(profile, executor=executor).run(silent_clip)
    assert executor.events == ["submit 0", "submit 1", "collect 0", "submit 2", "collect 1", "collect 2"]
    assert executor.most_in_flight == profile.execution.chunks_in_flight == 2


def test_gpus_are_requested_only_where_the_cluster_has_them():
    experts = load_profile("default").enabled_experts()
    without = actor_resources(experts, {"CPU": 8, "GPU": 0})
    with_gpu = actor_resources(experts, {"CPU": 8, "GPU": 1})
    assert all(r["num_gpus"] == 0 for r in without.values())
    assert 0 < sum(r["num_gpus"] for r in with_gpu.values()) <= 1  # every expert shares one card
    assert pools_that_fit({"CPU": 0.0, "GPU": 0.85}, {"CPU": 8, "GPU": 2}, wanted=4) == 2
    assert pools_that_fit({"CPU": 3.0, "GPU": 0.0}, {"CPU": 2, "GPU": 0}, wanted=1) == 0
