"""The Ray that cer starts: reachable from the network only with its token, and its own
instance even where another cluster's marker is left on the machine (issue 21, items 0 and 11)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ss") is None, reason="needs `ss` to list listening sockets")
def test_embedded_ray_requires_its_token_and_ignores_a_stale_cluster_marker() -> None:
    probe = subprocess.run([sys.executable, "-m", "tests.ray_probe"], capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]  # it started despite the marker of a cluster that is not there
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert report["sockets"], "Ray listens on the network: the check below must see those sockets"
    servers = [socket for socket in report["sockets"] if socket["process"] in ("gcs_server", "raylet")]
    assert servers and all(socket["auth_mode"] == "token" for socket in servers), report["sockets"]
    assert report["intruder_rc"] != 0 and "Authentication" in report["intruder_error"], report["intruder_error"]
