"""Maps expert names (as used in profiles) to their classes, imported on first use."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cer.modalities.base import Expert
    from cer.pipeline.config import ExpertConfig

# name -> "module:Class". Tests may register extra experts with `register`.
_EXPERTS: dict[str, str] = {
    "static_face": "cer.modalities.static_face:StaticFaceExpert",
    "dynamic_face": "cer.modalities.dynamic_face:DynamicFaceExpert",
    "audio": "cer.modalities.audio:AudioExpert",
    "text": "cer.modalities.text:TextExpert",
    "clip_labels": "cer.modalities.clip_labels:ClipLabelsExpert",
    "scene": "cer.modalities.scene:SceneExpert",
}
# The six experts of the published method (tests register more under other names).
METHOD_EXPERTS: tuple[str, ...] = tuple(_EXPERTS)


def register(name: str, target: str) -> None:
    """Add an expert class under `name` (`target` is "module:Class")."""
    _EXPERTS[name] = target


def expert_names() -> list[str]:
    return list(_EXPERTS)


def expert_target(name: str) -> str:
    """The "module:Class" of an expert, for `register` in another process (a Ray actor)."""
    if name not in _EXPERTS:
        raise KeyError(f"unknown expert {name!r}; known experts: {', '.join(_EXPERTS)}")
    return _EXPERTS[name]


def expert_class(name: str) -> type[Expert]:
    module_name, class_name = expert_target(name).split(":")
    return getattr(import_module(module_name), class_name)


def build_expert(name: str, config: ExpertConfig, cache_dir: Path) -> Expert:
    """Construct (and so load) one expert; an unavailable one becomes an `UnavailableExpert`."""
    from cer.modalities.base import UnavailableExpert

    if config.unavailable is not None:
        return UnavailableExpert(name, config.unavailable)
    return expert_class(name)(config, cache_dir)
