"""Predictions from cached expert outputs for any subset of experts and any basic-to-compound
method. Fusion and conversion are cheap, which is what makes the ablation table affordable:
no expert runs again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cer.core.config import CompoundConfig, Profile
from cer.fusion.compound import to_compound
from cer.fusion.mhpf import MHPF, fuse_many
from cer.pipeline.evaluation.collect import VideoExperts
from cer.pipeline.evaluation.corpus import Corpus
from cer.pipeline.evaluation.metrics import Metrics, measure


def window_scores(video: VideoExperts, module: MHPF, method: str | None, compound: CompoundConfig) -> np.ndarray:
    """[windows, classes]: fused basic probabilities (`method` None), else the compound scores
    `method` gives; NaN rows where none of the module's experts spoke."""
    fused = fuse_many(module, *video.probs(module.experts))
    if method is None:
        return fused
    rows = np.full((len(fused), len(compound.vocabulary)), np.nan)
    for w, probs in enumerate(fused):
        if not np.isnan(probs).any():
            outputs = {name: video.outputs[name][w] for name in module.experts}
            pfsa = compound.pfsa
            rows[w] = to_compound(probs, compound.vocabulary, method, outputs, pfsa.temperature, pfsa.compound_phrase_weight).scores
    return rows


def entropy_bits(probs: np.ndarray) -> np.ndarray:
    """Entropy in bits of each row of [n, C] distributions (3 bits: uniform over the 8 basic classes)."""
    safe = np.where(probs > 0, probs, 1.0)
    return -(probs * np.log2(safe)).sum(axis=-1)


def tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    """`p ** (1 / T)`, renormalised: how an expert's distribution enters the fusion."""
    powered = probs ** (1.0 / temperature)
    return powered / powered.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class ExpertBalance:
    """How much one expert weighs in the fused answers: a user with the weights sees at once
    whether one expert decides alone (low entropy and agreement near 100 %)."""

    expert: str
    windows: int  # windows the expert answered
    mean_entropy_bits: float | None  # of its distributions as they enter the fusion (after its temperature); None: no window
    agreement: float | None  # share of those windows whose fused top class is the expert's own top class


def expert_balance(data: Mapping[Path, VideoExperts], module: MHPF) -> list[ExpertBalance]:
    """Per expert of the module: mean entropy and agreement with the fused top class, over the corpus."""
    entropies: dict[str, list[np.ndarray]] = {name: [] for name in module.experts}
    agreements: dict[str, list[np.ndarray]] = {name: [] for name in module.experts}
    for video in data.values():
        probs, present = video.probs(module.experts)
        fused_top = fuse_many(module, probs, present).argmax(axis=1)  # NaN rows never count: their experts are absent
        for m, name in enumerate(module.experts):
            answered = present[:, m]
            entropies[name].append(entropy_bits(tempered(probs[answered, m], module.temperatures[name])))
            agreements[name].append(probs[answered, m].argmax(axis=1) == fused_top[answered])
    rows = []
    for name in module.experts:
        entropy, agreement = np.concatenate(entropies[name]), np.concatenate(agreements[name]).astype(float)
        rows.append(ExpertBalance(name, int(entropy.size), _mean(entropy), _mean(agreement)))
    return rows


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def corpus_scores(data: Mapping[Path, VideoExperts], module: MHPF, method: str | None, compound: CompoundConfig) -> dict[Path, np.ndarray]:
    return {path: window_scores(video, module, method, compound) for path, video in data.items()}


def measure_levels(
    corpus: Corpus, data: Mapping[Path, VideoExperts], scores: Mapping[Path, np.ndarray], class_names: Sequence[str]
) -> dict[str, Metrics]:
    """Metrics at every level the corpus is scored at (none when it has no labels)."""
    return {
        level: measure(y_true, y_pred, class_names, all_classes=corpus.compound)
        for level, (y_true, y_pred) in corpus.targets(data, scores).items()
    }


@dataclass
class AblationRow:
    name: str  # "all", "only audio", "all but audio"
    experts: list[str]
    metrics: dict[str, Metrics]  # method ("basic" for basic-emotion corpora, else ppa / pfsa) -> headline metrics


def ablation_subsets(experts: Sequence[str]) -> list[tuple[str, list[str]]]:
    """All experts, each alone, and all but one; each distinct subset once (with two experts,
    "only a" and "all but b" are the same)."""
    candidates = [("all", list(experts))]
    candidates += [(f"only {name}", [name]) for name in experts]
    candidates += [(f"all but {name}", [e for e in experts if e != name]) for name in experts]
    seen: set[frozenset[str]] = set()
    subsets = []
    for name, subset in candidates:
        if subset and frozenset(subset) not in seen:
            seen.add(frozenset(subset))
            subsets.append((name, subset))
    return subsets


def ablation(corpus: Corpus, data: Mapping[Path, VideoExperts], profile: Profile) -> list[AblationRow]:
    """Headline metrics for every subset of `ablation_subsets` over the experts that have
    models, with PPA and PFSA for compound corpora."""
    experts = [name for name, cfg in profile.enabled_experts().items() if cfg.unavailable is None]
    methods: list[str | None] = ["ppa", "pfsa"] if corpus.compound else [None]
    names = corpus.class_names(profile)
    rows = []
    for name, subset in ablation_subsets(experts):
        # The profile's fusion restricted to the subset: learned weights keep their values.
        module = MHPF.build(subset, profile.fusion.heads, profile.fusion.weights, profile.fusion.temperatures)
        metrics = {}
        for method in methods:
            levels = measure_levels(corpus, data, corpus_scores(data, module, method, profile.compound), names)
            metrics[method or "basic"] = levels[corpus.levels[0]]
        rows.append(AblationRow(name, subset, metrics))
    return rows
