"""`cer eval` on miniature corpora in each dataset's layout, with the tiny profile; metrics
against scikit-learn; frame spreading on a worked example."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cer.cli import main
from cer.core.config import load_profile
from cer.core.frames import frame_labels, spread_to_frames
from cer.core.labels import BASIC, COMPOUND
from cer.pipeline import execution, executors
from cer.pipeline.evaluation import metrics
from cer.pipeline.evaluation.report import missing_experts
from tests import corpora, synthetic_experts

HAPPY, SAD, SURPRISE = BASIC.index("Happiness"), BASIC.index("Sadness"), BASIC.index("Surprise")


# ---------------------------------------------------------------- metrics and frames (no video)


@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_equal_scikit_learn(seed: int) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y_true = rng.choice([0, 1, 2, 4, 6], size=200)  # some classes absent, as in AFEW
    y_pred = rng.integers(0, 8, size=200)  # predictions may name absent classes
    present = np.unique(y_true)
    assert metrics.macro_f1(y_true, y_pred) == pytest.approx(sk.f1_score(y_true, y_pred, labels=present, average="macro"))
    assert metrics.uar(y_true, y_pred) == pytest.approx(sk.recall_score(y_true, y_pred, labels=present, average="macro"))
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, 8), sk.confusion_matrix(y_true, y_pred, labels=range(8)))
    np.testing.assert_allclose(metrics.f1_per_class(y_true, y_pred, present), sk.f1_score(y_true, y_pred, labels=present, average=None))
    everything = metrics.measure(y_true, y_pred, [str(k) for k in range(8)], all_classes=True)
    assert everything.macro_f1 == pytest.approx(sk.f1_score(y_true, y_pred, labels=range(8), average="macro", zero_division=0))


def test_unpredicted_samples_count_as_wrong_and_stay_out_of_the_confusion_matrix() -> None:
    result = metrics.measure(np.array([0, 0, 1, 1]), np.array([0, -1, 1, 1]), ["a", "b"])
    assert result.accuracy == 0.75 and result.unpredicted == 1
    assert result.confusion.tolist() == [[1, 0], [0, 2]]
    assert result.per_class_f1 == {"a": pytest.approx(2 / 3), "b": 1.0}


def test_expected_calibration_error_is_the_gap_between_confidence_and_accuracy() -> None:
    # 0.9 sure and right 9 times in 10: calibrated; 0.9 sure and right half the time: 0.4 too sure
    truth = np.zeros(10, dtype=int)
    sure = np.tile([0.9, 0.1], (10, 1))
    assert metrics.expected_calibration_error(np.array([0] * 9 + [1]), sure) == pytest.approx(0.0)
    assert metrics.expected_calibration_error(np.array([0] * 5 + [1] * 5), sure) == pytest.approx(0.4)
    # two bins, each weighted by its rows: (8 x |1 - 0.9| + 2 x |0 - 0.6|) / 10
    mixed = np.concatenate([np.tile([0.9, 0.1], (8, 1)), np.tile([0.6, 0.4], (2, 1))])
    assert metrics.expected_calibration_error(np.concatenate([truth[:8], [1, 1]]), mixed) == pytest.approx(0.2)


def test_frame_spreading_worked_example() -> None:
    # Windows of 4 frames every 2 frames over 7 frames: [0, 4), [2, 6), [4, 7).
    spans = [(0, 4), (2, 6), (4, 7)]
    scores = np.array([[0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
    spread = spread_to_frames(spans, scores, 8)  # frame 7 is covered by no window
    np.testing.assert_allclose(spread[:7], [[0.6, 0.4]] * 2 + [[0.4, 0.6]] * 2 + [[0.35, 0.65]] * 2 + [[0.5, 0.5]])
    assert np.isnan(spread[7]).all()
    # Frames 0-1: window 0 alone; 2-3: mean of 0 and 1; 4-5: mean of 1 and 2; 6: window 2 (a tie:
    # the first class); 7: no window, so the previous frame's label.
    assert frame_labels(spread).tolist() == [0, 0, 1, 1, 1, 1, 0, 0]


# ---------------------------------------------------------------- evaluations on miniature corpora


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three short clips, each second in the colour of a label."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "three": corpora.clip(folder / "three.mp4", [HAPPY, HAPPY, SURPRISE], seed=1),
        "two": corpora.clip(folder / "two.mp4", [SAD, SAD], seed=2),
        "one": corpora.clip(folder / "one.mp4", [SURPRISE], seed=3),
    }


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny profile with a cache of its own, and 2 s windows every second so that windows
    of these short clips overlap."""
    folder = tmp_path_factory.mktemp("profile")
    path = folder / "tiny-eval.yaml"
    path.write_text(f"extends: tiny\nwindows: {{length_s: 2.0, hop_s: 1.0}}\ncache: {{dir: {folder / 'cache'}}}\n")
    return path


