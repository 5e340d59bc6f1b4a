"""`cer` run as a user runs it: a fresh Python process, its output captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def cer(*args: object, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cer", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, input=stdin, timeout=600, env=env)


def profile_file(tmp_path_factory: pytest.TempPathFactory, text: str, name: str = "fast") -> Path:
    """A profile in a file of its own, for a `cer` subprocess to run with."""
    path = tmp_path_factory.mktemp("profile") / f"{name}.yaml"
    path.write_text(text)
    return path
