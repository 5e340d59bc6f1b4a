"""Content hashes of files (videos for the expert-output cache, model files for checksums)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20  # bytes read at a time


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks (videos and models may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
