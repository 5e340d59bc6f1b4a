"""What an evaluation leaves behind: metrics.json, a confusion matrix per level (CSV and PNG),
ablation.csv and report.md, the markdown report that is also printed.

The report states the profile, the models, the split and what the fusion was tuned on, so a
number never travels without its conditions.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from cer.core.config import Profile
from cer.core.registry import METHOD_EXPERTS
from cer.pipeline.evaluation.corpus import Corpus
from cer.pipeline.evaluation.metrics import Metrics
from cer.pipeline.evaluation.scoring import AblationRow, ExpertBalance
from cer.pipeline.outputs.atomic import atomic_open

# Macro F1 (%) of Ryumina et al. (docs/method.md), shown beside ours: (this method 2025, predecessor 2024).
PUBLISHED = {"AffWild2": (46.95, 32.15), "AFEW": (49.02, None), "C-EXPR-DB": (34.85, 25.56)}
# What each published figure scores, as the paper states it: the authors cut the AffWild2 and
# AFEW development videos into 4-second segments and score one label per segment; the
# C-EXPR-DB figure is the challenge's, on its test videos, scored by the organisers.
PUBLISHED_SCOPE = {
    "AffWild2": "their development split, one label per 4-second segment",
    "AFEW": "their development split, one label per 4-second segment",
    "C-EXPR-DB": "the challenge test set (56 videos), scored by the ABAW organisers",
}
# The authors' macro F1 averages over the labels found in the truth or the predictions
# (scikit-learn's default), with all six experts.
PUBLISHED_CLASSES = "the labels in the truth or the predictions"
OTHER_LIMITATION = (
    "No expert outputs Other (the face, voice and text models know the 7 basic emotions only, and CLIP has "
    "no prompt for it), so Other is never predicted and its F1 is 0, which pulls the macro F1 down by that class's share."
)


@dataclass
class Evaluation:
    corpus: Corpus
    profile: Profile
    method: str | None  # the basic-to-compound method scored (None: basic emotions)
    videos: int
    failures: list[str]  # videos the pipeline could not process
    levels: dict[str, Metrics]  # all experts fused; empty when the corpus has no labels
    ablation: list[AblationRow]
    predictions: Path | None  # the file the organisers expect, if any
    balance: list[ExpertBalance]  # how much each expert weighs in the fused answers


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def fit_record(weights: str | None) -> dict[str, Any] | None:
    """What a weights file says it was fitted on (`cer fusion fit` records it), if anything."""
    if not weights:
        return None
    return json.loads(Path(weights).read_text(encoding="utf-8")).get("fit")


def tuning_statement(corpus: Corpus, weights: str | None) -> str:
    if not weights:
        return f"Nothing was tuned on this split ({corpus.split}): the experts are used zero-shot and the fusion gives them equal weights."
    fit = fit_record(weights)
    if fit is None:
        return f"The fusion weights come from {weights}, which does not say what they were fitted on: check it was not this split."
    seen = [*fit.get("train", []), *fit.get("dev", [])]
    if corpus.spec in seen:
        return (
            f"**Warning: the fusion weights ({weights}) were fitted or selected on this split ({corpus.spec}): "
            "these figures are not a held-out result.**"
        )
    return (
        f"Nothing was tuned on this split ({corpus.split}): the fusion weights ({weights}) were fitted on "
        f"{', '.join(fit.get('train', []))} and early-stopped on {', '.join(fit.get('dev', []))}."
    )


def _ablation_table(rows: Sequence[AblationRow]) -> str:
    methods = list(rows[0].metrics)
    header = ["experts"]
    for method in methods:
        prefix = "" if method == "basic" else f"{method.upper()} "
        header += [f"{prefix}macro F1 %", f"{prefix}UAR %", f"{prefix}accuracy %"]
    body = []
    for row in rows:
        cells = [row.name]
        for method in methods:
            m = row.metrics[method]
            cells += [_pct(m.macro_f1), _pct(m.uar), _pct(m.accuracy)]
        body.append(cells)
    return _table(header, body)


def _conditions(evaluation: Evaluation) -> list[str]:
    """What the figures depend on: profile, split, fusion, method, tuning, models, failures."""
    corpus, profile = evaluation.corpus, evaluation.profile
    weights = profile.fusion.weights
    lines = [
        f"# Zero-shot evaluation on {corpus.dataset} ({corpus.split})",
        "",
        f"- Profile: `{profile.name}`" + (f" ({profile.description})" if profile.description else ""),
        f"- Split: {corpus.split}: `{corpus.spec}`, {evaluation.videos} video(s)",
        f"- Fusion: MHPF, {profile.fusion.heads} head(s), " + (f"weights from `{weights}`" if weights else "equal weights"),
        f"- Basic to compound: {evaluation.method.upper() if evaluation.method else 'not used (basic-emotion labels)'}",
        f"- Tuning: {tuning_statement(corpus, weights)}",
        "- Models:",
        *[f"  - {role}: `{ref.source}` ({ref.licence})" for role, ref in profile.all_models().items()],
    ]
    if evaluation.failures:
        lines += ["", f"**{len(evaluation.failures)} video(s) could not be processed; their windows count as unpredicted:**"]
        lines += [f"- {failure}" for failure in evaluation.failures]
    return lines


def missing_experts(profile: Profile) -> list[str]:
    """The experts of the method that the profile does not run (or runs without their model)."""
    missing = []
    for name in METHOD_EXPERTS:
        cfg = profile.experts.get(name)
        if cfg is None or not cfg.enabled or cfg.unavailable is not None:
            missing.append(name)
        elif name == "audio" and cfg.models.get("emotion") is None:
            missing.append("audio (speech emotion; voice activity only)")
    return missing


def published_comparison(evaluation: Evaluation) -> str:
    """The published figure, with what differs from ours on the same line: the level, the
    classes the macro F1 averages over, and the experts missing here."""
    corpus, headline_level = evaluation.corpus, evaluation.corpus.levels[0]
    ours, older = PUBLISHED[corpus.dataset]
    before = f", predecessor {older} %" if older is not None else ""
    missing = missing_experts(evaluation.profile)
    return (
        f"Published (Ryumina et al.): {ours} %{before} on {PUBLISHED_SCOPE[corpus.dataset]}, "
        f"macro F1 over {PUBLISHED_CLASSES}, all six experts. "
        f"Here: the {headline_level} level, macro F1 over {', '.join(evaluation.levels[headline_level].averaged_over)}, "
        + (f"without {', '.join(missing)}." if missing else "all six experts.")
    )


def _metrics_lines(evaluation: Evaluation) -> list[str]:
    """The headline, every level's metrics, per-class F1 and the confusion matrices."""
    corpus, levels = evaluation.corpus, evaluation.levels
    headline = levels[corpus.levels[0]]
    lines = ["", f"## Macro F1: {_pct(headline.macro_f1)} % ({corpus.levels[0]} level)", ""]
    if corpus.dataset in PUBLISHED:
        lines += [published_comparison(evaluation), ""]
    rows = [[level, _pct(m.macro_f1), _pct(m.uar), _pct(m.accuracy), str(m.n), str(m.unpredicted)] for level, m in levels.items()]
    lines += [_table(["level", "macro F1 %", "UAR %", "accuracy %", "samples", "unpredicted"], rows), ""]
    lines += [f"Macro F1 and UAR average over: {', '.join(headline.averaged_over)}.", ""]
    if "Other" in headline.averaged_over:
        lines += [OTHER_LIMITATION, ""]
    classes = list(dict.fromkeys(name for m in levels.values() for name in m.per_class_f1))  # levels may differ in classes present
    per_class = [[level, *(_pct(m.per_class_f1[c]) if c in m.per_class_f1 else "-" for c in classes)] for level, m in levels.items()]
    lines += ["## Per-class F1 (%)", "", _table(["level", *classes], per_class), ""]
    for level, m in levels.items():
        matrix = [[name, *map(str, row)] for name, row in zip(m.class_names, m.confusion, strict=True)]
        lines += [f"## Confusion matrix, {level} level (rows: true, columns: predicted)", "", f"![confusion](confusion-{level}.png)", ""]
        lines += [_table(["true \\ predicted", *m.class_names], matrix), ""]
    return lines


