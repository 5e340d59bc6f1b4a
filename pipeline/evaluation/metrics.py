"""Classification metrics in numpy (docs/batch-and-evaluation.md): macro F1 (the headline), per-class F1, UAR,
accuracy, the confusion matrix and the expected calibration error.

Labels are class indices. A prediction of -1 means "no prediction" (no expert spoke for that
clip or frame): it is never right, so it lowers recall, and it is left out of the confusion
matrix, which counts it separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Class indices: a list, or an integer array such as `present_classes` gives.
Classes = Sequence[int] | np.ndarray


def present_classes(y_true: np.ndarray) -> np.ndarray:
    """The classes that occur among the true labels (the ones macro F1 and UAR average over)."""
    return np.unique(np.asarray(y_true))


def f1_per_class(y_true: np.ndarray, y_pred: np.ndarray, classes: Classes) -> np.ndarray:
    """F1 of each of `classes`; 0 where a class has neither true nor predicted samples."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for c in classes:
        tp = np.sum((y_true == c) & (y_pred == c))
        wrong = np.sum((y_true == c) != (y_pred == c))  # false positives + false negatives
        scores.append(2 * tp / (2 * tp + wrong) if tp + wrong else 0.0)
    return np.array(scores, dtype=np.float64)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: Classes | None = None) -> float:
    """Mean F1 over `classes` (default: the classes present in `y_true`)."""
    classes = present_classes(y_true) if classes is None else classes
    return float(np.mean(f1_per_class(y_true, y_pred, classes))) if len(classes) else 0.0


def recall_per_class(y_true: np.ndarray, y_pred: np.ndarray, classes: Classes) -> np.ndarray:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return np.array([np.mean(y_pred[y_true == c] == c) if np.any(y_true == c) else 0.0 for c in classes])


def uar(y_true: np.ndarray, y_pred: np.ndarray, classes: Classes | None = None) -> float:
    """Unweighted average recall: mean recall over `classes` (default: those present)."""
    classes = present_classes(y_true) if classes is None else classes
    return float(np.mean(recall_per_class(y_true, y_pred, classes))) if len(classes) else 0.0


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """[true, predicted] counts; pairs with a label outside 0..n_classes-1 (-1: none) are left out."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    keep = (y_true >= 0) & (y_true < n_classes) & (y_pred >= 0) & (y_pred < n_classes)
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (y_true[keep], y_pred[keep]), 1)
    return matrix


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """How far the top probability is from the share of answers that are right: the mean, over
    `bins` equal-width bins of top probability weighted by their number of rows, of
    |accuracy - mean top probability| (0: calibrated; rows of `probs` are distributions)."""
    confidence, answer = probs.max(axis=1), probs.argmax(axis=1)
    right = answer == np.asarray(y_true)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gaps = [abs(right[which == b].mean() - confidence[which == b].mean()) * np.sum(which == b) for b in np.unique(which)]
    return float(sum(gaps) / len(confidence)) if len(confidence) else 0.0


@dataclass
class Metrics:
    """Everything an evaluation reports for one level (clip, frame or window)."""

    class_names: list[str]
    averaged_over: list[str]  # the classes macro F1 and UAR average over
    macro_f1: float
    per_class_f1: dict[str, float]
    uar: float
    accuracy: float
    n: int  # samples scored
    unpredicted: int  # samples with no prediction (-1), counted as wrong
    confusion: np.ndarray  # [true, predicted] over class_names

    def as_dict(self) -> dict[str, object]:
        return {
            "macro_f1": self.macro_f1,
            "per_class_f1": self.per_class_f1,
            "uar": self.uar,
            "accuracy": self.accuracy,
            "n": self.n,
            "unpredicted": self.unpredicted,
            "averaged_over": self.averaged_over,
            "confusion": {"labels": self.class_names, "matrix": self.confusion.tolist()},
        }


def measure(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], all_classes: bool = False) -> Metrics:
    """Every metric at once. Averages run over the classes present in `y_true`, or over all
    `class_names` with `all_classes` (the compound metric, docs/batch-and-evaluation.md, counts all seven)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    classes = np.arange(len(class_names)) if all_classes else present_classes(y_true)
    per_class = f1_per_class(y_true, y_pred, classes)
    return Metrics(
        class_names=list(class_names),
        averaged_over=[class_names[int(c)] for c in classes],
        macro_f1=float(np.mean(per_class)) if len(classes) else 0.0,
        per_class_f1={class_names[int(c)]: float(f) for c, f in zip(classes, per_class, strict=True)},
        uar=uar(y_true, y_pred, classes),
        accuracy=accuracy(y_true, y_pred),
        n=len(y_true),
        unpredicted=int(np.sum(y_pred < 0)),
        confusion=confusion_matrix(y_true, y_pred, len(class_names)),
    )
