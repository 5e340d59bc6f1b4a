"""result.json: the Result's own serialisation (its schema is generated from the models)."""

from __future__ import annotations

from pathlib import Path

from cer.core.result import Result
from cer.pipeline.outputs.atomic import atomic_open


def write_result_json(result: Result, path: Path) -> None:
    with atomic_open(path) as handle:
        handle.write(result.to_json())
