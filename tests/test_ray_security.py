"""The Ray that cer starts: reachable from the network only with its token, and its own
instance even where another cluster's marker is left on the machine (issue 21, items 0 and 11);
a named cluster that does not answer is reported in one line within a bounded wait (item 10).
Only loopback is ever dialled, and only by cer's own check (Ray would rewrite 127.0.0.1 to the
machine's network address)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cer.pipeline.ray_runtime import RayUnreachable, check_reachable
from tests.cli_process import cer


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


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (refuses connections at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that never completes a connection: a listener that accepts none, its
    one-place backlog already taken, so that the kernel drops further handshakes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # takes the backlog's place
            yield port


def test_a_cluster_address_that_refuses_is_one_line_at_once(closed_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(RayUnreachable, match=f"the Ray cluster at 127.0.0.1:{closed_port} cannot be reached: Connection refused"):
        check_reachable(f"127.0.0.1:{closed_port}")
    assert time.monotonic() - started < 5


def test_a_cluster_address_that_never_answers_is_given_up_after_a_bounded_wait(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(RayUnreachable, match="did not answer within 1 s"):
        check_reachable(f"ray://127.0.0.1:{silent_port}", timeout_s=1.0)
    assert time.monotonic() - started < 5


def test_cer_run_names_the_unreachable_cluster_before_any_work(closed_port: int, silent_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = cer("run", silent_clip, "--out", out, "--profile", "tiny", "--engine", "ray", "--ray-address", f"127.0.0.1:{closed_port}")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    refused = f"the Ray cluster at 127.0.0.1:{closed_port} cannot be reached: Connection refused"
    assert run.stderr.strip().splitlines()[-1] == f"cer: error: {refused}"
    assert not out.exists()
