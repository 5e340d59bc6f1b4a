"""Profiles: YAML files validated into typed, frozen objects at load time.

A profile may `extends:` another; the child's mappings are merged key by key over the
parent's. Every key is checked: an unknown or ill-typed key is an error that names it
(for example `experts.static_face.options.batch_size`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.labels import PAIRS, validate_pairs


class ConfigError(ValueError):
    """A profile that cannot be used; the message names the file and the bad key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(Strict):
    """One model a profile uses: where it comes from and under which licence."""

    source: str  # hub id, local path, `pypi:PACKAGE==VERSION/path/in/package`, `tiny:NAME`, ...
    licence: str


class MediaConfig(Strict):
    sample_fps: float = Field(5.0, gt=0)  # frames per second sampled for the experts (5 fps = 20 per 4 s window)
    chunk_windows: int = Field(8, ge=1)  # windows decoded and sent to the experts together
    max_side: int = Field(960, ge=64)  # sampled frames are downscaled so their longer side fits (pixels)


class WindowConfig(Strict):
    length_s: float = Field(4.0, gt=0)
    hop_s: float = Field(2.0, gt=0)
    min_tail_s: float = Field(1.0, ge=0)  # the last window is kept only when at least this long

    @model_validator(mode="after")
    def _hop_not_longer(self) -> WindowConfig:
        if self.hop_s > self.length_s:
            raise ValueError("hop_s must not exceed length_s (frames between windows would get no prediction)")
        return self


class FaceConfig(Strict):
    detector: Literal["yunet", "blazeface", "haar"] = "blazeface"
    models: dict[str, ModelRef] = Field(default_factory=dict)  # `detector` model file for yunet / blazeface
    score_threshold: float = Field(0.6, ge=0, le=1)
    nms_threshold: float = Field(0.3, ge=0, le=1)
    min_face_px: int = Field(24, ge=1)  # smaller faces are ignored
    crop_margin: float = Field(0.15, ge=0, le=1)  # fraction of the box added on every side of a crop
    track_iou: float = Field(0.3, ge=0, le=1)  # least overlap that continues a track across sampled frames
    max_track_gap: int = Field(5, ge=0)  # sampled frames a track may miss before it ends


class ExpertConfig(Strict):
    enabled: bool = True
    # Set when a profile has no weights for this expert: the expert is then reported
    # "unavailable" with this reason and every window is absent.
    unavailable: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    models: dict[str, ModelRef] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)  # validated by the expert's own Options class


class FusionConfig(Strict):
    heads: int = Field(3, ge=1)
    weights: str | None = None  # JSON file with learned MHPF weights; None means equal weights


class PFSAConfig(Strict):
    temperature: float = Field(0.05, gt=0)
    compound_phrase_weight: float = Field(0.0, ge=0, le=1)  # share of the compound phrase's similarity


class CompoundConfig(Strict):
    method: Literal["ppa", "pfsa"] = "ppa"
    vocabulary: dict[str, tuple[str, str]] = Field(default_factory=lambda: dict(PAIRS))
    pfsa: PFSAConfig = PFSAConfig()

    @field_validator("vocabulary")
    @classmethod
    def _pairs_known(cls, value: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        if not value:
            raise ValueError("the compound vocabulary is empty")
        validate_pairs(value)
        return value


class Profile(Strict):
    name: str
    description: str = ""
    cache_dir: str = "~/.cache/cer"  # overridden by the CER_CACHE environment variable
    media: MediaConfig = MediaConfig()
    windows: WindowConfig = WindowConfig()
    faces: FaceConfig = FaceConfig()
    experts: dict[str, ExpertConfig]
    fusion: FusionConfig = FusionConfig()
    compound: CompoundConfig = CompoundConfig()

    @property
    def cache_path(self) -> Path:
        return Path(os.environ.get("CER_CACHE") or self.cache_dir).expanduser()

    def all_models(self) -> dict[str, ModelRef]:
        """Every model the profile names, keyed `part.role` (e.g. `static_face.classifier`)."""
        found = {f"faces.{role}": ref for role, ref in self.faces.models.items()}
        for expert, cfg in self.experts.items():
            if cfg.enabled and cfg.unavailable is None:
                found.update({f"{expert}.{role}": ref for role, ref in cfg.models.items()})
        return found


PROFILE_NAMES = ("default", "paper", "offline", "tiny")


def profile_path(name_or_path: str) -> Path:
    """A profile name (`offline`) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"profile file {candidate} does not exist")
        return candidate
    packaged = resources.files("configs") / f"{name_or_path}.yaml"
    if not packaged.is_file():
        raise ConfigError(f"unknown profile {name_or_path!r}; choose one of {', '.join(PROFILE_NAMES)} or give a YAML path")
    return Path(str(packaged))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a profile must be a mapping of keys to values")
    return data


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if value is None:  # `key: null` in a child profile removes what the parent set
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolved_dict(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise ConfigError(f"{path}: `extends` forms a cycle")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    parent_path = path.parent / f"{parent}.yaml" if not str(parent).endswith((".yaml", ".yml")) else path.parent / parent
    if not parent_path.is_file():
        parent_path = profile_path(str(parent))
    return _merge(_resolved_dict(parent_path, (*seen, path)), data)


def _error_lines(path: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{key}: {error['msg']}")
    return f"{path}: invalid profile:\n  " + "\n  ".join(lines)


def validate_expert_options(profile: Profile, path: Path | str = "<profile>") -> None:
    """Check each expert's `options` against the Options model its class declares."""
    from modalities.registry import expert_class  # deferred: the registry imports expert modules

    for name, cfg in profile.experts.items():
        try:
            cls = expert_class(name)
        except KeyError as exc:
            raise ConfigError(f"{path}: experts.{name}: {exc.args[0]}") from None
        try:
            cls.Options.model_validate(cfg.options)
        except ValidationError as exc:
            details = "; ".join(
                f"experts.{name}.options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{path}: invalid profile: {details}") from None


def load_profile(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Profile:
    """Load, merge and validate a profile; `overrides` (nested mapping) wins over the file."""
    path = profile_path(name_or_path)
    data = _resolved_dict(path)
    if overrides:
        data = _merge(data, overrides)
    data.setdefault("name", path.stem)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_error_lines(path, exc)) from None
    validate_expert_options(profile, path)
    return profile
