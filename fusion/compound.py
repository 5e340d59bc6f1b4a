"""Basic-to-compound conversion.

PPA (pair-wise probability aggregation, METHOD.md): the score of compound k = (i, j) is
p[i] + p[j]; the label is the argmax. Neutral and Other never contribute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.labels import BASIC


@dataclass
class CompoundScores:
    method: str
    scores: list[float]  # one per compound of the vocabulary, in its order
    label: str
    confidence: float  # the winning score: p[i] + p[j] for PPA
    pair: tuple[str, str]
    pair_probs: tuple[float, float]
    note: str | None = None


def ppa(probs: Sequence[float], vocabulary: Mapping[str, tuple[str, str]]) -> CompoundScores:
    """Pair-wise probability aggregation over a compound vocabulary (name -> basic pair)."""
    p = np.asarray(probs, dtype=np.float64)
    pairs = list(vocabulary.values())
    scores = np.array([p[BASIC.index(a)] + p[BASIC.index(b)] for a, b in pairs])
    best = int(np.argmax(scores))
    a, b = pairs[best]
    return CompoundScores(
        method="ppa",
        scores=scores.tolist(),
        label=list(vocabulary)[best],
        confidence=float(scores[best]),
        pair=(a, b),
        pair_probs=(float(p[BASIC.index(a)]), float(p[BASIC.index(b)])),
    )


def to_compound(probs: Sequence[float], vocabulary: Mapping[str, tuple[str, str]], method: str = "ppa") -> CompoundScores:
    """Compound scores for one window's fused basic probabilities.

    PFSA needs image-text embeddings, which come with the CLIP expert; until a window
    has them it falls back to PPA and says so in `note`.
    """
    result = ppa(probs, vocabulary)
    if method == "pfsa":
        result.note = "PFSA needs image-text embeddings and no expert provided them in this window: PPA used"
    return result
