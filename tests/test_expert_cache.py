"""The expert-output cache: what it stores, what its keys depend on, and that the caching
executor builds an expert only for outputs it lacks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from cer.cli import main
from cer.core.config import ExpertConfig, load_profile
from cer.core.types import Chunk, ExpertOutput, ExpertStatus, LabelEmbeddings, VideoInfo, Window
from cer.pipeline.code_closure import module_closure
from cer.pipeline.execution import ExpertExecutor, failed_outputs
from cer.pipeline.expert_cache import CachingExecutor, ExpertCache, expert_description, expert_keys


class FakeExecutor(ExpertExecutor):
    """Answers every window with fixed probabilities; `failing` experts raise."""

    def __init__(self, experts: Mapping[str, ExpertConfig], built: list[list[str]], failing: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.names = list(experts)
        self.failing = failing
        self.seconds = dict.fromkeys(self.names, 0.5)
        built.append(self.names)

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        return {name: ExpertStatus(name, "ok", f"model-{name}") for name in self.names}

    def submit(self, chunk: Chunk) -> Chunk:
        return chunk

    def collect(self, handle: Chunk) -> dict[str, list[ExpertOutput]]:
        answers = {}
        for name in self.names:
            if name in self.failing:
                answers[name] = failed_outputs(handle.window_indices, f"model-{name}", RuntimeError("boom"))
            else:
                answers[name] = [ExpertOutput(w.index, [0.125] * 8, f"model-{name}", evidence={"w": w.index}) for w in handle.windows]
        return answers


@pytest.fixture
def chunk(tmp_path: Path) -> Chunk:
    video = tmp_path / "video.mp4"
    video.write_bytes(b"not decoded: the cache only hashes it")
    info = VideoInfo(str(video), 6.0, 10.0, 64, 48, False, 60)
    windows = [Window(0, 0.0, 4.0, 0, 40), Window(1, 2.0, 6.0, 20, 60)]
    return Chunk(info, windows, [], np.zeros(0, dtype=np.float32))


def caching(tmp_path: Path, names: list[str], built: list[list[str]], failing: frozenset[str] = frozenset()) -> CachingExecutor:
    experts = {name: ExpertConfig() for name in names}
    descriptions = {name: {"expert": name} for name in names}
    return CachingExecutor(experts, descriptions, ExpertCache(tmp_path / "cache"), lambda subset: FakeExecutor(subset, built, failing))


def test_outputs_round_trip_with_embeddings_and_numpy_evidence(tmp_path: Path) -> None:
    store = ExpertCache(tmp_path)
    labels = LabelEmbeddings(basic={"Fear": np.ones(4, np.float32)}, compound={"Sadly_Fearful": np.zeros(4, np.float32)})
    present = ExpertOutput(
        0,
        [0.5, 0.5, 0, 0, 0, 0, 0, 0],
        "m",
        embedding=np.arange(4, dtype=np.float32),
        label_embeddings=labels,
        evidence={"frames": np.int64(3), "curve": np.array([0.5, 1.5])},
    )
    absent = ExpertOutput(1, None, "m", reason="no face", evidence={"face_frames": 0})
    store.store("video-hash", "key", [present, absent])
    found = ExpertCache(tmp_path).load("video-hash", "key", [0, 1, 2])  # a new process would see the same
    assert sorted(found) == [0, 1]
    assert found[0].probs == present.probs and found[0].evidence == {"frames": 3, "curve": [0.5, 1.5]}
    np.testing.assert_array_equal(found[0].embedding, present.embedding)
    np.testing.assert_array_equal(found[0].label_embeddings.basic["Fear"], labels.basic["Fear"])
    assert found[1].probs is None and found[1].reason == "no face" and found[1].label_embeddings is None


def test_a_fully_cached_rerun_builds_no_expert(tmp_path: Path, chunk: Chunk) -> None:
    built: list[list[str]] = []
    first = caching(tmp_path, ["a", "b"], built)
    answers = first.collect(first.submit(chunk))
    assert built == [["a", "b"]] and first.seconds == {"a": 0.5, "b": 0.5}
    first.close()

    second = caching(tmp_path, ["a", "b"], built)
    again = second.collect(second.submit(chunk))
    assert built == [["a", "b"]]  # nothing more was built
    assert {n: [o.probs for o in outs] for n, outs in again.items()} == {n: [o.probs for o in outs] for n, outs in answers.items()}
    assert second.statuses["b"] == ExpertStatus("b", "ok", "model-b")  # remembered from the first run
    assert second.seconds == {"a": 0.0, "b": 0.0}


def test_only_missing_experts_are_built_and_failures_are_not_kept(tmp_path: Path, chunk: Chunk) -> None:
    built: list[list[str]] = []
    first = caching(tmp_path, ["a", "b"], built, failing=frozenset({"b"}))
    answers = first.collect(first.submit(chunk))
    assert answers["b"][0].reason.startswith("expert failed")
    second = caching(tmp_path, ["a", "b", "c"], built)  # b failed last time; c is new
    second.collect(second.submit(chunk))
    assert built == [["a", "b"], ["b", "c"]]


def test_expert_keys_follow_what_decides_the_outputs() -> None:
    base = load_profile("tiny")
    keys = expert_keys(base)

    def changed(**overrides: object) -> dict[str, bool]:
        return {name: key != keys[name] for name, key in expert_keys(load_profile("tiny", overrides)).items()}

    assert not any(changed(experts={"audio": {"num_cpus": 2}}).values())  # where it runs is not what it answers
    # options are keyed as validated, defaults filled in: a default spelled out is the same key
    assert not any(changed(experts={"scene": {"options": {"fps": 1.0, "prompt_style": "free"}}}).values())
    assert changed(experts={"scene": {"options": {"fps": 2.0}}}) == {name: name == "scene" for name in keys}
    assert changed(experts={"audio": {"options": {"min_speech_s": 0.5}}}) == {name: name == "audio" for name in keys}
    faces = changed(faces={"min_face_px": 40})
    assert faces["static_face"] and faces["dynamic_face"] and not faces["audio"] and not faces["clip_labels"]
    assert all(changed(windows={"hop_s": 1.0}).values())
    assert expert_description(base, "static_face")["faces"]["detector"] == "haar"
    # the compound vocabulary decides the outputs of the experts that read it, and no others
    vocabulary = changed(compound={"vocabulary": "raf_ce"})
    assert vocabulary == {name: name in ("clip_labels", "scene") for name in keys}


def test_cache_info_and_clear(tmp_path: Path, chunk: Chunk, capsys: pytest.CaptureFixture[str]) -> None:
    built: list[list[str]] = []
    executor = caching(tmp_path, ["a", "b"], built)
    executor.collect(executor.submit(chunk))
    executor.close()
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"extends: tiny\ncache: {{dir: {tmp_path / 'cache'}}}\n")
    assert main(["cache", "info", "--profile", str(profile)]) == 0
    info = capsys.readouterr().out
    assert "4 window output(s) of 1 video(s)" in info and "\na " in info and "\nb " in info
    assert main(["cache", "clear", "--expert", "a", "--profile", str(profile)]) == 0
    assert "removed 2" in capsys.readouterr().out
    assert main(["cache", "clear", "--profile", str(profile)]) == 0
    assert main(["cache", "info", "--profile", str(profile)]) == 0
    assert "0 window output(s) of 0 video(s)" in capsys.readouterr().out


def test_the_key_covers_the_helper_modules_an_expert_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "cer.modalities.face_models" in module_closure("cer.modalities.static_face")
    assert {"cer.modalities.asr", "cer.modalities.text_emotion"} <= set(module_closure("cer.modalities.text"))
    package = tmp_path / "closure_demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "expert.py").write_text("def answer():\n    from closure_demo.helper import scale\n    return scale\n")
    (package / "helper.py").write_text("scale = 1\n")
    (package / "unrelated.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = module_closure("closure_demo.expert", within="closure_demo")
    assert set(before) == {"closure_demo.expert", "closure_demo.helper"}
    (package / "helper.py").write_text("scale = 2\n")  # an edit to a helper only
    assert module_closure("closure_demo.expert", within="closure_demo") != before


def test_the_executor_counts_the_windows_each_expert_took_from_the_cache(tmp_path: Path, chunk: Chunk) -> None:
    built: list[list[str]] = []
    first = caching(tmp_path, ["a", "b"], built)
    first.collect(first.submit(chunk))
    assert first.from_cache == {"a": 0, "b": 0}
    first.close()
    second = caching(tmp_path, ["a", "b", "c"], built)  # c is new: computed, not cached
    second.collect(second.submit(chunk))
    assert second.from_cache == {"a": 2, "b": 2, "c": 0}


def test_result_json_and_the_report_say_which_outputs_came_from_the_cache(tmp_path: Path, demo_clip: Path) -> None:
    from cer.pipeline.runner import Pipeline

    only_static_face = {name: {"enabled": False} for name in ("dynamic_face", "audio", "text", "clip_labels", "scene")}
    profile = load_profile("tiny", {"cache": {"enabled": True, "dir": str(tmp_path / "cache")}, "experts": only_static_face})
    with Pipeline(profile) as pipeline:
        first = pipeline.run(demo_clip)
    with Pipeline(profile) as pipeline:
        second = pipeline.run(demo_clip, tmp_path / "out")
    n_windows = len(second.window_results)
    assert first.experts["static_face"].cached_windows == 0
    assert second.experts["static_face"].cached_windows == n_windows
    assert second.timings.experts_s["static_face"] == 0.0  # the time says nothing; the count says why
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f"<td>all {n_windows} windows</td>" in report