def balance_lines(rows: Sequence[ExpertBalance]) -> list[str]:
    """The expert-balance section: one expert deciding alone shows as low entropy and high agreement."""
    body = [
        [row.expert, str(row.windows), f"{row.mean_entropy_bits:.2f}", _pct(row.agreement)]
        if row.mean_entropy_bits is not None and row.agreement is not None
        else [row.expert, "0", "-", "-"]
        for row in rows
    ]
    return [
        "## Expert balance (all windows, with the profile's temperatures)",
        "",
        _table(["expert", "windows", "mean entropy (bits; 3 = uniform)", "fused top = expert's top %"], body),
        "",
        "An expert far sharper than the others (low entropy) and agreeing with the fused label almost always decides it"
        " alone under equal weights; `fusion.temperatures` flattens it (bench/expert_entropy.py suggests values).",
        "",
    ]


def markdown(evaluation: Evaluation) -> str:
    lines = _conditions(evaluation)
    if evaluation.balance:
        lines += ["", *balance_lines(evaluation.balance)]
    if not evaluation.levels:
        lines += ["", f"No labels were given: no metrics. The predictions are in `{evaluation.predictions}`."]
        return "\n".join(lines) + "\n"
    lines += _metrics_lines(evaluation)
    lines += ["## Ablation (headline level, from the cached expert outputs)", ""]
    if not evaluation.corpus.compound:
        lines += [
            "Basic-emotion labels: the fused basic probabilities are scored, so PPA and PFSA (basic to compound)"
            " do not enter these figures.",
            "",
        ]
    lines += [_ablation_table(evaluation.ablation)]
    return "\n".join(lines) + "\n"


