"""A bounded schemathesis run against the OpenAPI document: generated requests to every
operation, valid and not, and not one answered with a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving.live import TOKEN, RunningServer

CLI = Path(sys.executable).with_name("schemathesis")
BUDGET_S = 30  # the whole run's time budget; fuzzing stops when it is spent


@pytest.mark.slow
def test_no_server_errors(server: RunningServer, tmp_path: Path) -> None:
    pytest.importorskip("schemathesis", reason="schemathesis is not installed")
    if not CLI.is_file():
        pytest.skip(f"the schemathesis command is not at {CLI}")
    command = [
        str(CLI), "run", f"{server.url}/openapi.json",
        "--checks", "not_a_server_error",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--max-examples", "10",
        "--max-time", str(BUDGET_S),
        "--seed", "0",
        "--workers", "1",
        "--generation-database", "none",
        "--no-color",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=BUDGET_S * 4)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
