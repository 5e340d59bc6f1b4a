"""A linear read-out of text features: class logits and the temperature that calibrates them,
fitted by convex, deterministic problems; and the clip-grouped cross-validation that chooses
and calibrates a read-out fitted on real texts (several texts of one clip share its content, so
they must never sit on both sides of a fold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Readout:
    """A linear map from text features to class logits, and the temperature that calibrates them."""

    weights: np.ndarray  # [dims, classes]
    bias: np.ndarray  # [classes]
    temperature: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Calibrated logits: [n, classes]."""
        return (features @ self.weights + self.bias) / self.temperature


def _balanced_cross_entropy(logits: Any, labels: Any) -> Any:
    """Cross-entropy in which every class weighs the same, whatever its number of sentences:
    the fit then favours no class a priori."""
    import torch

    counts = torch.bincount(labels, minlength=logits.shape[1]).to(logits.dtype)
    weights = torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.zeros_like(counts))
    return torch.nn.functional.cross_entropy(logits, labels, weight=weights)


def _minimise(parameters: list[Any], loss: Any) -> None:
    """L-BFGS to convergence; both problems below are convex, so the answer is unique and the
    same on every machine (float64 on the CPU)."""
    import torch

    optimiser = torch.optim.LBFGS(parameters, max_iter=1000, tolerance_grad=1e-10, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimiser.zero_grad()
        value = loss()
        value.backward()
        return value

    optimiser.step(closure)


def fit_linear(features: np.ndarray, labels: np.ndarray, n_classes: int, l2: float) -> Readout:
    """Multinomial logistic regression on `features` (weights decayed by `l2`, biases free, every
    class weighing the same); temperature 1."""
    import torch

    x = torch.as_tensor(features, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    weights = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    _minimise([weights, bias], lambda: _balanced_cross_entropy(x @ weights + bias, y) + l2 / 2 * (weights**2).sum())
    return Readout(weights.detach().numpy(), bias.detach().numpy(), 1.0)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of held-out `logits` (texts the
    read-out was not fitted on), so that its probabilities mean what they say on texts drawn as
    those were. Unweighted, unlike the fit: on real descriptions (Happiness twice as common as
    Surprise) a class-balanced temperature left the expected calibration error higher than
    none; on the kinds' calibration sentences, the same number per class, the two agree."""
    import torch

    held_out = torch.as_tensor(logits, dtype=torch.float64)
    held_out_labels = torch.as_tensor(labels, dtype=torch.long)
    log_temperature = torch.zeros((), dtype=torch.float64, requires_grad=True)  # log, so it stays positive
    _minimise([log_temperature], lambda: torch.nn.functional.cross_entropy(held_out / log_temperature.exp(), held_out_labels))
    return float(log_temperature.detach().exp())


def fit_readout(
    features: np.ndarray, labels: np.ndarray, calibration: np.ndarray, calibration_labels: np.ndarray, n_classes: int, l2: float
) -> Readout:
    """`fit_linear` on `features`, then `fit_temperature` on the held-out `calibration` texts."""
    linear = fit_linear(features, labels, n_classes, l2)
    return Readout(linear.weights, linear.bias, fit_temperature(linear.logits(calibration), calibration_labels))


def grouped_folds(groups: Sequence[str], n_folds: int) -> np.ndarray:
    """A fold index per row such that all the rows of one group share a fold; groups are dealt
    to folds in a fixed shuffled order (seed 0), so the folds are the same on every run."""
    names = sorted(set(groups))
    order = np.random.default_rng(0).permutation(len(names))
    fold_of = {names[index]: position % n_folds for position, index in enumerate(order)}
    return np.array([fold_of[group] for group in groups])


def out_of_fold_logits(features: np.ndarray, labels: np.ndarray, folds: np.ndarray, n_classes: int, l2: float) -> np.ndarray:
    """Each row's logits (temperature 1) from the read-out fitted on the other folds' rows."""
    logits = np.zeros((len(labels), n_classes))
    for fold in np.unique(folds):
        held_out = folds == fold
        logits[held_out] = fit_linear(features[~held_out], labels[~held_out], n_classes, l2).logits(features[held_out])
    return logits
