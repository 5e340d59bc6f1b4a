"""Orchestration: the runner, the executors (in process, Ray), batch, the expert-output cache,
outputs and evaluation, built on cer.core, cer.modalities and cer.fusion. `Pipeline` is
exposed lazily, so that importing a light module here (the model store, for `cer models`)
does not import torch through the runner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cer.pipeline.runner import Pipeline

__all__ = ["Pipeline"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from cer.pipeline.runner import Pipeline

        return Pipeline
    raise AttributeError(f"module 'cer.pipeline' has no attribute {name!r}")
