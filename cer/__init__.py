"""cer: compound facial expression recognition in videos, zero-shot, from six experts.

The public API is `Pipeline` (`from cer import Pipeline`). It is exposed lazily so that
`import cer` stays cheap (no torch) and the subpackages keep their one-way dependencies:
`cer.modalities` and `cer.fusion` import `cer.core.types`, never the runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cer.version import __version__

if TYPE_CHECKING:
    from cer.pipeline.runner import Pipeline

__all__ = ["Pipeline", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from cer.pipeline.runner import Pipeline

        return Pipeline
    raise AttributeError(f"module 'cer' has no attribute {name!r}")
