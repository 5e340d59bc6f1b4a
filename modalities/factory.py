"""Builds an expert by its profile name: imports the class the registry names, then constructs
it (which loads its models)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from cer.core.registry import default_target, imported
from cer.modalities.base import Expert, StagedExpert, UnavailableExpert, VocabularyExpert

if TYPE_CHECKING:
    from cer.core.config import ExpertConfig, ExpertContext


def expert_class(name: str, config: ExpertConfig) -> type[Expert]:
    """The class the config names (`target`; a method expert's own when the config was not
    loaded through `load_profile`)."""
    target = config.target or default_target(name)
    if target is None:
        raise KeyError(f"expert {name!r} names no class (experts.{name}.target)")
    cls: type[Expert] = imported(target)
    return cls


# Experts are built one at a time in a process: transformers' lazy imports and its loading of
# tied weights are not thread-safe, and a server that loads two pipelines side by side saw
# "cannot import name 'AutoProcessor'" and a tied `lm_head.weight` reported missing.
_BUILDING = threading.Lock()


def build_expert(name: str, config: ExpertConfig, context: ExpertContext) -> Expert:
    """Construct (and so load) one expert; an unavailable one becomes an `UnavailableExpert`."""
    if config.unavailable is not None:
        return UnavailableExpert(name, config.unavailable)
    cls = expert_class(name, config)
    with _BUILDING:
        if issubclass(cls, StagedExpert):
            return _staged(cls, config, context, load_models=True)
        return cls(config, context.cache_dir)


def build_preprocessor(name: str, config: ExpertConfig, context: ExpertContext) -> StagedExpert | None:
    """A staged expert without its device models, to preprocess chunks where they are; None for
    an expert that is not staged (it preprocesses in `predict`, wherever it runs)."""
    if config.unavailable is not None:
        return None
    cls = expert_class(name, config)
    if not issubclass(cls, StagedExpert):
        return None
    with _BUILDING:
        return _staged(cls, config, context, load_models=False)


def _staged(cls: type[StagedExpert], config: ExpertConfig, context: ExpertContext, *, load_models: bool) -> StagedExpert:
    if issubclass(cls, VocabularyExpert):
        return cls(config, context.cache_dir, context.vocabulary, load_models=load_models)
    return cls(config, context.cache_dir, load_models=load_models)