@pytest.fixture
def expert_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times experts are built (executors started) and asked for chunks (whole, or
    preprocessed: a staged expert's parcels)."""
    calls = {"built": 0, "predict": 0}
    start, predict, answer = executors.start_executor, execution.ServedExpert.predict, execution.ServedExpert.answer

    def counted_start(*args, **kwargs):
        calls["built"] += 1
        return start(*args, **kwargs)

    def counted_predict(self, chunk):
        calls["predict"] += 1
        return predict(self, chunk)

    def counted_answer(self, parcels, run=None):
        calls["predict"] += 1
        return answer(self, parcels, run)

    monkeypatch.setattr(executors, "start_executor", counted_start)
    monkeypatch.setattr(execution.ServedExpert, "predict", counted_predict)
    monkeypatch.setattr(execution.ServedExpert, "answer", counted_answer)
    return calls


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def afew_eval(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path], profile: Path) -> Path:
    """`cer eval afew` on a Val_AFEW of the three clips; its output folder."""
    root = tmp_path_factory.mktemp("afew") / "AFEW"
    _copy(clips["three"], root / "Val_AFEW" / "Happy" / "000101.mp4")
    _copy(clips["two"], root / "Val_AFEW" / "Sad" / "000102.mp4")
    _copy(clips["one"], root / "Val_AFEW" / "Surprise" / "000103.mp4")
    _copy(clips["one"], root / "Train_AFEW" / "Angry" / "000201.mp4")  # another split: not evaluated
    out = root.parent / "out"
    assert main(["eval", "afew", "--root", str(root), "--profile", str(profile), "--out", str(out)]) == 0
    return out


def test_the_comparison_names_the_experts_a_profile_lacks() -> None:
    assert missing_experts(load_profile("offline")) == ["audio (speech emotion; voice activity only)", "clip_labels", "scene"]
    assert missing_experts(load_profile("tiny")) == []


def test_afew_layout(afew_eval: Path) -> None:
    document = json.loads((afew_eval / "metrics.json").read_text())
    clip = document["levels"]["clip"]
    assert document["dataset"] == "AFEW" and document["split"] == "Val_AFEW" and document["videos"] == 3
    assert clip["n"] == 3 and clip["averaged_over"] == ["Happiness", "Sadness", "Surprise"]
    assert np.sum(clip["confusion"]["matrix"]) + clip["unpredicted"] == 3
    assert (afew_eval / "confusion-clip.png").stat().st_size > 0
    with (afew_eval / "confusion-clip.csv").open() as handle:
        assert next(csv.reader(handle)) == ["true \\ predicted", *BASIC]
    with (afew_eval / "ablation.csv").open() as handle:
        names = [row["name"] for row in csv.DictReader(handle)]
    assert names[0] == "all" and "only clip_labels" in names and "all but clip_labels" in names
    report = (afew_eval / "report.md").read_text()
    assert "Nothing was tuned on this split (Val_AFEW)" in report and "Macro F1" in report
    assert "tiny-eval" in report and "`tiny:clip`" in report
    comparison = next(line for line in report.splitlines() if line.startswith("Published"))
    # on one line: their level and class set, then ours, and the experts this profile lacks
    assert "49.02 % on their development split, one label per 4-second segment, macro F1 over the labels" in comparison
    assert "Here: the clip level, macro F1 over Happiness, Sadness, Surprise" in comparison
    balance = {row["expert"]: row for row in document["balance"]}
    assert set(balance) == set(load_profile("tiny").enabled_experts())
    answered = [row for row in balance.values() if row["windows"]]
    assert answered, balance  # the face and picture experts answer on these clips
    for row in answered:
        assert 0 <= row["mean_entropy_bits"] <= 3 and 0 <= row["agreement"] <= 1
    assert all(row["mean_entropy_bits"] is None for row in balance.values() if not row["windows"])
    assert "## Expert balance" in report and "fused top = expert's top %" in report


