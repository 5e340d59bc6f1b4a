"""`cer models`: what each profile needs, whether it is cached, and fetching it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cer.core.config import PROFILE_NAMES, ModelRef, Profile, load_profile
from cer.core.sources import (
    ModelNotAvailable,
    Source,
    cached_path,
    downloads_allowed,
    is_cached,
    model_host,
    reachable,
    resolve_model,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRow:
    profile: str
    role: str  # `expert.role`, e.g. `text.asr`
    source: str
    licence: str
    download_mb: float | None  # what fetching it downloads, as the profile declares (ModelRef.download_mb)
    size_bytes: int | None  # on disk, when cached; None otherwise (asking the hub would be a download's worth of requests)

    @property
    def cached(self) -> bool:
        return self.size_bytes is not None


def model_rows(profile_names: list[str] | None = None) -> list[ModelRow]:
    rows = []
    for name in profile_names or PROFILE_NAMES:
        profile = load_profile(name)
        for role, ref in profile.all_models().items():
            path = cached_path(ref, profile.cache_path)
            rows.append(ModelRow(name, role, ref.source, ref.licence, ref.download_mb, None if path is None else disk_size(path)))
    return rows


def disk_size(path: Path) -> int:
    """Bytes of a model file, or of every file in a model folder (hub snapshots hold links to
    the files, which are followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def size_text(size_bytes: int | None) -> str:
    """`12.3 MB`; `?` when unknown."""
    if size_bytes is None:
        return "?"
    if size_bytes < 1000:
        return f"{size_bytes} B"
    size, unit = size_bytes / 1000, "kB"
    for larger in ("MB", "GB"):
        if size < 1000:
            break
        size, unit = size / 1000, larger
    return f"{size:.1f} {unit}"


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
    prepare_text_heads(profile, report)


def prepare_text_heads(profile: Profile, report: Callable[[str], None]) -> None:
    """Fit and keep the zero-shot text heads' read-outs now (modalities/readout_cache.py), so that
    no run, the first one included, pays for the fit at start-up. A kind whose read-out ships
    with cer (descriptions) has nothing to fit."""
    from cer.core.devices import resolve_device
    from cer.core.options import TextHeadOptions
    from cer.modalities.text_emotion import load_text_emotion_head
    from cer.modalities.text_kinds import TEXT_KINDS

    for name, cfg in profile.enabled_experts().items():
        options = cfg.options
        fitted_here = (
            isinstance(options, TextHeadOptions) and options.emotion_head == "zero_shot" and TEXT_KINDS[options.text_kind].readout is None
        )
        if fitted_here and cfg.unavailable is None:
            report(f"{name}: the zero-shot text head's read-out ...")
            head = load_text_emotion_head(
                options, resolve_model(cfg.models["emotion"], profile.cache_path), resolve_device(cfg.device), profile.cache_path
            )
            report(f"{name}: {head.summary}")


def ensure_models(profile: Profile) -> None:
    """Resolve every model the profile's running parts need, here, before any expert starts:
    what is missing is fetched once (when downloads are allowed) instead of by several Ray
    actors at once, with one progress line per model fetched; a model that cannot be had is
    an error before any work starts. Tiny models are built by `cer models make-tiny` only."""
    missing = missing_models(profile)
    check_fetchable(profile, missing)
    for number, (role, ref) in enumerate(missing.items(), start=1):
        if Source.parse(ref.source).kind != "tiny" and downloads_allowed():
            log.info("[%d/%d] fetching %s: %s", number, len(missing), role, ref.source)
        resolve_model(ref, profile.cache_path)


def missing_models(profile: Profile) -> dict[str, ModelRef]:
    """The profile's models that are not in the cache."""
    return {role: ref for role, ref in profile.all_models().items() if not is_cached(ref, profile.cache_path)}


def check_fetchable(profile: Profile, missing: Mapping[str, ModelRef]) -> None:
    """Raise `ModelNotAvailable` at once, in one line naming the `missing` models and the ways
    forward, when some are not fetchable (downloads are off, or their host does not answer):
    before any video is decoded or folder made, never after half a minute of the hub client's
    retries. Tiny models are built locally, never fetched: they are left to `resolve_model`."""
    missing = {role: ref for role, ref in missing.items() if Source.parse(ref.source).kind != "tiny"}
    if not missing:
        return
    names = ", ".join(missing)
    ways = f"run `cer models pull --profile {profile.name}` on a machine with the internet (then copy {profile.cache_path} here)"
    if not downloads_allowed():
        raise ModelNotAvailable(
            f"the {profile.name} profile needs {len(missing)} model(s) that are not cached ({names}) and downloads are off; {ways}"
        )
    hosts = {host for ref in missing.values() if (host := model_host(ref))}
    unreachable = sorted(urlsplit(host).hostname or host for host in hosts if not reachable(host))
    if unreachable:
        raise ModelNotAvailable(
            f"the {profile.name} profile needs {len(missing)} model(s) that are not cached ({names}) and "
            f"{', '.join(unreachable)} cannot be reached; {ways}"
        )


def format_rows(rows: list[ModelRow]) -> str:
    """The table `cer models list` prints, then what each profile downloads on first use."""
    header = ("profile", "model", "source", "licence", "download", "size", "cached")
    table = [header] + [
        (r.profile, r.role, r.source, r.licence, _mb_text(r.download_mb), size_text(r.size_bytes), "yes" if r.cached else "no")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    totals: dict[str, dict[str, float]] = {}
    for r in rows:  # a model two experts share (one source) is fetched once
        totals.setdefault(r.profile, {})[r.source] = r.download_mb or 0.0
    lines.append("")
    lines += [
        f"{profile}: {size_text(int(sum(sizes.values()) * 1e6))} from model hosts on first use (PyPI wheels aside)"
        for profile, sizes in totals.items()
    ]
    return "\n".join(lines)


def _mb_text(megabytes: float | None) -> str:
    return "-" if megabytes is None else size_text(int(megabytes * 1e6))
