"""Learning the MHPF weights W and B (docs/method.md) from labelled basic-emotion windows.

Full-batch Adam on a class-balanced cross-entropy of the fused distribution; after every
step the dev set is scored (macro F1, by the caller's measure) and the best weights so far are
kept; training stops once `patience` steps bring no better dev score. Equal weights are the
starting point and the bar: if training never beats them on dev, equal weights are returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional

from cer.core.labels import BASIC
from cer.fusion.mhpf import MHPF

_LOG_FLOOR = 1e-8  # keeps log() finite for classes the fused distribution gives nothing


@dataclass
class WindowSet:
    """Labelled windows: every expert's probabilities and which experts spoke."""

    probs: np.ndarray  # [windows, experts, 8], any value where absent
    present: np.ndarray  # [windows, experts] bool
    labels: np.ndarray  # [windows] BASIC index; -1: no label (left out)


@dataclass(frozen=True)
class FitOptions:
    heads: int = 3  # MHPF heads (3: the default of the authors' multi-head class; their config trains one)
    max_steps: int = 300  # full-batch optimisation steps at most
    patience: int = 30  # steps without a better dev macro F1 before stopping
    learning_rate: float = 0.05
    init_scale: float = 0.01  # spread of the initial logits: breaks the symmetry between heads
    seed: int = 0
    temperatures: Mapping[str, float] = field(default_factory=dict)  # per expert, as `fusion.temperatures`


@dataclass
class FitResult:
    module: MHPF  # the weights that scored best on dev
    step: int  # the step they come from; 0: equal weights were never beaten
    steps_run: int
    dev_score: float  # their dev macro F1
    equal_score: float  # dev macro F1 of equal weights


def balanced_class_weights(labels: torch.Tensor, n_classes: int = len(BASIC)) -> torch.Tensor:
    """n / (k * n_c) for each of the k classes present (n_c windows of class c), 0 for the absent."""
    counts = torch.bincount(labels, minlength=n_classes).double()
    present = counts > 0
    weights = torch.zeros(n_classes, dtype=torch.float64)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights.float()


def fit_mhpf(experts: Sequence[str], train: WindowSet, dev_score: Callable[[MHPF], float], options: FitOptions = FitOptions()) -> FitResult:
    """Fit W and B on `train`; `dev_score(module)` is the dev macro F1 to select on."""
    usable = (np.asarray(train.labels) >= 0) & np.asarray(train.present, dtype=bool).any(axis=1)
    if not usable.any():
        raise ValueError("no training window has both a label and an expert output")
    probs = torch.as_tensor(np.asarray(train.probs)[usable], dtype=torch.float32)
    present = torch.as_tensor(np.asarray(train.present, dtype=bool)[usable])
    labels = torch.as_tensor(np.asarray(train.labels)[usable], dtype=torch.long)
    class_weights = balanced_class_weights(labels)

    equal = MHPF(experts, options.heads, temperatures=options.temperatures)
    best_state, best_score, best_step = equal.state_dict(), dev_score(equal), 0
    equal_score = best_score
    torch.manual_seed(options.seed)
    module = MHPF(experts, options.heads, temperatures=options.temperatures)
    with torch.no_grad():
        module.W.normal_(0.0, options.init_scale)
    optimiser = torch.optim.Adam(module.parameters(), lr=options.learning_rate)
    step = 0
    for step in range(1, options.max_steps + 1):
        optimiser.zero_grad()
        fused = module(probs, present)
        fused = fused / fused.sum(dim=1, keepdim=True).clamp_min(_LOG_FLOOR)  # per-class weights need not sum to 1
        loss = functional.nll_loss(torch.log(fused.clamp_min(_LOG_FLOOR)), labels, weight=class_weights)
        loss.backward()
        optimiser.step()
        score = dev_score(module)
        if score > best_score:
            best_state = {name: value.detach().clone() for name, value in module.state_dict().items()}
            best_score, best_step = score, step
        elif step - best_step >= options.patience:
            break
    chosen = MHPF(experts, options.heads, temperatures=options.temperatures)
    chosen.load_state_dict(best_state)
    return FitResult(chosen, best_step, step, best_score, equal_score)
