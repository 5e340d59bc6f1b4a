"""Label sets shared by every part of cer (docs/method.md lists these orders).

This module depends on nothing so that every other module may import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Basic emotions, ABAW order. Index positions are part of the result format.
BASIC: tuple[str, ...] = (
    "Neutral",
    "Anger",
    "Disgust",
    "Fear",
    "Happiness",
    "Sadness",
    "Surprise",
    "Other",
)

# The seven C-EXPR-DB compounds, in the organisers' order, each with the basic pair it blends.
PAIRS: dict[str, tuple[str, str]] = {
    "Fearfully_Surprised": ("Fear", "Surprise"),
    "Happily_Surprised": ("Happiness", "Surprise"),
    "Sadly_Surprised": ("Sadness", "Surprise"),
    "Disgustedly_Surprised": ("Disgust", "Surprise"),
    "Angrily_Surprised": ("Anger", "Surprise"),
    "Sadly_Fearful": ("Sadness", "Fear"),
    "Sadly_Angry": ("Sadness", "Anger"),
}
COMPOUND: tuple[str, ...] = tuple(PAIRS)

# Names that models use for our basic classes. Keys are lower-case.
_SYNONYMS: dict[str, str] = {
    "neutral": "Neutral",
    "calm": "Neutral",
    "neu": "Neutral",
    "anger": "Anger",
    "angry": "Anger",
    "ang": "Anger",
    "disgust": "Disgust",
    "disgusted": "Disgust",
    "dis": "Disgust",
    "fear": "Fear",
    "fearful": "Fear",
    "fea": "Fear",
    "happiness": "Happiness",
    "happy": "Happiness",
    "joy": "Happiness",
    "hap": "Happiness",
    "sadness": "Sadness",
    "sad": "Sadness",
    "surprise": "Surprise",
    "surprised": "Surprise",
    "sur": "Surprise",
    "other": "Other",
    "contempt": "Other",
}


def to_basic(label: str) -> str:
    """Map one model label name (any case) to its name in BASIC.

    Raises ValueError naming the label when it has no place in BASIC, so that a
    model with an unexpected label set fails loudly instead of being silently mis-mapped.
    """
    key = label.strip().lower()
    if key in _SYNONYMS:
        return _SYNONYMS[key]
    raise ValueError(f"label {label!r} has no counterpart among the basic emotions {BASIC}")


def basic_index_map(model_labels: Iterable[str]) -> list[int]:
    """For each of a model's output labels, the index of its class in BASIC.

    Several model labels may map to the same basic class (their probabilities then add up);
    basic classes no model label maps to get probability 0.
    """
    return [BASIC.index(to_basic(name)) for name in model_labels]


def validate_pairs(pairs: Mapping[str, tuple[str, str]]) -> None:
    """Check a compound vocabulary: every pair names two distinct, known basic labels."""
    for compound, pair in pairs.items():
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ValueError(f"compound {compound!r}: a pair needs two different basic labels, got {pair!r}")
        for basic in pair:
            if basic not in BASIC or basic in ("Neutral", "Other"):
                raise ValueError(f"compound {compound!r}: {basic!r} is not a basic emotion that can form a compound")
