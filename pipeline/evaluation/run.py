"""`cer eval`: one corpus through the experts (what the cache lacks), the fusion and the
metrics, with the ablation, into an output folder."""

from __future__ import annotations

from pathlib import Path

from cer.core.config import Profile
from cer.fusion.mhpf import MHPF
from cer.pipeline.evaluation.collect import collect
from cer.pipeline.evaluation.corpus import Corpus
from cer.pipeline.evaluation.report import Evaluation, write_report
from cer.pipeline.evaluation.scoring import ablation, corpus_scores, expert_balance, measure_levels

VIDEOS_FOLDER = "videos"  # with Ray: each processed video's own outputs, as `cer batch` writes them


def evaluate(corpus: Corpus, profile: Profile, out_dir: Path) -> tuple[Evaluation, str]:
    """Evaluate `profile` on `corpus`; returns the evaluation and its markdown report."""
    class_names = corpus.class_names(profile)  # first: a wrong vocabulary fails before any expert runs
    data, failures = collect(corpus.videos(), profile, out_dir / VIDEOS_FOLDER)
    method = profile.compound.method if corpus.compound else None
    module = MHPF.build(list(profile.enabled_experts()), profile.fusion.heads, profile.fusion.weights, profile.fusion.temperatures)
    scores = corpus_scores(data, module, method, profile.compound)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluation = Evaluation(
        corpus=corpus,
        profile=profile,
        method=method,
        videos=len(data),
        failures=failures,
        levels=measure_levels(corpus, data, scores, class_names),
        ablation=ablation(corpus, data, profile) if corpus.labelled else [],
        predictions=corpus.write_predictions(out_dir, data, scores),
        balance=expert_balance(data, module),
    )
    return evaluation, write_report(evaluation, out_dir)
