"""The folders are layers (docs/development.md): every import of a cer module points down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> the cer subpackages its modules may import (besides their own)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "modalities": {"core"},
    "fusion": {"core"},
    "pipeline": {"core", "modalities", "fusion", "version"},
    "serving": {"core", "pipeline", "version"},
}


def cer_imports(path: Path) -> set[str]:
    """The cer subpackages a module imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("cer.")}
    return found


@pytest.mark.parametrize("folder", ALLOWED)
def test_imports_point_down_the_layers(folder: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports cer.{package}"
        for path in (ROOT / folder).rglob("*.py")
        for package in cer_imports(path) - ALLOWED[folder] - {folder}
    }
    assert not wrong, sorted(wrong)
