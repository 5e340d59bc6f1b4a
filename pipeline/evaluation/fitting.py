"""`cer fusion fit`: corpora named by SPEC strings, the protocol checks, and the comparison of
equal and fitted weights on dev.

A SPEC names one labelled split of basic emotions:
    afew:ROOT:SPLIT                  e.g. afew:/data/AFEW:Train_AFEW
    affwild2:VIDEOS:ANNOTATIONS      e.g. affwild2:/data/aff/videos:/data/aff/annotations/Train_Set
or, as a test split only, `c-expr-db:VIDEOS:FRAME_LIST`. C-EXPR-DB is test only (docs/batch-and-evaluation.md):
it is refused for train and dev, and so is any split that shares a video with another role
(train, dev, test).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cer.core.config import Profile
from cer.core.labels import BASIC
from cer.fusion.fit import FitOptions, FitResult, WindowSet, fit_mhpf
from cer.fusion.mhpf import MHPF
from cer.pipeline.evaluation.afew import Afew
from cer.pipeline.evaluation.affwild2 import AffWild2
from cer.pipeline.evaluation.cexprdb import CExprDb
from cer.pipeline.evaluation.collect import VideoExperts, collect
from cer.pipeline.evaluation.corpus import Corpus
from cer.pipeline.evaluation.metrics import Metrics
from cer.pipeline.evaluation.scoring import corpus_scores, measure_levels

SPEC_FORMS = "afew:ROOT:SPLIT or affwild2:VIDEOS:ANNOTATIONS"


def parse_spec(spec: str, test: bool = False) -> Corpus:
    """The corpus a SPEC names; C-EXPR-DB only when it is named as a `test` split."""
    dataset, _, rest = spec.partition(":")
    dataset = dataset.lower()
    if dataset == "c-expr-db" and not test:
        raise ValueError(f"{spec}: C-EXPR-DB is the test set; nothing may be fitted or selected on any split of it")
    parts = rest.split(":")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{spec}: not a SPEC; use {SPEC_FORMS}")
    if dataset == "afew":
        return Afew(Path(parts[0]), parts[1])
    if dataset == "affwild2":
        return AffWild2(Path(parts[0]), Path(parts[1]))
    if dataset == "c-expr-db":
        return CExprDb(Path(parts[0]), Path(parts[1]))
    raise ValueError(f"{spec}: unknown dataset {dataset!r}; use {SPEC_FORMS}")


def check_apart(roles: Mapping[str, Sequence[Corpus]]) -> None:
    """Refuse a video used in two roles (train / dev / test), whichever split names it."""
    owner: dict[Path, str] = {}
    for role, corpora in roles.items():
        for corpus in corpora:
            for video in corpus.videos():
                earlier = owner.setdefault(video, f"{role} {corpus.spec}")
                if not earlier.startswith(f"{role} "):
                    raise ValueError(f"{video} is in both {earlier} and {role} {corpus.spec}: keep tuning and test apart")


def window_set(corpora: Sequence[Corpus], data: Mapping[Path, VideoExperts], experts: Sequence[str]) -> WindowSet:
    """Every labelled window of `corpora`, for training."""
    probs, present, labels = [], [], []
    for corpus in corpora:
        for video, window_labels in corpus.window_labels(data):
            p, mask = data[video].probs(experts)
            probs.append(p)
            present.append(mask)
            labels.append(window_labels)
    return WindowSet(np.concatenate(probs), np.concatenate(present), np.concatenate(labels))


@dataclass
class FitReport:
    result: FitResult
    dev: dict[str, dict[str, tuple[Metrics, Metrics]]]  # dev spec -> level -> (equal weights, fitted)
    failures: list[str]


def _dev_levels(corpus: Corpus, data: Mapping[Path, VideoExperts], module: MHPF, profile: Profile) -> dict[str, Metrics]:
    own = {video: data[video] for video in corpus.videos()}
    return measure_levels(corpus, own, corpus_scores(own, module, None, profile.compound), BASIC)


def fit_fusion(
    train: Sequence[str], dev: Sequence[str], test: Sequence[str], profile: Profile, out: Path, options: FitOptions, work_dir: Path
) -> FitReport:
    """Fit the profile's fusion on `train`, select on `dev`, write the weights to `out`."""
    roles = {role: [parse_spec(spec, role == "test") for spec in specs] for role, specs in (("train", train), ("dev", dev), ("test", test))}
    check_apart(roles)
    corpora = [*roles["train"], *roles["dev"]]
    data, failures = collect([v for corpus in corpora for v in corpus.videos()], profile, work_dir)
    experts = list(profile.enabled_experts())

    def dev_score(module: MHPF) -> float:
        """Mean over the dev splits of the headline macro F1."""
        return float(np.mean([_dev_levels(c, data, module, profile)[c.levels[0]].macro_f1 for c in roles["dev"]]))

    result = fit_mhpf(experts, window_set(roles["train"], data, experts), dev_score, options)
    equal = MHPF(experts, options.heads, temperatures=options.temperatures)
    comparison = {}
    for corpus in roles["dev"]:
        before, after = _dev_levels(corpus, data, equal, profile), _dev_levels(corpus, data, result.module, profile)
        comparison[corpus.spec] = {level: (before[level], after[level]) for level in corpus.levels}
    about = {
        "train": [c.spec for c in roles["train"]],
        "dev": [c.spec for c in roles["dev"]],
        "test": [c.spec for c in roles["test"]],
        "profile": profile.name,
        "step": result.step,
        "dev_macro_f1": {"equal": result.equal_score, "fitted": result.dev_score},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    result.module.save(out, about)
    return FitReport(result, comparison, failures)


def format_report(report: FitReport) -> str:
    """The side-by-side table `cer fusion fit` prints, and the learned weights."""
    lines = []
    if report.failures:
        lines.append(f"{len(report.failures)} video(s) could not be processed (no expert outputs), e.g. {report.failures[0]}")
    lines.append("dev split | level | equal: macro F1 / UAR / acc (%) | fitted: macro F1 / UAR / acc (%)")
    for spec, levels in report.dev.items():
        for level, (equal, fitted) in levels.items():
            cells = [f"{100 * m.macro_f1:.2f} / {100 * m.uar:.2f} / {100 * m.accuracy:.2f}" for m in (equal, fitted)]
            lines.append(f"{spec} | {level} | {cells[0]} | {cells[1]}")
    result = report.result
    if result.step == 0:
        lines.append(f"training never beat equal weights on dev ({result.steps_run} steps): equal weights written")
    else:
        lines.append(f"best dev macro F1 at step {result.step} of {result.steps_run}")
    lines.append("expert weights when all are present (mean over the classes):")
    for name, weights in result.module.expert_weights().items():
        lines.append(f"  {name}: {np.mean(weights):.3f}")
    return "\n".join(lines)
