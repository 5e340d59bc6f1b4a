"""Profiles: YAML files validated into typed, frozen objects at load time.

A profile may `extends:` another; the child's mappings are merged key by key over the
parent's. Every key is checked: an unknown or ill-typed key is an error that names it
(for example `experts.static_face.options.batch_size`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cer.core.devices import DEVICE_PATTERN, check_device
from cer.core.environment import CACHE_VARIABLE
from cer.core.labels import PAIRS, validate_pairs
from cer.core.registry import METHOD_EXPERTS, default_target, options_class

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


class ConfigError(ValueError):
    """A profile that cannot be used; the message names the file and the bad key."""


class Strict(BaseModel):
    # Field defaults throughout the package are spelled `Field(default=...)`: type checkers
    # see a positional default as no default, and `MediaConfig()` as missing arguments.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(Strict):
    """One model a profile uses: where it comes from and under which licence."""

    source: str  # `hf:ORG/NAME@REVISION[/FILE]`, `pypi:PACKAGE==VERSION/PATH`, `whisper:NAME`, `tiny:NAME`, a path, ...
    licence: str
    # the SHA-256 a single-file model must have (hex); a file that differs is an error
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # A hub repository's files the loader reads, fetched one by one instead of the whole
    # repository (which may hold the weights in several formats): `a|b` takes the first of the
    # two the repository has; a `*.index.json` shard index brings the shards it names. None:
    # the whole repository.
    files: tuple[str, ...] | None = None
    # Megabytes (10^6 bytes) a fetch downloads: the files above (or the single file), as the
    # hub lists them; `cer models list` adds them up per profile
    download_mb: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _files_of_a_repository(self) -> ModelRef:
        if self.files is not None and not (self.source.startswith("hf:") and self.source.count("/") == 1):
            raise ValueError("files lists the files of a hub repository (hf:ORG/NAME@REVISION), not of a single file or another source")
        return self


class MediaConfig(Strict):
    sample_fps: float = Field(default=5.0, gt=0)  # frames per second sampled for the experts (5 fps = 20 per 4 s window)
    chunk_windows: int = Field(default=8, ge=1)  # windows decoded and sent to the experts together
    max_side: int = Field(default=960, ge=64)  # sampled frames are downscaled so their longer side fits (pixels)


class WindowConfig(Strict):
    length_s: float = Field(default=4.0, gt=0)
    hop_s: float = Field(default=2.0, gt=0)
    min_tail_s: float = Field(default=1.0, ge=0)  # the last window is kept only when at least this long

    @model_validator(mode="after")
    def _hop_not_longer(self) -> WindowConfig:
        if self.hop_s > self.length_s:
            raise ValueError("hop_s must not exceed length_s (frames between windows would get no prediction)")
        return self


class FaceConfig(Strict):
    detector: Literal["yunet", "blazeface", "haar"] = "blazeface"
    # `detector`: the model file for yunet / blazeface; `facemesh` (optional): MediaPipe
    # FaceMesh's landmark model, which then keeps only the detections where it finds a face
    models: dict[str, ModelRef] = Field(default_factory=dict)
    score_threshold: float = Field(default=0.6, ge=0, le=1)
    nms_threshold: float = Field(default=0.3, ge=0, le=1)
    min_face_px: int = Field(default=24, ge=1)  # smaller faces are ignored
    track_iou: float = Field(default=0.3, ge=0, le=1)  # least overlap that continues a track across sampled frames
    max_track_gap: int = Field(default=5, ge=0)  # detections a track may miss before it ends
    # Faces are detected on every Nth sampled frame (and a chunk's last); on the frames between,
    # each face seen on both detections around them is placed between its two boxes, in
    # proportion to the time. 1: every sampled frame.
    detect_every: int = Field(default=1, ge=1)


class PersonsConfig(Strict):
    """Who is who: face tracks joined into persons, and whose voice it is (cer.core.persons)."""

    # Persons scored per window at most (`--persons N`): the most present ones; 0 scores no one
    # apart from the video's main face (the whole-video view every result has)
    max_persons: int = Field(default=4, ge=0)
    # a person is scored in a window when seen on at least this share of its sampled frames
    min_share: float = Field(default=0.5, gt=0, le=1)
    # a track that starts within `join_gap_s` of another's end, near where it ended (centres
    # apart by at most `join_distance` face widths) and of a like size (at most
    # `join_size_ratio` times larger or smaller), continues that person
    join_gap_s: float = Field(default=3.0, ge=0)
    join_distance: float = Field(default=1.0, ge=0)
    join_size_ratio: float = Field(default=1.5, ge=1)
    # the voice goes to the person whose mouth moves most during speech when their share of
    # the mouth motion leads the next person's by at least this margin; else to no one
    speaker_min_confidence: float = Field(default=0.3, ge=0, le=1)
    # CLIP sees a square around each person: this many face sides, centred below the face
    clip_region: float = Field(default=3.0, ge=1)


class ExpertConfig(Strict):
    enabled: bool = True
    # Set when a profile has no weights for this expert: the expert is then reported
    # "unavailable" with this reason and every window is absent.
    unavailable: str | None = None
    device: str = Field(default="auto", pattern=DEVICE_PATTERN)  # auto, cpu, cuda or cuda:N (core/devices.py)
    models: dict[str, ModelRef] = Field(default_factory=dict)
    # "module:Class" of the expert; filled in from cer.core.registry for the method's experts
    target: str | None = None
    # A mapping as written in the profile; `load_profile` validates it once, against the
    # expert's schema, into that schema's typed object (defaults filled in), which the expert
    # then takes as it is and the expert-output cache hashes.
    options: Any = Field(default_factory=dict)
    # Ray resources of the expert's actor. 0 CPUs: the experts share the cores (they wait for
    # chunks most of the time); a whole number also sets the actor's thread count. GPUs are
    # requested only where the cluster has some, so one profile runs anywhere; a fraction lets
    # several experts share one card.
    num_cpus: float = Field(default=0.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0, le=1)


@dataclass(frozen=True)
class ExpertContext:
    """What an expert is built with besides its own config: it travels with the configs to
    wherever the experts are built (this process, Ray actors)."""

    cache_dir: Path  # the folder of cached models
    # The profile's compound vocabulary (compound -> its two basic labels, in output order),
    # handed to the experts that read it (`VocabularyExpert`) and to no other
    vocabulary: Mapping[str, tuple[str, str]]


Engine = Literal["ray", "inprocess"]  # what `auto` resolves to


class ExecutionConfig(Strict):
    # ray: each expert in its own Ray actor, all at once; inprocess: in this process, each on a
    # thread (no Ray start-up, for tests and small jobs). Both give the same result. auto:
    # chosen from the work (cer.pipeline.executors.choose_engine): Ray for batches, the service,
    # evaluations, long videos, a GPU or a cluster address; in process for one short video.
    engine: Literal["auto", "ray", "inprocess"] = "auto"
    ray_address: str | None = None  # an existing cluster; None: $RAY_ADDRESS, else an embedded local Ray
    # Chunks sent to the experts before the oldest is collected: 2 lets the next chunk decode
    # while the experts work. Memory grows with it (each chunk holds its frames and audio).
    chunks_in_flight: int = Field(default=2, ge=1, le=4)
    # How long an expert's Ray actor waits for more chunks (of this video or others) to fill a
    # batch before it runs what it has: short, next to a forward pass on a full batch
    batch_wait_s: float = Field(default=0.05, ge=0, le=5)
    max_restarts: int = Field(default=2, ge=0)  # times a crashed expert actor is restarted
    max_task_retries: int = Field(default=2, ge=0)  # times a chunk is resent to a restarted actor
    # In process: each expert on a thread of its own, all working at once (their models run
    # outside Python's lock), sharing the cores with decoding; false: one after another
    concurrent_experts: bool = True
    # In process, on threads: the experts whose answers the others wait on (as a rule the
    # slowest) keep the normal scheduling priority, the others run below them and fill the
    # cores around them (cer.pipeline.core_shares). Empty: every expert alike.
    lead_experts: list[str] = Field(default_factory=list)


class CacheConfig(Strict):
    # Expert outputs per window, kept so that a re-run (another fusion or compound method, a
    # resumed evaluation) recomputes no expert. `cer eval` and `cer fusion fit` turn it on.
    enabled: bool = True
    dir: str | None = None  # None: expert-outputs/ inside the cache folder (`cache_dir`)


class FusionConfig(Strict):
    # MHPF heads. 3 is the default of the authors' multi-head class; their committed config
    # trains a single head. With equal weights the number of heads changes nothing.
    heads: int = Field(default=3, ge=1)
    weights: str | None = None  # JSON file with learned MHPF weights; None means equal weights
    # expert -> temperature T: its distributions enter the fusion as p ** (1 / T), renormalised.
    # 1 (the default) leaves them as they are; T > 1 flattens a sharp expert (bench/expert_entropy.py).
    temperatures: dict[str, float] = Field(default_factory=dict)

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [name for name, t in value.items() if not t > 0]
        if bad:
            raise ValueError(f"temperatures must be above 0: {', '.join(bad)}")
        return value


class PFSAConfig(Strict):
    temperature: float = Field(default=0.05, gt=0)
    compound_phrase_weight: float = Field(default=0.0, ge=0, le=1)  # share of the compound phrase's similarity


CompoundMethod = Literal["ppa", "pfsa"]


class CompoundConfig(Strict):
    method: CompoundMethod = "ppa"
    # The compounds, in order, each with the two basic labels it blends: a mapping here, or the
    # name of a packaged vocabulary (`raf_ce`) or the path of a YAML file holding that mapping.
    vocabulary: dict[str, tuple[str, str]] = Field(default_factory=lambda: dict(PAIRS))
    pfsa: PFSAConfig = PFSAConfig()
    # A window whose winning pair has its weaker basic below this fused probability is shown as
    # "basic only: <the stronger>" (result.json, windows.csv, report, page; the ABAW file keeps
    # the forced compound). 0.1 sits just under the uniform share of 8 classes (0.125): a weaker
    # part less likely than chance is no evidence of a blend, while a real secondary emotion,
    # even a faint one, stays above it. 0 turns the rule off.
    basic_only_below: float = Field(default=0.1, ge=0, lt=1)

    @field_validator("vocabulary", mode="before")
    @classmethod
    def _named_or_file(cls, value: Any) -> Any:
        return load_vocabulary(value) if isinstance(value, str) else value

    @field_validator("vocabulary")
    @classmethod
    def _pairs_known(cls, value: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        if not value:
            raise ValueError("the compound vocabulary is empty")
        validate_pairs(value)
        return value


class LiveConfig(Strict):
    # `cer live`: the most seconds a window's verdict may come after the stream reached the
    # window's end. An expert whose time on its last windows would push a verdict past it is
    # skipped for that window (absent, with the reason), so a slow expert (the scene VLM on a
    # CPU) cannot hold the verdicts back. 4 s, one window: a verdict then comes before the
    # window after next has ended.
    max_latency_s: float = Field(default=4.0, gt=0)


class Profile(Strict):
    name: str
    description: str = ""
    cache_dir: str = "~/.cache/cer"  # overridden by the CER_CACHE environment variable
    media: MediaConfig = MediaConfig()
    windows: WindowConfig = WindowConfig()
    faces: FaceConfig = FaceConfig()
    persons: PersonsConfig = PersonsConfig()
    experts: dict[str, ExpertConfig]
    execution: ExecutionConfig = ExecutionConfig()
    fusion: FusionConfig = FusionConfig()
    compound: CompoundConfig = CompoundConfig()
    cache: CacheConfig = CacheConfig()
    live: LiveConfig = LiveConfig()

    @model_validator(mode="after")
    def _settings_name_experts(self) -> Profile:
        for setting, names in (("fusion.temperatures", self.fusion.temperatures), ("execution.lead_experts", self.execution.lead_experts)):
            unknown = sorted(set(names) - set(self.experts))
            if unknown:
                raise ValueError(f"{setting} names no expert of the profile: {', '.join(unknown)}")
        return self

    @property
    def cache_path(self) -> Path:
        return Path(os.environ.get(CACHE_VARIABLE) or self.cache_dir).expanduser()

    @property
    def expert_cache_path(self) -> Path:
        """The folder of the expert-output cache."""
        return Path(self.cache.dir).expanduser() if self.cache.dir else self.cache_path / "expert-outputs"

    @property
    def expert_context(self) -> ExpertContext:
        """What the experts are built with besides their own configs."""
        return ExpertContext(self.cache_path, self.compound.vocabulary)

    def enabled_experts(self) -> dict[str, ExpertConfig]:
        """The enabled experts, in profile order."""
        return {name: cfg for name, cfg in self.experts.items() if cfg.enabled}

    def all_models(self) -> dict[str, ModelRef]:
        """Every model the profile names, keyed `part.role` (e.g. `static_face.classifier`)."""
        found = {f"faces.{role}": ref for role, ref in self.faces.models.items()}
        for expert, cfg in self.experts.items():
            if cfg.enabled and cfg.unavailable is None:
                found.update({f"{expert}.{role}": ref for role, ref in cfg.models.items()})
        return found


PROFILE_NAMES = ("default", "paper", "offline", "tiny")


def _packaged_or_file(name_or_path: str, kind: str, folder: Traversable) -> Path:
    """A YAML file given by its path, or by its name among the packaged ones in `folder`."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"{kind} file {candidate} does not exist")
        return candidate
    packaged = folder / f"{name_or_path}.yaml"
    if not packaged.is_file():
        known = sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))
        raise ConfigError(f"unknown {kind} {name_or_path!r}; choose one of {', '.join(known)} or give a YAML path")
    return Path(str(packaged))


