"""The description head on real descriptions written by vision-language models: chosen and
calibrated by clip-grouped cross-validation, measured per VLM size and prompt, and refitted
for shipping. Part of bench/text_heads.py (its docstring says what is printed).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cer.core.labels import BASIC
from cer.modalities.readout import Readout, fit_linear, fit_temperature, grouped_folds, out_of_fold_logits
from cer.modalities.readout_file import ShippedReadout, save_readout
from cer.modalities.text_emotion import SentenceEmbedder
from cer.pipeline.evaluation.metrics import confusion_matrix, expected_calibration_error, f1_per_class, recall_per_class

ROOT = Path(__file__).resolve().parents[1]
AFEW_DESCRIPTIONS = ROOT.parent / "shared" / "dev" / "afew_descriptions_train.csv"
HEAD_FILE = ROOT / "modalities" / "heads" / "description.npz"
REBUILD = ".venv/bin/python bench/text_heads.py --write"  # recorded in the file it writes
EMOTIONS = tuple(name for name in BASIC if name != "Other")  # the read-out's columns; no text shows Other
L2_GRID_REAL = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3)
N_FOLDS = 5
# The keyword baseline: words that name or plainly show each emotion (ours). A description gets
# the class whose words it holds most often; none at all, Neutral.
KEYWORDS = {
    "Neutral": ("neutral", "calm", "composed", "expressionless", "relaxed"),
    "Anger": ("anger", "angry", "furious", "rage", "frustration", "frustrated", "hostile", "aggressive", "annoyed"),
    "Disgust": ("disgust", "disgusted", "revulsion", "repulsed", "distaste", "contempt"),
    "Fear": ("fear", "afraid", "scared", "frightened", "terrified", "anxiety", "anxious", "panic"),
    "Happiness": ("happy", "happiness", "joy", "joyful", "smile", "smiling", "laughing", "cheerful", "amused"),
    "Sadness": ("sad", "sadness", "sorrow", "grief", "crying", "tears", "melancholy", "despair"),
    "Surprise": ("surprise", "surprised", "shock", "shocked", "astonished", "amazed", "startled"),
}


@dataclass(frozen=True)
class Descriptions:
    texts: list[str]
    labels: np.ndarray  # positions in EMOTIONS (= BASIC indices)
    clips: list[str]  # for grouping only: the names carry the label, so no model ever sees them
    groups: np.ndarray  # "32B prompt 1": the VLM size and prompt that wrote each text


def read_descriptions(path: Path = AFEW_DESCRIPTIONS) -> Descriptions:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    groups = np.array([f"{row['vlm'].rsplit('-', 1)[-1]} prompt {row['prompt']}" for row in rows])
    labels = np.array([EMOTIONS.index(row["label"]) for row in rows])
    return Descriptions([row["text"] for row in rows], labels, [row["clip"] for row in rows], groups)


def embed(embedder: SentenceEmbedder, texts: list[str]) -> np.ndarray:
    """Sentence embeddings, computed shortest text first (batches then pad little) and returned in
    the texts' order."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    features = embedder.features([texts[i] for i in order], word_pieces=False)
    return features[np.argsort(order)]


def keyword_answers(texts: list[str]) -> np.ndarray:
    answers = []
    for text in texts:
        words = Counter(re.findall(r"[a-z]+", text.lower()))
        hits = [sum(words[word] for word in KEYWORDS[name]) for name in EMOTIONS]
        answers.append(int(np.argmax(hits)) if max(hits) else EMOTIONS.index("Neutral"))
    return np.array(answers)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def macro_f1_percent(labels: np.ndarray, answers: np.ndarray) -> float:
    return 100 * float(f1_per_class(labels, answers, range(len(EMOTIONS))).mean())


