"""Multi-Head Probability Fusion (docs/method.md).

Each head h holds a weight table W[h, m, c]; per class the weights are softmaxed over the
experts present in the window, the head output is z_h[c] = sum_m a[h, m, c] p_m[c], and
the heads are mixed with b = softmax(B). With all weights equal this is the plain mean of
the experts present.

Before fusion each expert's distribution may be tempered, p_m ** (1 / T_m) renormalised
(`fusion.temperatures` in a profile, 1 by default): an expert whose distributions are far
sharper than the others' (CLIP with its logit scale) otherwise decides alone under equal
weights. `bench/expert_entropy.py` measures each expert's mean entropy to choose T.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cer.core.labels import BASIC


@dataclass
class FusedWindow:
    probs: list[float] | None  # 8 floats summing to 1, None when no expert was present
    weights: dict[str, list[float]]  # per present expert, its effective weight for each class
    experts_present: list[str]


class MHPF(nn.Module):
    """The fusion as a torch module so that `cer fusion fit` can learn W and B."""

    inverse_temperature: torch.Tensor  # [M] 1 / T per expert, a buffer (see `temper`)

    def __init__(
        self,
        experts: Sequence[str],
        heads: int = 3,
        n_classes: int = len(BASIC),
        temperatures: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.experts = list(experts)
        self.W = nn.Parameter(torch.zeros(heads, len(self.experts), n_classes))
        self.B = nn.Parameter(torch.zeros(heads))
        self.temperatures = {name: float((temperatures or {}).get(name, 1.0)) for name in self.experts}
        # a fixed setting, not learned: a buffer follows the module's device and dtype
        # derived from `temperatures`: follows `.to()`, but stays out of the state dict
        self.register_buffer("inverse_temperature", torch.tensor([1.0 / self.temperatures[n] for n in self.experts]), persistent=False)

    def temper(self, probs: torch.Tensor) -> torch.Tensor:
        """Each expert's distributions [batch, M, C] raised to 1 / T and renormalised (absent rows stay 0)."""
        powered = probs.nan_to_num(0.0).clamp_min(0.0) ** self.inverse_temperature[None, :, None]
        return (powered / powered.sum(dim=2, keepdim=True)).nan_to_num(0.0)

    def effective_weights(self, present: torch.Tensor) -> torch.Tensor:
        """[batch, M, C] weight of each expert for each class: sum_h b_h a[h, m, c].

        `present` is a [batch, M] boolean mask; absent experts get weight 0 and the
        softmax renormalises over the others.
        """
        logits = self.W.unsqueeze(0).expand(present.shape[0], -1, -1, -1)  # [batch, H, M, C]
        logits = logits.masked_fill(~present[:, None, :, None], float("-inf"))
        a = torch.softmax(logits, dim=2).nan_to_num(0.0)  # a window with no expert has all-NaN rows
        b = torch.softmax(self.B, dim=0)
        return torch.einsum("h,bhmc->bmc", b, a)

    def forward(self, probs: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Fused [batch, C] scores from expert probabilities [batch, M, C] (absent rows are ignored)."""
        weights = self.effective_weights(present)
        return (weights * self.temper(probs)).sum(dim=1)

    def save(self, path: Path, about: Mapping[str, Any] | None = None) -> None:
        """Write the weights as JSON; `about` (how they were fitted) goes along under "fit"."""
        payload = {
            "experts": self.experts,
            "heads": self.W.shape[0],
            "W": self.W.tolist(),
            "B": self.B.tolist(),
            "temperatures": self.temperatures,  # what the weights were fitted with (the profile sets them)
        }
        if about is not None:
            payload["fit"] = dict(about)
        path.write_text(json.dumps(payload, indent=1))

    @classmethod
    def build(
        cls, experts: Sequence[str], heads: int, weights: str | Path | None = None, temperatures: Mapping[str, float] | None = None
    ) -> MHPF:
        """Learned weights from the file `weights` when given, else equal weights over `heads` heads."""
        return cls.load(Path(weights), experts, temperatures) if weights else cls(experts, heads, temperatures=temperatures)

    def expert_weights(self) -> dict[str, list[float]]:
        """Each expert's weight per class when every expert is present (the learned weights at a glance)."""
        with torch.no_grad():
            weights = self.effective_weights(torch.ones(1, len(self.experts), dtype=torch.bool))[0]
        return {name: weights[m].tolist() for m, name in enumerate(self.experts)}

    @classmethod
    def load(cls, path: Path, experts: Sequence[str], temperatures: Mapping[str, float] | None = None) -> MHPF:
        """Weights from a file, laid out for `experts`; experts the file lacks get neutral (zero) logits."""
        try:
            payload = json.loads(Path(path).read_text())
            heads = int(payload["heads"])
            stored = {name: i for i, name in enumerate(payload["experts"])}
            table = torch.tensor(payload["W"], dtype=torch.float32)
            mixing = torch.tensor(payload["B"], dtype=torch.float32)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"fusion weights {path}: unreadable ({exc})") from None
        if table.shape != (heads, len(stored), len(BASIC)) or mixing.shape != (heads,):
            raise ValueError(f"fusion weights {path}: W must be [heads, experts, {len(BASIC)}] and B [heads]")
        module = cls(experts, heads, temperatures=temperatures)
        with torch.no_grad():
            for m, name in enumerate(module.experts):
                if name in stored:
                    module.W[:, m] = table[:, stored[name]]
            module.B.copy_(mixing)
        return module


def fuse_many(module: MHPF, probs: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Fuse many windows at once: `probs` [windows, M, C] in `module.experts` order (any value
    where absent), `present` [windows, M]. Returns [windows, C] distributions, as `fuse` gives
    them one by one, with NaN rows where no expert was present."""
    with torch.no_grad():
        fused = module(torch.as_tensor(probs, dtype=torch.float32), torch.as_tensor(present, dtype=torch.bool)).double().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        fused = fused / fused.sum(axis=1, keepdims=True)
    fused[~np.asarray(present, dtype=bool).any(axis=1)] = np.nan
    return fused


def fuse(module: MHPF, window_probs: Mapping[str, list[float] | None]) -> FusedWindow:
    """Fuse one window's expert outputs (name -> 8 probabilities or None when absent)."""
    names = module.experts
    present = torch.tensor([[window_probs.get(name) is not None for name in names]])
    if not present.any():
        return FusedWindow(probs=None, weights={}, experts_present=[])
    probs = torch.tensor(
        [[window_probs[name] if window_probs.get(name) is not None else [0.0] * len(BASIC) for name in names]],
        dtype=torch.float32,
    )
    with torch.no_grad():
        fused = module(probs, present)[0].double()
        weights = module.effective_weights(present)[0]
    # Per-class expert weights need not keep the total at 1 once they differ between classes;
    # renormalising keeps the argmax and gives a distribution.
    fused = fused / fused.sum()
    present_names = [name for name, on in zip(names, present[0].tolist(), strict=True) if on]
    return FusedWindow(
        probs=fused.tolist(),
        weights={name: weights[names.index(name)].tolist() for name in present_names},
        experts_present=present_names,
    )
