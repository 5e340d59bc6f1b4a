"""`cer models`: what each profile needs, whether it is cached, and fetching it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modalities.sources import Source, is_cached, resolve
from pipeline.config import PROFILE_NAMES, Profile, load_profile


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
    """Fetch and cache every model of a profile (tiny models are built locally)."""
    from modalities.tiny import make_tiny

    refs = profile.all_models()
    for number, (role, ref) in enumerate(refs.items(), start=1):
        if Source.parse(ref.source).kind == "tiny":
            built = make_tiny(profile.cache_path)
            report(f"[{number}/{len(refs)}] {role}: tiny models {'built' if built else 'already built'}")
            continue
        report(f"[{number}/{len(refs)}] {role}: {ref.source} ...")
        path = resolve(ref.source, profile.cache_path, download=True)
        report(f"[{number}/{len(refs)}] {role}: ready at {path}")


def format_rows(rows: list[ModelRow]) -> str:
    header = ("profile", "model", "source", "licence", "cached")
    table = [header] + [(r.profile, r.role, r.source, r.licence, "yes" if r.cached else "no") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)