def profile_path(name_or_path: str) -> Path:
    """A profile name (`offline`) or a path to a YAML file."""
    return _packaged_or_file(name_or_path, "profile", resources.files("cer.configs"))


def _read_yaml(path: Path, kind: str = "profile") -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {kind} must be a mapping of keys to values")
    return data


def load_vocabulary(name_or_path: str) -> dict[str, tuple[str, str]]:
    """A compound vocabulary from a packaged name (`raf_ce`, under configs/vocabularies/) or a
    YAML file: one `Compound_Name: [Basic1, Basic2]` line per compound, in output order.
    A relative path is taken from the working directory."""
    path = _packaged_or_file(name_or_path, "vocabulary", resources.files("cer.configs") / "vocabularies")
    pairs: dict[str, tuple[str, str]] = {}
    for compound, pair in _read_yaml(path, "vocabulary").items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(b, str) for b in pair)):
            raise ConfigError(f"{path}: compound {compound!r}: expected a list of two basic labels, got {pair!r}")
        pairs[str(compound)] = (pair[0], pair[1])
    try:
        validate_pairs(pairs)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return pairs


def _is_model_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and "source" in value


def merge_settings(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Profile settings `base` with `override`'s set over them, as a child profile sets its
    parent's (`extends`): mappings merged key by key, a model replaced whole, `null` removing."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:  # `key: null` in a child profile removes what the parent set
            merged.pop(key, None)
        elif _is_model_ref(value):  # a model is replaced whole: the parent's checksum is not the child's file's
            merged[key] = value
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_settings(merged[key], value)
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
    return merge_settings(_resolved_dict(parent_path, (*seen, path)), data)


def _error_lines(path: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{key}: {error['msg'].removeprefix('Value error, ')}")
    if len(lines) == 1:  # the usual case stays one line on the terminal
        return f"{path}: invalid profile: {lines[0]}"
    return f"{path}: invalid profile:\n  " + "\n  ".join(lines)


def resolve_experts(profile: Profile, path: Path | str = "<profile>") -> Profile:
    """`profile` with each expert's class (`target`) named and its `options` validated into
    that class's typed options. No expert module, and so no torch, is imported for the
    method's experts (their schemas are in the registry)."""
    experts = {}
    for name, cfg in profile.experts.items():
        target = cfg.target or default_target(name)
        if target is None:
            raise ConfigError(
                f"{path}: experts.{name}: unknown expert {name!r}; known experts: {', '.join(METHOD_EXPERTS)} "
                f"(another expert is named by its class: experts.{name}.target: module:Class)"
            )
        try:
            schema = options_class(name, target)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(f"{path}: experts.{name}.target: cannot import {target!r} ({exc})") from None
        try:
            options = cfg.options if isinstance(cfg.options, schema) else schema.model_validate(cfg.options)
        except ValidationError as exc:
            details = "; ".join(f"experts.{name}.options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path}: invalid profile: {details}") from None
        experts[name] = cfg.model_copy(update={"target": target, "options": options})
    return profile.model_copy(update={"experts": experts})


def load_profile(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Profile:
    """Load, merge and validate a profile; `overrides` (nested mapping) wins over the file."""
    path = profile_path(name_or_path)
    data = _resolved_dict(path)
    if overrides:
        data = merge_settings(data, overrides)
    data.setdefault("name", path.stem)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_error_lines(path, exc)) from None
    return resolve_experts(profile, path)


def with_device(profile: Profile, device: str | None) -> Profile:
    """`profile` with every expert's models on `device` (`--device`, CER_DEVICE), whatever the
    file says; None keeps the profile's own devices."""
    if device is None:
        return profile
    experts = {name: cfg.model_copy(update={"device": device}) for name, cfg in profile.experts.items()}
    return profile.model_copy(update={"experts": experts})


def check_devices(profile: Profile) -> None:
    """ValueError, naming the device and what this machine has, when an enabled expert asks for
    one this machine lacks; before any model loads. A Ray cluster's GPUs are its own business,
    not this machine's, so a profile with a cluster address is not checked here."""
    if profile.execution.ray_address:
        return
    for device in dict.fromkeys(cfg.device for cfg in profile.experts.values() if cfg.enabled):
        check_device(device)