def test_one_sharp_expert_shows_as_low_entropy_and_full_agreement() -> None:
    """Two experts under equal weights: the near one-hot one decides every fused label."""
    from cer.core.types import ExpertOutput
    from cer.fusion.mhpf import MHPF
    from cer.pipeline.evaluation.collect import VideoExperts
    from cer.pipeline.evaluation.scoring import expert_balance

    rng = np.random.default_rng(0)
    sharp, flat = [], []
    for w in range(6):
        one_hot = np.full(len(BASIC), 0.001)
        one_hot[w % 7] = 1.0
        sharp.append(ExpertOutput(window_index=w, probs=list(one_hot / one_hot.sum()), model_id="sharp"))
        near_uniform = 1.0 + 0.05 * rng.random(len(BASIC))
        flat.append(ExpertOutput(window_index=w, probs=list(near_uniform / near_uniform.sum()), model_id="flat"))
    video = VideoExperts(Path("v.mp4"), 60, [], {"sharp": sharp, "flat": flat})
    video.windows = [None] * 6  # type: ignore[list-item]  # only their count matters here
    rows = {row.expert: row for row in expert_balance({video.path: video}, MHPF(["sharp", "flat"], 3))}
    assert rows["sharp"].agreement == 1.0 and rows["sharp"].mean_entropy_bits < 0.2
    assert rows["flat"].mean_entropy_bits > 2.9 and rows["flat"].agreement < 0.5
    tempered = {row.expert: row for row in expert_balance({video.path: video}, MHPF(["sharp", "flat"], 3, temperatures={"sharp": 5.0}))}
    assert tempered["sharp"].mean_entropy_bits > rows["sharp"].mean_entropy_bits


def test_affwild2_layout_reuses_the_cached_outputs_of_the_same_clips(
    tmp_path: Path, clips: dict[str, Path], profile: Path, afew_eval: Path, expert_calls: dict[str, int]
) -> None:
    videos, annotations = tmp_path / "videos", tmp_path / "annotations" / "Validation_Set"
    _copy(clips["three"], videos / "1-30-640x480.mp4")
    _copy(clips["two"], videos / "video10_1.mp4")
    three = corpora.per_frame([HAPPY, HAPPY, SURPRISE])
    three[:5] = [-1] * 5  # ignored frames
    corpora.frame_annotation(annotations / "1-30-640x480.txt", BASIC, three)
    corpora.frame_annotation(annotations / "video10_1_left.txt", BASIC, corpora.per_frame([SAD, SAD]))
    corpora.frame_annotation(annotations / "video10_1_right.txt", BASIC, corpora.per_frame([SAD, -1]))
    out = tmp_path / "out"
    assert (
        main(["eval", "affwild2", "--videos", str(videos), "--annotations", str(annotations), "--profile", str(profile), "--out", str(out)])
        == 0
    )

    document = json.loads((out / "metrics.json").read_text())
    assert document["split"] == "Validation_Set" and document["videos"] == 2
    assert document["levels"]["frame"]["n"] == 25 + 20 + 10  # every annotated frame of the three files
    assert document["headline"] == "frame" and "window" in document["levels"]
    assert (out / "confusion-frame.png").exists() and (out / "confusion-window.csv").exists()
    # The AFEW evaluation processed the same clips (as other files): the cache knows them by content.
    assert expert_calls == {"built": 0, "predict": 0}


