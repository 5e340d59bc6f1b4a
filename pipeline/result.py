"""Assembles the typed Result (cer.core.result) from windows, expert outputs and fusion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np

from cer.core.labels import BASIC
from cer.core.result import (
    CompoundVerdict,
    ExpertAnswer,
    ExpertRecord,
    Fused,
    FusionRecord,
    Summary,
    VideoRecord,
    VoiceRecord,
    WindowResult,
    decide,
    video_decision,
)
from cer.core.speakers import VoiceVerdict
from cer.core.types import ExpertOutput, ExpertStatus, VideoInfo, Window
from cer.fusion.compound import CompoundScores
from cer.fusion.mhpf import MHPF, FusedWindow


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


def window_result(
    window: Window,
    outputs: Mapping[str, ExpertOutput],
    fused: FusedWindow,
    compound: CompoundScores | None,
    method: str,
    voice: VoiceVerdict | None = None,
) -> WindowResult:
    """The record of one window; `voice` for a person's window (whose voice it was)."""
    verdict = _verdict(compound, method)
    return WindowResult(
        index=window.index,
        start_s=window.start_s,
        end_s=window.end_s,
        start_frame=window.start_frame,
        end_frame=window.end_frame,
        experts={name: ExpertAnswer(probs=out.probs, reason=out.reason, evidence=jsonable(out.evidence)) for name, out in outputs.items()},
        fused=Fused(probs=fused.probs, weights=fused.weights, experts_present=fused.experts_present),
        compound=verdict,
        decision=decide(verdict),
        voice=_voice_record(voice) if voice is not None else None,
    )


def _voice_record(voice: VoiceVerdict) -> VoiceRecord:
    shares = {str(person): round(share, 4) for person, share in voice.shares.items()}
    return VoiceRecord(speaker=voice.speaker, confidence=voice.confidence, basis=voice.basis, shares=shares)


def _verdict(compound: CompoundScores | None, method: str) -> CompoundVerdict:
    if compound is None:
        return CompoundVerdict(
            method=method,  # type: ignore[arg-type]  # a profile allows only ppa or pfsa
            scores=None,
            label=None,
            confidence=None,
            pair=None,
            pair_probs=None,
            note="no expert was present in this window",
        )
    return CompoundVerdict.model_validate(asdict(compound))


def summary(windows: list[WindowResult], compound_names: list[str]) -> Summary:
    labels = [w.compound.label for w in windows if w.compound.label is not None]
    counts = Counter(labels)
    fused = [w.fused.probs for w in windows if w.fused.probs is not None]
    return Summary(
        n_windows=len(windows),
        decision=video_decision(w.decision for w in windows),
        dominant_compound=counts.most_common(1)[0][0] if counts else None,
        compound_share={name: counts[name] / len(labels) if labels else 0.0 for name in compound_names},
        dominant_basic=BASIC[int(np.argmax(np.mean(fused, axis=0)))] if fused else None,
    )


def video_record(info: VideoInfo) -> VideoRecord:
    return VideoRecord.model_validate(asdict(info))


def expert_record(status: ExpertStatus, from_cache: int | None = None) -> ExpertRecord:
    """The expert's status; with `from_cache`, also how many of the video's windows it answered
    from the expert-output cache (None: no cache in front of it)."""
    fields = {key: value for key, value in asdict(status).items() if key != "name"}  # the record is filed under the name
    return ExpertRecord.model_validate({**fields, "cached_windows": from_cache})


def fusion_record(module: MHPF, weights_file: str | None) -> FusionRecord:
    """How the experts are weighed: per expert and class, the weight it gets when all are
    present (equal unless learned), the weights file they come from, and each expert's
    temperature (1: its distributions enter the fusion as they are)."""
    return FusionRecord(
        method="mhpf",
        heads=int(module.W.shape[0]),
        weights_file=weights_file,
        expert_weights=module.expert_weights(),
        temperatures=module.temperatures,
    )
