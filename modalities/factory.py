"""Builds an expert by its profile name: imports the class the registry names, then constructs
it (which loads its models)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cer.core.registry import expert_target, imported
from cer.modalities.base import Expert, StagedExpert, UnavailableExpert, VocabularyExpert

if TYPE_CHECKING:
    from cer.core.config import ExpertConfig, ExpertContext


def expert_class(name: str) -> type[Expert]:
    cls: type[Expert] = imported(expert_target(name))
    return cls


def build_expert(name: str, config: ExpertConfig, context: ExpertContext) -> Expert:
    """Construct (and so load) one expert; an unavailable one becomes an `UnavailableExpert`."""
    if config.unavailable is not None:
        return UnavailableExpert(name, config.unavailable)
    cls = expert_class(name)
    if issubclass(cls, StagedExpert):
        return _staged(cls, config, context, load_models=True)
    return cls(config, context.cache_dir)


def build_preprocessor(name: str, config: ExpertConfig, context: ExpertContext) -> StagedExpert | None:
    """A staged expert without its device models, to preprocess chunks where they are; None for
    an expert that is not staged (it preprocesses in `predict`, wherever it runs)."""
    if config.unavailable is not None:
        return None
    cls = expert_class(name)
    return _staged(cls, config, context, load_models=False) if issubclass(cls, StagedExpert) else None


def _staged(cls: type[StagedExpert], config: ExpertConfig, context: ExpertContext, *, load_models: bool) -> StagedExpert:
    if issubclass(cls, VocabularyExpert):
        return cls(config, context.cache_dir, context.vocabulary, load_models=load_models)
    return cls(config, context.cache_dir, load_models=load_models)
