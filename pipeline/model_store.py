"""`cer models`: what each profile needs, whether it is cached, and fetching it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from cer.modalities.sources import Source, downloads_allowed, is_cached, resolve_model
from cer.pipeline.config import PROFILE_NAMES, Profile, load_profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRow:
    profile: str
    role: str  # `expert.role`, e.g. `text.asr`
    source: str
    licence: str
    cached: bool


def model_rows(profile_names: list[str] | None = None) -> list[ModelRow]:
    rows = []
    for name in profile_names or PROFILE_NAMES:
        profile = load_profile(name)
        for role, ref in profile.all_models().items():
            rows.append(ModelRow(name, role, ref.source, ref.licence, is_cached(ref.source, profile.cache_path)))
    return rows


def pull(profile: Profile, report: Callable[[str], None] = print) -> None:
    """Fetch and cache every model of a profile (tiny models are built locally): the command
    that prepares machines ahead of runs (runs also fetch what they miss, on first use)."""
    from cer.modalities.tiny import make_tiny

    refs = profile.all_models()
    for number, (role, ref) in enumerate(refs.items(), start=1):
        if Source.parse(ref.source).kind == "tiny":
            built = make_tiny(profile.cache_path)
            report(f"[{number}/{len(refs)}] {role}: tiny models {'built' if built else 'already built'}")
            continue
        report(f"[{number}/{len(refs)}] {role}: {ref.source} ...")
        path = resolve_model(ref, profile.cache_path)
        report(f"[{number}/{len(refs)}] {role}: ready at {path}")


def ensure_models(profile: Profile) -> None:
    """Resolve every model the profile's running parts need, here, before any expert starts:
    what is missing is fetched once (when downloads are allowed) instead of by several Ray
    actors at once, with one progress line per model fetched; a model that cannot be had is
    an error before any work starts. Tiny models are built by `cer models make-tiny` only."""
    missing = {role: ref for role, ref in profile.all_models().items() if not is_cached(ref.source, profile.cache_path)}
    for number, (role, ref) in enumerate(missing.items(), start=1):
        if Source.parse(ref.source).kind != "tiny" and downloads_allowed():
            log.info("[%d/%d] fetching %s: %s", number, len(missing), role, ref.source)
        resolve_model(ref, profile.cache_path)


def format_rows(rows: list[ModelRow]) -> str:
    header = ("profile", "model", "source", "licence", "cached")
    table = [header] + [(r.profile, r.role, r.source, r.licence, "yes" if r.cached else "no") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)