def test_c_expr_db_submission_and_a_second_method_that_runs_no_expert(
    tmp_path: Path, profile: Path, expert_calls: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    videos, labels = tmp_path / "videos", tmp_path / "labels"
    corpora.clip(videos / "clipA.mp4", [HAPPY, SURPRISE, SURPRISE], seed=11)
    corpora.clip(videos / "clipB.mp4", [SAD, SAD], seed=12)
    # The organisers' order: B before A, and one frame of A past the end of the decoded video.
    locations = [f"clipB/{n:05d}.jpg" for n in range(1, 21)] + [f"clipA/{n:05d}.jpg" for n in range(1, 32)]
    frame_list = tmp_path / "frame_list.csv"
    frame_list.write_text("image_location\n" + "".join(f"{location}\n" for location in locations))
    happily_surprised = COMPOUND.index("Happily_Surprised")
    corpora.frame_annotation(labels / "clipA.txt", COMPOUND, [-1] * 3 + [happily_surprised] * 27)
    first, second = tmp_path / "ppa", tmp_path / "pfsa"
    common = [
        "eval",
        "c-expr-db",
        "--videos",
        str(videos),
        "--frame-list",
        str(frame_list),
        "--labels",
        str(labels),
        "--profile",
        str(profile),
    ]

    assert main([*common, "--out", str(first)]) == 0
    assert expert_calls["built"] == 1 and expert_calls["predict"] > 0
    assert "# Zero-shot evaluation on C-EXPR-DB (test)" in capsys.readouterr().out  # the report is printed too
    lines = (first / "submission.txt").read_text().splitlines()
    assert lines[0] == "image_location," + ",".join(COMPOUND)
    assert [line.rsplit(",", 1)[0] for line in lines[1:]] == locations  # line for line
    assert all(0 <= int(line.rsplit(",", 1)[1]) < len(COMPOUND) for line in lines[1:])
    document = json.loads((first / "metrics.json").read_text())
    assert document["method"] == "ppa" and document["levels"]["frame"]["n"] == 27
    assert document["levels"]["frame"]["averaged_over"] == list(COMPOUND)  # all seven, as METHOD.md scores it
    assert set(document["ablation"][0]) >= {"ppa", "pfsa"}

    expert_calls.update(built=0, predict=0)
    assert main([*common, "--out", str(second), "--compound", "pfsa"]) == 0
    assert expert_calls == {"built": 0, "predict": 0}
    assert json.loads((second / "metrics.json").read_text())["method"] == "pfsa"
    assert len((second / "submission.txt").read_text().splitlines()) == len(locations) + 1


def test_c_expr_db_without_labels_writes_the_submission_only(tmp_path: Path, clips: dict[str, Path], profile: Path) -> None:
    videos = tmp_path / "videos"
    _copy(clips["one"], videos / "only.mp4")
    frame_list = tmp_path / "list.csv"
    frame_list.write_text("image_location,extra\nonly/00002.jpg,x\nonly/00001.jpg,y\n")
    out = tmp_path / "out"
    assert (
        main(["eval", "c-expr-db", "--videos", str(videos), "--frame-list", str(frame_list), "--profile", str(profile), "--out", str(out)])
        == 0
    )
    lines = (out / "submission.txt").read_text().splitlines()
    assert [line.rsplit(",", 1)[0] for line in lines[1:]] == ["only/00002.jpg", "only/00001.jpg"]
    assert "No labels were given" in (out / "report.md").read_text()


def test_layout_errors_are_one_line(tmp_path: Path, profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "AFEW" / "Val_AFEW" / "Joyful").mkdir(parents=True)
    assert main(["eval", "afew", "--root", str(tmp_path / "AFEW"), "--profile", str(profile)]) == 2
    assert "Joyful is not an AFEW emotion folder" in capsys.readouterr().err
    frame_list = tmp_path / "list.csv"
    frame_list.write_text("image_location\nmissing/00001.jpg\n")
    (tmp_path / "videos").mkdir()
    args = ["eval", "c-expr-db", "--videos", str(tmp_path / "videos"), "--frame-list", str(frame_list), "--out", str(tmp_path / "o")]
    assert main([*args, "--profile", str(profile)]) == 2
    assert "not found there: missing" in capsys.readouterr().err


# ---------------------------------------------------------------- through Ray, as `cer batch`


@pytest.mark.slow
def test_under_ray_missing_videos_run_as_a_batch_that_fills_the_cache(
    ray_local: None, tmp_path: Path, expert_calls: dict[str, int]
) -> None:
    root = corpora.afew(tmp_path / "AFEW", {"Val_AFEW": {"a": HAPPY, "b": SAD}})
    profiles = {}
    for engine in ("ray", "inprocess"):
        profiles[engine] = tmp_path / f"{engine}.yaml"
        profiles[engine].write_text(
            f"faces: {{detector: haar}}\nexecution: {{engine: {engine}}}\ncache: {{dir: {tmp_path / 'cache'}}}\n"
            + synthetic_experts.EXPERTS_YAML
        )
    results = {}
    for engine, profile in profiles.items():
        out = tmp_path / engine
        assert main(["eval", "afew", "--root", str(root), "--profile", str(profile), "--out", str(out)]) == 0
        results[engine] = json.loads((out / "metrics.json").read_text())["levels"]
    with (tmp_path / "ray" / "videos" / "summary.csv").open() as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["done", "done"]
    assert results["ray"] == results["inprocess"]
    assert expert_calls == {"built": 0, "predict": 0}  # the in-process run found everything cached
