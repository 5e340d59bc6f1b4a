"""Basic-to-compound conversion over a compound vocabulary (name -> basic pair (i, j)).

PPA (pair-wise probability aggregation, docs/method.md): the score of compound k = (i, j) is
p[i] + p[j] of the fused basic probabilities; the label is the argmax. Neutral and Other
never contribute.

PFSA (pair-wise feature similarity aggregation). The paper names it without defining it;
this is the project's definition (docs/method.md). For an expert e that gives the window an image
embedding v and text embeddings t of the labels in the same space (CLIP), all L2-normalised:

    s_e[k] = (1 - w) * (cos(v, t_i) + cos(v, t_j)) / 2  +  w * cos(v, t_k)
    q_e    = softmax_k(s_e / T)
    q      = mean over the experts e with embeddings of q_e

t_k is the embedding of the compound's own phrase ("happily surprised"), w its weight
(`compound.pfsa.compound_phrase_weight`, 0 by default: the pair alone), T the temperature
(`compound.pfsa.temperature`). The mean over experts is MHPF with equal weights; no learned
PFSA weights exist. A window where no expert gave embeddings falls back to PPA, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cer.core.labels import BASIC
from cer.core.types import ExpertOutput, LabelEmbeddings


@dataclass
class CompoundScores:
    method: str
    scores: list[float]  # one per compound of the vocabulary, in its order
    label: str
    confidence: float  # the winning score: p[i] + p[j] for PPA, the winner's probability for PFSA
    pair: tuple[str, str]
    pair_probs: tuple[float, float]  # the fused basic probabilities of the winning pair
    note: str | None = None
    # The stronger label of the winning pair when the weaker one has too little probability for
    # the window to read as a blend (PPA's sum lets the stronger part decide alone); the forced
    # compound label stays for the ABAW file.
    basic_only: str | None = None


def _verdict(method: str, scores: np.ndarray, probs: Sequence[float], vocabulary: Mapping[str, tuple[str, str]]) -> CompoundScores:
    best = int(np.argmax(scores))
    label = list(vocabulary)[best]
    a, b = vocabulary[label]
    return CompoundScores(
        method=method,
        scores=scores.tolist(),
        label=label,
        confidence=float(scores[best]),
        pair=(a, b),
        pair_probs=(float(probs[BASIC.index(a)]), float(probs[BASIC.index(b)])),
    )


def ppa(probs: Sequence[float], vocabulary: Mapping[str, tuple[str, str]]) -> CompoundScores:
    """Pair-wise probability aggregation over a compound vocabulary (name -> basic pair)."""
    p = np.asarray(probs, dtype=np.float64)
    scores = np.array([p[BASIC.index(a)] + p[BASIC.index(b)] for a, b in vocabulary.values()])
    return _verdict("ppa", scores, probs, vocabulary)


def pfsa_distribution(
    image: np.ndarray, labels: LabelEmbeddings, vocabulary: Mapping[str, tuple[str, str]], temperature: float, phrase_weight: float
) -> np.ndarray:
    """One expert's PFSA distribution q_e over the vocabulary (module docstring)."""
    v = image / np.linalg.norm(image)
    missing = sorted({b for pair in vocabulary.values() for b in pair} - set(labels.basic))
    if phrase_weight > 0:
        missing += sorted(set(vocabulary) - set(labels.compound))
    if missing:
        raise ValueError(f"PFSA: no text embedding for {', '.join(missing)}")
    cos = {name: float(v @ t) for name, t in labels.basic.items()}
    pair = np.array([(cos[a] + cos[b]) / 2 for a, b in vocabulary.values()])
    phrase = np.array([v @ labels.compound[name] for name in vocabulary]) if phrase_weight > 0 else 0.0
    scores = ((1 - phrase_weight) * pair + phrase_weight * phrase) / temperature
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def to_compound(
    probs: Sequence[float],
    vocabulary: Mapping[str, tuple[str, str]],
    method: str = "ppa",
    outputs: Mapping[str, ExpertOutput] | None = None,
    temperature: float = 0.05,
    phrase_weight: float = 0.0,
    basic_only_below: float = 0.0,
) -> CompoundScores:
    """Compound scores for one window from its fused basic probabilities and, for PFSA, the
    embeddings in its experts' `outputs` (expert name -> output for this window). When the
    weaker basic of the winning pair has less than `basic_only_below`, `basic_only` names the
    stronger one."""
    result = _scores(probs, vocabulary, method, outputs or {}, temperature, phrase_weight)
    weaker, stronger = sorted(zip(result.pair_probs, result.pair, strict=True))
    if weaker[0] < basic_only_below:
        result.basic_only = stronger[1]
    return result


def _scores(
    probs: Sequence[float],
    vocabulary: Mapping[str, tuple[str, str]],
    method: str,
    outputs: Mapping[str, ExpertOutput],
    temperature: float,
    phrase_weight: float,
) -> CompoundScores:
    if method not in ("ppa", "pfsa"):
        raise ValueError(f"unknown basic-to-compound method {method!r}; use ppa or pfsa")
    # expert name -> (embedding, label embeddings), for each output that has both
    embedded = {
        name: (o.embedding, o.label_embeddings) for name, o in outputs.items() if o.embedding is not None and o.label_embeddings is not None
    }
    if method == "ppa" or not embedded:
        result = ppa(probs, vocabulary)
        if method == "pfsa":
            result.note = "PFSA needs image-text embeddings and no expert provided them in this window: PPA used"
        return result
    distributions = [pfsa_distribution(image, labels, vocabulary, temperature, phrase_weight) for image, labels in embedded.values()]
    result = _verdict("pfsa", np.mean(distributions, axis=0), probs, vocabulary)
    result.note = f"PFSA from the image-text embeddings of {', '.join(embedded)} (only experts with such embeddings take part)"
    return result
