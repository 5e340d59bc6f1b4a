"""The spine of cer: types, labels, config, media, windows, faces, the runner, batch,
outputs and evaluation. `Pipeline` is exposed lazily: modalities and fusion import
`cer.pipeline.types`, so importing the runner here eagerly would form an import cycle."""

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
