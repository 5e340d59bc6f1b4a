"""The source files an expert's outputs depend on, so that editing any of them (the expert's
own module, or a helper it imports such as `face_models.py`, `asr.py`, `text_emotion.py`)
retires the expert's cached outputs.

The closure follows `cer.modalities` imports statically (by reading the files, without
importing them): the modules that compute an expert's answer all live there. Shared spine
modules (types, labels, config) are left out on purpose: an edit there would retire every
cached output of every expert, and they hold no model arithmetic.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from pathlib import Path

FOLLOWED = "cer.modalities"


def _source_file(module: str) -> Path | None:
    """The .py file of `module`, found beside its package's files; None when `module` names
    something else (a class imported from a module). Only the parent package is imported."""
    parent, _, leaf = module.rpartition(".")
    spec = importlib.util.find_spec(parent) if parent else None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for candidate in (Path(folder) / f"{leaf}.py", Path(folder) / leaf / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _imported(path: Path, package: str, within: str) -> set[str]:
    """The modules under `within` that a source file imports (module-level or deferred)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = importlib.util.resolve_name("." * node.level + node.module, package) if node.level else node.module
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from cer.modalities import asr`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == within or name.startswith(within + ".")}


def module_closure(module: str, extra: tuple[str, ...] = (), within: str = FOLLOWED) -> dict[str, str]:
    """module name -> SHA-256 of its source, for `module`, `extra` and every module under
    `within` that they import, transitively."""
    digests: dict[str, str] = {}
    pending = [module, *extra]
    while pending:
        name = pending.pop()
        if name in digests:
            continue
        path = _source_file(name)
        if path is None:  # a name imported from a package (a class, a function), not a module
            continue
        digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        pending.extend(_imported(path, name.rpartition(".")[0], within) - digests.keys())
    return dict(sorted(digests.items()))