def _write_confusion(metrics: Metrics, title: str, csv_path: Path, png_path: Path) -> None:
    with atomic_open(csv_path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["true \\ predicted", *metrics.class_names])
        writer.writerows([name, *row] for name, row in zip(metrics.class_names, metrics.confusion.tolist(), strict=True))
    matrix = metrics.confusion
    # Colour by share of each true class, so rare classes read as clearly as common ones.
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.6 * len(metrics.class_names)
    figure = Figure(figsize=(size + 1.5, size), dpi=100, layout="constrained")  # Figure, not pyplot: no global state
    ax = figure.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color="white" if shares[i, j] > 0.5 else "black")
    ticks = range(len(metrics.class_names))
    ax.set_xticks(ticks, metrics.class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, metrics.class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    figure.colorbar(image, ax=ax, label="share of the true class")
    with atomic_open(png_path, binary=True) as handle:
        figure.savefig(handle, format="png")


def _metrics_document(evaluation: Evaluation) -> dict[str, Any]:
    corpus, profile = evaluation.corpus, evaluation.profile
    return {
        "dataset": corpus.dataset,
        "split": corpus.split,
        "spec": corpus.spec,
        "profile": profile.name,
        "models": {role: ref.source for role, ref in profile.all_models().items()},
        "fusion": {
            "heads": profile.fusion.heads,
            "weights": profile.fusion.weights,
            "temperatures": profile.fusion.temperatures,
            "fit": fit_record(profile.fusion.weights),
        },
        "balance": [dataclasses.asdict(row) for row in evaluation.balance],
        "method": evaluation.method,
        "videos": evaluation.videos,
        "failures": evaluation.failures,
        "headline": corpus.levels[0] if evaluation.levels else None,
        "levels": {level: m.as_dict() for level, m in evaluation.levels.items()},
        "ablation": [
            {"name": row.name, "experts": row.experts, **{method: m.as_dict() for method, m in row.metrics.items()}}
            for row in evaluation.ablation
        ],
        "predictions": str(evaluation.predictions) if evaluation.predictions else None,
    }


def _write_ablation_csv(rows: Sequence[AblationRow], path: Path) -> None:
    with atomic_open(path) as handle:
        writer = csv.writer(handle)
        methods = list(rows[0].metrics) if rows else []
        writer.writerow(["name", "experts", *(f"{method}_{metric}" for method in methods for metric in ("macro_f1", "uar", "accuracy"))])
        for row in rows:
            values = [
                v for method in methods for v in (row.metrics[method].macro_f1, row.metrics[method].uar, row.metrics[method].accuracy)
            ]
            writer.writerow([row.name, "+".join(row.experts), *(f"{v:.6f}" for v in values)])


def write_report(evaluation: Evaluation, out_dir: Path) -> str:
    """Write every file of the evaluation into `out_dir`; returns the markdown report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for level, metrics in evaluation.levels.items():
        title = f"{evaluation.corpus.dataset} {evaluation.corpus.split}, {level} level"
        _write_confusion(metrics, title, out_dir / f"confusion-{level}.csv", out_dir / f"confusion-{level}.png")
    if evaluation.ablation:
        _write_ablation_csv(evaluation.ablation, out_dir / "ablation.csv")
    with atomic_open(out_dir / "metrics.json") as handle:
        json.dump(_metrics_document(evaluation), handle, indent=1)
    text = markdown(evaluation)
    with atomic_open(out_dir / "report.md") as handle:
        handle.write(text)
    return text