def choose_l2(features: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> tuple[float, np.ndarray]:
    """The weight decay of `L2_GRID_REAL` with the best out-of-fold macro F1, and its out-of-fold logits."""
    best: tuple[float, float, np.ndarray] | None = None
    for l2 in L2_GRID_REAL:
        logits = out_of_fold_logits(features, labels, folds, len(EMOTIONS), l2)
        score = macro_f1_percent(labels, logits.argmax(axis=1))
        print(f"  l2 {l2:<7} cross-validated macro F1 {score:.1f}")
        if best is None or score > best[0]:
            best = (score, l2, logits)
    assert best is not None
    return best[1], best[2]


def group_lines(labels: np.ndarray, answers: dict[str, np.ndarray]) -> list[str]:
    """One line per method: macro F1, weighted F1 (by true frequency), recall per class."""
    support = np.bincount(labels, minlength=len(EMOTIONS))
    lines = []
    for method, predicted in answers.items():
        f1 = f1_per_class(labels, predicted, range(len(EMOTIONS)))
        recall = " ".join(
            f"{name[:3]} {100 * value:.0f}"
            for name, value in zip(EMOTIONS, recall_per_class(labels, predicted, range(len(EMOTIONS))), strict=True)
        )
        lines.append(
            f"{method:>10}: macro F1 {100 * f1.mean():5.1f}, weighted F1 {100 * f1 @ support / support.sum():5.1f} | recall {recall}"
        )
    return lines


def confusion_lines(labels: np.ndarray, predicted: np.ndarray) -> list[str]:
    matrix = confusion_matrix(labels, predicted, len(EMOTIONS))
    header = "true \\ answer " + " ".join(f"{name[:4]:>5}" for name in EMOTIONS)
    return [header] + [f"{name:>13} " + " ".join(f"{count:5d}" for count in row) for name, row in zip(EMOTIONS, matrix, strict=True)]


def measure(
    dev: Descriptions, features: np.ndarray, exemplar_probs: Callable[[np.ndarray], np.ndarray], write: bool, embedder_source: str
) -> dict[str, float]:
    """Choose, calibrate and measure the read-out (and write it with `write`); the figures to print."""
    folds = grouped_folds(dev.clips, N_FOLDS)
    print(f"{AFEW_DESCRIPTIONS.name}: {len(dev.texts)} descriptions of {len(set(dev.clips))} clips, {N_FOLDS} folds grouped by clip")
    l2, logits = choose_l2(features, dev.labels, folds)
    temperature = fit_temperature(logits, dev.labels)
    exemplars = exemplar_probs(features)
    answers = {
        "read-out": logits.argmax(axis=1),
        "exemplars": exemplars.argmax(axis=1),
        "keywords": keyword_answers(dev.texts),
        "majority": np.full(len(dev.labels), np.bincount(dev.labels).argmax()),
    }
    figures: dict[str, float] = {"description_temperature": temperature}
    for group in ["all", *sorted(set(dev.groups))]:
        rows = np.ones(len(dev.labels), bool) if group == "all" else dev.groups == group
        print(f"{group} ({rows.sum()} descriptions)")
        print("\n".join("  " + line for line in group_lines(dev.labels[rows], {k: v[rows] for k, v in answers.items()})))
        print("\n".join("    " + line for line in confusion_lines(dev.labels[rows], answers["read-out"][rows])))
        key = group.replace(" prompt ", "_p").lower()
        for method in ("read-out", "keywords", "majority"):
            figures[f"{key}_{method.replace('-', '')}_macro_f1"] = macro_f1_percent(dev.labels[rows], answers[method][rows])
    for size in ("3B", "7B", "32B"):
        rows = np.char.startswith(dev.groups.astype(str), size + " ")
        figures[f"{size.lower()}_readout_macro_f1"] = macro_f1_percent(dev.labels[rows], answers["read-out"][rows])
    for name, probs in (
        ("exemplar_head", exemplars),
        ("readout_t1", softmax(logits)),
        ("readout_calibrated", softmax(logits / temperature)),
    ):
        figures[f"ece_{name}"] = 100 * expected_calibration_error(dev.labels, probs)
    if write:
        write_head(dev, features, l2, temperature, embedder_source, figures)
    return figures


def write_head(
    dev: Descriptions, features: np.ndarray, l2: float, temperature: float, embedder_source: str, figures: dict[str, float]
) -> None:
    """Refit on every description and write the shipped file with its provenance."""
    linear = fit_linear(features, dev.labels, len(EMOTIONS), l2)
    provenance = {
        "fitted_on": f"{len(dev.texts):,} descriptions of {len(set(dev.clips))} AFEW train clips by Qwen2.5-VL 3B, 7B and 32B "
        "(two prompts)",
        "data": f"{AFEW_DESCRIPTIONS.name} (../shared/dev; from SMIL-SPCRAS/ICCVW_25 LLMs/AFEW/*/train_segment_with_text_{{1,2}}.csv)",
        "data_sha256": hashlib.sha256(AFEW_DESCRIPTIONS.read_bytes()).hexdigest(),
        "licence": "MIT (the descriptions' source repository)",
        "command": REBUILD,
        "embedder": f"{embedder_source}, sentence embedding (mean of the last layer, L2-normalised), 256 word pieces",
        "fit": f"class-balanced logistic regression, weight decay chosen by {N_FOLDS}-fold cross-validation grouped by clip "
        "(seed 0); temperature fitted on the out-of-fold logits",
        "l2": l2,
        "cross_validated_macro_f1": {size: round(figures[f"{size.lower()}_readout_macro_f1"], 1) for size in ("3B", "7B", "32B")},
    }
    HEAD_FILE.parent.mkdir(exist_ok=True)
    save_readout(HEAD_FILE, ShippedReadout(Readout(linear.weights, linear.bias, temperature), EMOTIONS, provenance))
    print(f"wrote {HEAD_FILE}")
