"""`cer serve` with the Ray engine: the server holds the Ray session its pipelines share, and
a job runs on expert actors. (Ray's processes die with the thread that started them, so the
session must come from the server's main thread, not from a worker's.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from cer.serving.client import Client, local_server

ONE_EXPERT = Path(__file__).with_name("one_expert.yaml")


@pytest.mark.slow
def test_a_job_runs_on_ray_actors(tmp_path: Path, silent_clip: Path) -> None:
    profile = tmp_path / "one_expert_ray.yaml"
    profile.write_text(f"extends: {ONE_EXPERT}\nexecution: {{engine: ray}}\n")
    with local_server(tmp_path / "serve", str(profile), {"CER_CONCURRENCY": "2"}) as server, Client(server.url) as api:
        assert api.wait_ready()["engine"] == "ray"
        ids = [api.submit(silent_clip).json()["id"] for _ in range(2)]
        assert [api.wait(job_id)["status"] for job_id in ids] == ["done", "done"]
