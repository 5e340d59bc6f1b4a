"""`cer models check`: proof that the cached models of a profile are the published ones, loaded exactly.

For every model of the profile that is in the cache: its SHA-256 where the profile pins one;
a strict load of each expert through the code a run uses (a missing or unexpected weight is an
error, cer.modalities.loading); and, where a model card publishes an input with its output, that
known answer. Models not in the cache are listed and skipped (nothing is downloaded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cer.core.config import ModelRef, Profile
from cer.core.labels import BASIC
from cer.core.sources import ModelChecksumError, ModelNotAvailable, Source, resolve_model
from cer.modalities.base import Expert
from cer.modalities.factory import build_expert


@dataclass(frozen=True)
class KnownAnswer:
    """An input a model card publishes with its output, and how close ours must come."""

    source_prefix: str  # the hub repository it belongs to (`hf:ORG/NAME`)
    role: str
    what: str  # the probe as the table shows it
    run: Callable[[Expert], np.ndarray]  # the expert's 8 basic probabilities for the input
    label: str  # the BASIC label the card's top class maps to
    probability: float
    tolerance: float  # the card prints 16 digits; numerics of another torch build move the third


def _score_text(text: str) -> Callable[[Expert], np.ndarray]:
    return lambda expert: expert.score_texts([text])[0]  # type: ignore[attr-defined]  # the text expert's own scorer


# The j-hartmann model card: `classifier("I love this!")` gives joy 0.9771687984466553 first.
KNOWN_ANSWERS = (
    KnownAnswer(
        source_prefix="hf:j-hartmann/emotion-english-distilroberta-base",
        role="emotion",
        what='text "I love this!"',
        run=_score_text("I love this!"),
        label="Happiness",
        probability=0.9772,
        tolerance=0.005,
    ),
)


@dataclass(frozen=True)
class CheckRow:
    model: str  # `expert.role`
    source: str
    checksum: str  # ok | not pinned | failed: ... | not cached
    load: str  # ok | failed: ... | not cached | -
    probe: str  # ok (...) | failed: ... | none published | -

    @property
    def failed(self) -> bool:
        return any(cell.startswith("failed") for cell in (self.checksum, self.load, self.probe))


def check_profile(profile: Profile) -> list[CheckRow]:
    """One row per model of the profile (the face detector and every available expert's roles)."""
    rows = [CheckRow(f"faces.{role}", ref.source, _checksum(ref, profile), "-", "-") for role, ref in profile.faces.models.items()]
    for name, config in profile.enabled_experts().items():
        if config.unavailable is not None:
            continue
        checks = {role: _checksum(ref, profile) for role, ref in config.models.items()}
        all_cached = all(result != "not cached" for result in checks.values())
        load, probes = _load_and_probe(name, profile) if all_cached else ("not cached", {})
        no_probe = "none published" if all_cached else "-"
        rows += [
            CheckRow(f"{name}.{role}", ref.source, checks[role], load, probes.get(role, no_probe)) for role, ref in config.models.items()
        ]
    return rows


def _checksum(ref: ModelRef, profile: Profile) -> str:
    try:  # from the cache only: a model not there is "not cached", a file that differs a failure
        resolve_model(ref, profile.cache_path, download=False)
    except ModelChecksumError as exc:
        return f"failed: {exc}"
    except ModelNotAvailable:
        return "not cached"
    if ref.sha256:
        return "ok"
    return {"tiny": "built here", "pypi": "pinned by package version"}.get(Source.parse(ref.source).kind, "no SHA-256 (a folder)")


def _load_and_probe(name: str, profile: Profile) -> tuple[str, dict[str, str]]:
    """The strict load of the expert, and the known answers of its models."""
    try:
        expert = build_expert(name, profile.experts[name], profile.expert_context)
    except Exception as exc:  # noqa: BLE001 - every load failure is reported in the table, whatever raised it
        return f"failed: {type(exc).__name__}: {exc}", {}
    probes = {}
    for role, ref in profile.experts[name].models.items():
        for known in KNOWN_ANSWERS:
            if known.role == role and ref.source.startswith(known.source_prefix):
                probes[role] = _probe(known, expert)
    return "ok", probes


def _probe(known: KnownAnswer, expert: Expert) -> str:
    import torch

    with torch.inference_mode():
        probs = known.run(expert)
    top, value = BASIC[int(np.argmax(probs))], float(np.max(probs))
    answer = f"{known.what} -> {top} {value:.4f} (card: {known.label} {known.probability:.4f})"
    if top != known.label or abs(value - known.probability) > known.tolerance:
        return f"failed: {answer}"
    return f"ok: {answer}"


def format_check(rows: list[CheckRow]) -> str:
    """The table `cer models check` prints, then a verdict line."""
    header = ("model", "source", "sha-256", "strict load", "known answer")
    cells = [header] + [(r.model, r.source, r.checksum, r.load, r.probe) for r in rows]
    widths = [min(60, max(len(row[i]) for row in cells)) for i in range(len(header))]
    lines = ["  ".join(cell[:60].ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    failures = [r for r in rows if r.failed]
    details = [f"{r.model}: {cell}" for r in failures for cell in (r.checksum, r.load, r.probe) if cell.startswith("failed")]
    if failures:
        verdict = f"{len(failures)} model(s) failed"
    elif all(r.checksum == "not cached" for r in rows):
        verdict = "no model of the profile is cached: nothing to check (`cer models pull` fetches them)"
    else:
        verdict = "every cached model checked out"
    return "\n".join([*lines, "", *details, verdict])
