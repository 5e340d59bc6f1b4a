"""Maps expert names (as used in profiles) to their classes and their options schemas.

A class is named by its import path and imported only when an expert is built
(`cer.modalities.factory`): the expert modules import torch and the like. The options schemas
are light (`cer.core.options`), so that validating a profile imports no expert module.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from pydantic import BaseModel

from cer.core.options import (
    AudioOptions,
    ClipLabelsOptions,
    DynamicFaceOptions,
    SceneOptions,
    StaticFaceOptions,
    TextOptions,
)


@dataclass(frozen=True)
class Registered:
    target: str  # "module:Class" of the expert
    # The schema of its `options`; None: the class's own `Options`, read by importing the class
    # (for experts registered at run time, such as the tests' own)
    options: type[BaseModel] | None = None


# Tests may register extra experts with `register`.
_EXPERTS: dict[str, Registered] = {
    "static_face": Registered("cer.modalities.static_face:StaticFaceExpert", StaticFaceOptions),
    "dynamic_face": Registered("cer.modalities.dynamic_face:DynamicFaceExpert", DynamicFaceOptions),
    "audio": Registered("cer.modalities.audio:AudioExpert", AudioOptions),
    "text": Registered("cer.modalities.text:TextExpert", TextOptions),
    "clip_labels": Registered("cer.modalities.clip_labels:ClipLabelsExpert", ClipLabelsOptions),
    "scene": Registered("cer.modalities.scene:SceneExpert", SceneOptions),
}
# The six experts of the published method (tests register more under other names).
METHOD_EXPERTS: tuple[str, ...] = tuple(_EXPERTS)


def register(name: str, target: str) -> None:
    """Add an expert class under `name` (`target` is "module:Class"); validating its options
    imports the class to read its `Options`."""
    _EXPERTS[name] = Registered(target)


def expert_names() -> list[str]:
    return list(_EXPERTS)


def _registered(name: str) -> Registered:
    if name not in _EXPERTS:
        raise KeyError(f"unknown expert {name!r}; known experts: {', '.join(_EXPERTS)}")
    return _EXPERTS[name]


def expert_target(name: str) -> str:
    """The "module:Class" of an expert, for `register` in another process (a Ray actor)."""
    return _registered(name).target


def imported(target: str) -> Any:
    """The object a "module:Name" target names, its module imported."""
    module_name, attribute = target.split(":")
    return getattr(import_module(module_name), attribute)


def options_class(name: str) -> type[BaseModel]:
    """The schema of an expert's `options`."""
    entry = _registered(name)
    schema: type[BaseModel] = entry.options or imported(entry.target).Options
    return schema
