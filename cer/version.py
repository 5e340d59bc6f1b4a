"""The version of cer, and of the checkout it runs from, recorded in every result."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

__version__ = "0.2.0"


@cache
def git_revision() -> str | None:
    """The commit of the source checkout cer runs from (with `-dirty` when edited), or None
    when it runs from an installed wheel or git is missing."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        described = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return described.stdout.strip() or None


def version_text() -> str:
    """`0.2.0`, or `0.2.0 (git 1a2b3c4d5e6f)` from a checkout."""
    revision = git_revision()
    return f"{__version__} (git {revision})" if revision else __version__
