"""The experts of the published method: profile name -> the class that runs it and the schema of
its `options`.

A class is named by its import path ("module:Class") and imported only when the expert is built
(`cer.modalities.factory`): the expert modules import torch and the like. The options schemas
are light (`cer.core.options`), so that validating a profile imports no expert module.

A profile runs any other expert by naming its class, `experts.NAME.target: "module:Class"`
(that class's own `Options` is then its schema). Loading a profile writes every expert's
target into its config, so a Ray actor or a batch worker builds from the config alone and no
process keeps a registry of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel

from cer.core.options import (
    AudioOptions,
    ClipLabelsOptions,
    DynamicFaceOptions,
    SceneOptions,
    StaticFaceOptions,
    TextOptions,
)

# Whom an expert's evidence is about, for per-person results (cer.pipeline.persons): a person's
# face (run again on each person's crops), the frame (run again on a region around each person
# when several are in view), the voice and words (given to the person speaking), or the scene
# (everyone's).
About = Literal["face", "frame", "voice", "scene"]


@dataclass(frozen=True)
class Registered:
    target: str  # "module:Class" of the expert
    options: type[BaseModel]
    about: About


METHOD_EXPERTS_TABLE = MappingProxyType(
    {
        "static_face": Registered("cer.modalities.static_face:StaticFaceExpert", StaticFaceOptions, "face"),
        "dynamic_face": Registered("cer.modalities.dynamic_face:DynamicFaceExpert", DynamicFaceOptions, "face"),
        "audio": Registered("cer.modalities.audio:AudioExpert", AudioOptions, "voice"),
        "text": Registered("cer.modalities.text:TextExpert", TextOptions, "voice"),
        "clip_labels": Registered("cer.modalities.clip_labels:ClipLabelsExpert", ClipLabelsOptions, "frame"),
        "scene": Registered("cer.modalities.scene:SceneExpert", SceneOptions, "scene"),
    }
)
# The six experts of the published method, in the order results list them.
METHOD_EXPERTS: tuple[str, ...] = tuple(METHOD_EXPERTS_TABLE)


def evidence_about(name: str) -> About:
    """Whom the expert's evidence is about, by its role in the method (whatever class plays
    it); an expert the method does not know is taken to describe the scene, everyone's."""
    entry = METHOD_EXPERTS_TABLE.get(name)
    return entry.about if entry is not None else "scene"


def expert_names() -> list[str]:
    return list(METHOD_EXPERTS)


def default_target(name: str) -> str | None:
    """The class of a method expert; None for a name the method does not know."""
    entry = METHOD_EXPERTS_TABLE.get(name)
    return entry.target if entry else None


def imported(target: str) -> Any:
    """The object a "module:Name" target names, its module imported."""
    module_name, _, attribute = target.partition(":")
    return getattr(import_module(module_name), attribute)


def options_class(name: str, target: str) -> type[BaseModel]:
    """The schema of an expert's `options`: the table's for a method expert run by its own
    class (no import), else the class's `Options` (imports it)."""
    entry = METHOD_EXPERTS_TABLE.get(name)
    if entry is not None and entry.target == target:
        return entry.options
    schema: type[BaseModel] = imported(target).Options
    return schema
