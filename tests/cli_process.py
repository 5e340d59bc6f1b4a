"""`cer` run as a user runs it: a fresh Python process, its output captured."""

from __future__ import annotations

import subprocess
import sys


def cer(*args: object, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cer", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, input=stdin, timeout=600, env=env)
