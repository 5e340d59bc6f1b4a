"""A server killed (SIGKILL) while jobs are queued and running, then started again on the
same data folder: every job finishes, none is lost, none runs to completion twice."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from bench.proctree import descendants
from cer.pipeline.demo import write_clip
from cer.serving.client import Client, local_server

JOBS = 4
PROFILE = str(Path(__file__).with_name("one_expert.yaml"))  # what the experts say does not matter here
ENV = {"CER_CONCURRENCY": "1", "CER_MAX_QUEUE": "10"}  # one at a time: the others wait in the queue


def _states(data_dir: Path) -> dict[str, dict[str, object]]:
    """Each job's row, read straight from the store (as a crash left it)."""
    with sqlite3.connect(data_dir / "jobs.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return {row["id"]: dict(row) for row in db.execute("SELECT id, status, attempts, completions FROM jobs")}


def _wait_for_running_after_done(api: Client, ids: list[str], timeout_s: float = 300) -> None:
    """Until one job is done and another is running: the moment to pull the plug."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        statuses = [api.job(job_id)["status"] for job_id in ids]
        if "done" in statuses and "running" in statuses:
            return
        time.sleep(0.05)
    raise TimeoutError(f"never saw a done and a running job at once: {statuses}")


@pytest.mark.slow
def test_jobs_survive_a_killed_server(tmp_path: Path, silent_clip: Path) -> None:
    data_dir = tmp_path / "serve"
    with local_server(data_dir, PROFILE, ENV) as server, Client(server.url) as api:
        ids = [api.submit(silent_clip).json()["id"] for _ in range(JOBS)]
        _wait_for_running_after_done(api, ids)
        server.process.kill()
        server.process.wait()
    at_kill = _states(data_dir)
    statuses = [state["status"] for state in at_kill.values()]
    assert "running" in statuses and "queued" in statuses, statuses
    result_json = {job_id: data_dir / "jobs" / job_id / "out" / "result.json" for job_id in ids}
    first_done = [job_id for job_id, state in at_kill.items() if state["status"] == "done"]
    result_stamps = {job_id: result_json[job_id].stat().st_mtime_ns for job_id in first_done}
    # killed after writing its results but before the store heard: found done at restart
    cut_after_results = {job_id for job_id, state in at_kill.items() if state["status"] == "running" and result_json[job_id].exists()}

    with local_server(data_dir, PROFILE, ENV) as server, Client(server.url) as api:
        finished = {job_id: api.wait(job_id, timeout_s=600) for job_id in ids}

    assert {job_id: job["status"] for job_id, job in finished.items()} == dict.fromkeys(ids, "done")
    after = _states(data_dir)
    assert {job_id: state["completions"] for job_id, state in after.items()} == dict.fromkeys(ids, 1)
    for job_id in first_done:  # finished before the kill: not run again
        assert after[job_id]["attempts"] == 1
        assert result_json[job_id].stat().st_mtime_ns == result_stamps[job_id]
    for job_id, state in at_kill.items():
        if state["status"] == "running":  # cut off: started again from the queue, unless its results were written
            assert after[job_id]["attempts"] == (1 if job_id in cut_after_results else 2)


def _expert_statuses(result_json: Path) -> dict[str, str]:
    return {name: expert["status"] for name, expert in json.loads(result_json.read_text())["experts"].items()}


@pytest.mark.slow
def test_a_killed_raylet_leaves_no_half_done_job_and_the_restart_completes_them(tmp_path: Path) -> None:
    """Ray's raylet killed mid-job (issue 21, item 6): the server exits for its supervisor and
    records no job done with an expert missing; started again, it runs the cut-off job whole."""
    rng = np.random.default_rng(0)
    frames = lambda t: rng.integers(90, 110, size=(120, 160, 3), dtype=np.uint8)  # noqa: E731
    clip = write_clip(tmp_path / "long.mp4", frames, duration_s=20.0, fps=10)
    profile = tmp_path / "one_expert_ray.yaml"
    profile.write_text(f"extends: {PROFILE}\nexecution: {{engine: ray}}\n")
    data_dir = tmp_path / "serve"
    with local_server(data_dir, str(profile), ENV) as server, Client(server.url) as api:
        api.wait_ready()
        ids = [api.submit(clip).json()["id"] for _ in range(2)]
        deadline = time.monotonic() + 120
        while api.job(ids[0])["progress"]["windows_done"] == 0:
            assert time.monotonic() < deadline, "the first job never started"
            time.sleep(0.05)
        tree = descendants(server.process.pid)
        [raylet] = [proc.pid for proc in tree if Path(f"/proc/{proc.pid}/comm").read_text().strip() == "raylet"]
        os.kill(raylet, signal.SIGKILL)
        assert server.process.wait(60) != 0
    # Ray's workers normally end with their raylet; now and then one outlives it (Ray's doing,
    # noted in docs/service.md): ended here so that it holds no memory for the tests after.
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{proc.pid}").exists() for proc in tree) and time.monotonic() < deadline:
        time.sleep(0.5)
    for proc in tree:
        with contextlib.suppress(OSError):  # gone meanwhile
            if b"ray" in Path(f"/proc/{proc.pid}/cmdline").read_bytes():  # still Ray's, not a reused pid
                os.kill(proc.pid, signal.SIGKILL)
    result_json = {job_id: data_dir / "jobs" / job_id / "out" / "result.json" for job_id in ids}
    at_kill = _states(data_dir)
    for job_id in ids:
        if at_kill[job_id]["status"] == "done":
            assert set(_expert_statuses(result_json[job_id]).values()) == {"ok"}
    # the job under way is cut off: still marked running (Ray ended the server at once), or back
    # in the queue (the server met the fault first); done only if it ended whole before the kill
    assert at_kill[ids[1]]["status"] in ("running", "queued")

    with local_server(data_dir, str(profile), ENV) as server, Client(server.url) as api:
        assert [api.wait(job_id, timeout_s=300)["status"] for job_id in ids] == ["done", "done"]
    assert all(set(_expert_statuses(result_json[job_id]).values()) == {"ok"} for job_id in ids)
    assert {job_id: state["completions"] for job_id, state in _states(data_dir).items()} == dict.fromkeys(ids, 1)
