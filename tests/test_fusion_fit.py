"""Fitting the MHPF weights: one informative expert among noisy ones must end up weighted
highest and beat equal weights on dev; the protocol refuses C-EXPR-DB and reused splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cer.cli import main
from cer.core.config import load_profile
from cer.core.labels import BASIC
from cer.fusion.fit import FitOptions, WindowSet, fit_mhpf
from cer.fusion.mhpf import MHPF, fuse_many
from cer.pipeline.evaluation.metrics import macro_f1
from cer.pipeline.runner import Pipeline
from tests import corpora
from tests.synthetic_experts import EXPERTS_YAML


def synthetic_windows(n: int, seed: int) -> WindowSet:
    """Expert 0 puts 0.4 on the true class; experts 1 and 2 put 0.9 on a random one."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, size=n)
    probs = np.full((n, 3, len(BASIC)), 0.1 / 7)
    probs[:, 0] = 0.6 / 7
    probs[np.arange(n), 0, labels] = 0.4
    for m in (1, 2):
        probs[np.arange(n), m, rng.integers(0, 7, size=n)] = 0.9
    present = rng.random((n, 3)) > 0.1  # now and then an expert is absent
    return WindowSet(probs, present, labels)


def test_fit_weights_the_informative_expert_highest_and_beats_equal_weights() -> None:
    experts = ["informative", "noise_1", "noise_2"]
    train, dev = synthetic_windows(400, seed=0), synthetic_windows(200, seed=1)

    def dev_score(module: MHPF) -> float:
        fused = fuse_many(module, dev.probs, dev.present)
        predicted = np.where(np.isnan(fused).any(axis=1), -1, np.argmax(np.nan_to_num(fused), axis=1))
        return macro_f1(dev.labels, predicted)

    result = fit_mhpf(experts, train, dev_score, FitOptions(max_steps=150, patience=20))
    mean_weights = {name: np.mean(w[:7]) for name, w in result.module.expert_weights().items()}
    assert max(mean_weights, key=mean_weights.get) == "informative"
    assert result.step > 0 and result.dev_score > result.equal_score + 0.2
    assert result.dev_score == pytest.approx(dev_score(result.module))


@pytest.fixture(scope="module")
def afew_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train_AFEW and Val_AFEW with one one-second clip per emotion each."""
    splits = {split: {f"{split}-{k}": k for k in range(7)} for split in ("Train_AFEW", "Val_AFEW")}
    return corpora.afew(tmp_path_factory.mktemp("afew") / "AFEW", splits)


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("profile")
    path = folder / "synthetic.yaml"
    path.write_text(f"faces: {{detector: haar}}\nexecution: {{engine: inprocess}}\ncache: {{dir: {folder / 'cache'}}}\n{EXPERTS_YAML}")
    return path


def test_cer_fusion_fit_learns_the_informative_expert(
    tmp_path: Path, afew_root: Path, profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "weights.json"
    train, dev = f"afew:{afew_root}:Train_AFEW", f"afew:{afew_root}:Val_AFEW"
    assert main(["fusion", "fit", "--train", train, "--dev", dev, "--out", str(weights), "--profile", str(profile), "--heads", "2"]) == 0
    printed = capsys.readouterr().out
    assert "equal: macro F1" in printed and "fitted: macro F1" in printed

    fit = json.loads(weights.read_text())["fit"]
    assert fit["train"] == [f"afew:{afew_root.resolve()}:Train_AFEW"] and fit["step"] > 0
    assert fit["dev_macro_f1"]["fitted"] > fit["dev_macro_f1"]["equal"]

    # A profile that points to the weights shows them in result.json.
    fitted = load_profile(str(profile), {"fusion": {"weights": str(weights)}})
    with Pipeline(fitted) as pipeline:
        result = pipeline.run(next((afew_root / "Val_AFEW").rglob("*.avi")))
    learned = {name: np.mean(w[:7]) for name, w in result.fusion.expert_weights.items()}
    assert max(learned, key=learned.get) == "oracle" and result.fusion.weights_file == str(weights)

    # Evaluating on the dev split with those weights is flagged: it was used to select them.
    out = tmp_path / "eval"
    assert main(["eval", "afew", "--root", str(afew_root), "--profile", str(profile), "--weights", str(weights), "--out", str(out)]) == 0
    assert "Warning: the fusion weights" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("dev", "test", "message"),
    [
        ("c-expr-db:/videos:/list.csv", None, "C-EXPR-DB is the test set"),
        ("afew:{root}:Train_AFEW", None, "keep tuning and test apart"),
        ("afew:{root}:Val_AFEW", "afew:{root}:Val_AFEW", "keep tuning and test apart"),
        ("afew:{root}", None, "not a SPEC"),
    ],
)
def test_fit_refuses_test_data(
    tmp_path: Path, afew_root: Path, profile: Path, capsys: pytest.CaptureFixture[str], dev: str, test: str | None, message: str
) -> None:
    args = ["fusion", "fit", "--train", f"afew:{afew_root}:Train_AFEW", "--dev", dev.format(root=afew_root)]
    args += ["--test", test.format(root=afew_root)] if test else []
    assert main([*args, "--out", str(tmp_path / "w.json"), "--profile", str(profile)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w.json").exists()


def test_c_expr_db_may_be_named_as_test_only_and_is_then_kept_apart(
    tmp_path: Path, afew_root: Path, profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame_list = tmp_path / "frames.csv"
    frame_list.write_text("image_location\nTrain_AFEW-3/00001.jpg\n")  # a training clip, as C-EXPR-DB finds videos by name
    test = f"c-expr-db:{afew_root / 'Train_AFEW'}:{frame_list}"
    args = ["fusion", "fit", "--train", f"afew:{afew_root}:Train_AFEW", "--dev", f"afew:{afew_root}:Val_AFEW", "--test", test]
    assert main([*args, "--out", str(tmp_path / "w.json"), "--profile", str(profile)]) == 2
    error = capsys.readouterr().err
    assert "Train_AFEW-3.avi is in both train" in error and "and test c-expr-db:" in error
