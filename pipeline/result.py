"""Assembles the `cer.result/v1` document (docs/outputs.md) from windows, expert outputs and fusion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np

from cer.fusion.compound import CompoundScores
from cer.fusion.mhpf import MHPF, FusedWindow
from cer.pipeline.labels import BASIC
from cer.pipeline.types import ExpertOutput, ExpertStatus, VideoInfo, Window

SCHEMA = "cer.result/v1"


def jsonable(value: Any) -> Any:
    """Evidence may hold numpy values; the result (and the expert-output cache) must be plain JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def window_record(
    window: Window, outputs: Mapping[str, ExpertOutput], fused: FusedWindow, compound: CompoundScores | None, method: str
) -> dict[str, Any]:
    return {
        "index": window.index,
        "start_s": window.start_s,
        "end_s": window.end_s,
        "start_frame": window.start_frame,
        "end_frame": window.end_frame,
        "experts": {name: {"probs": out.probs, "reason": out.reason, "evidence": jsonable(out.evidence)} for name, out in outputs.items()},
        "fused": {"probs": fused.probs, "weights": fused.weights, "experts_present": fused.experts_present},
        "compound": _compound_record(compound, method),
    }


def _compound_record(compound: CompoundScores | None, method: str) -> dict[str, Any]:
    if compound is None:
        return {
            "method": method,
            "scores": None,
            "label": None,
            "confidence": None,
            "pair": None,
            "pair_probs": None,
            "note": "no expert was present in this window",
            "basic_only": None,
        }
    record = asdict(compound)
    record["pair"], record["pair_probs"] = list(compound.pair), list(compound.pair_probs)
    return record


def summary(windows: list[dict[str, Any]], compound_names: list[str]) -> dict[str, Any]:
    labels = [w["compound"]["label"] for w in windows if w["compound"]["label"] is not None]
    counts = Counter(labels)
    fused = [w["fused"]["probs"] for w in windows if w["fused"]["probs"] is not None]
    return {
        "n_windows": len(windows),
        "dominant_compound": counts.most_common(1)[0][0] if counts else None,
        "compound_share": {name: counts[name] / len(labels) if labels else 0.0 for name in compound_names},
        "dominant_basic": BASIC[int(np.argmax(np.mean(fused, axis=0)))] if fused else None,
    }


def video_record(info: VideoInfo) -> dict[str, Any]:
    return asdict(info)


def expert_record(status: ExpertStatus, from_cache: int | None = None) -> dict[str, Any]:
    """The expert's status; with `from_cache`, also how many of the video's windows it answered
    from the expert-output cache (None: no cache in front of it)."""
    record: dict[str, Any] = {"status": status.status, "model_id": status.model_id, "reason": status.reason, "note": status.note}
    if from_cache is not None:
        record["cached_windows"] = from_cache
    return record


def fusion_record(module: MHPF, weights_file: str | None) -> dict[str, Any]:
    """How the experts are weighed: per expert and class, the weight it gets when all are
    present (equal unless learned), the weights file they come from, and each expert's
    temperature (1: its distributions enter the fusion as they are)."""
    return {
        "method": "mhpf",
        "heads": int(module.W.shape[0]),
        "weights_file": weights_file,
        "expert_weights": module.expert_weights(),
        "temperatures": module.temperatures,
    }
