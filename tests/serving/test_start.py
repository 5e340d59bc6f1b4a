"""Starting on a data folder: nothing the store does not know is deleted (a lost or 0-byte
store beside job folders stops the start instead), cut-off uploads are cleared, and a data
folder that cannot be used (corrupt store, read-only, in use, a bad token) is one line from
`cer serve`, exit 2, without a traceback and without the token."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from cer.serving.client import free_port
from cer.serving.data_dir import STORE_NAME, StartError, open_job_files, open_store, recover
from cer.serving.service import Service
from cer.serving.settings import Settings
from cer.serving.store import NewJob
from tests.serving.live import RunningServer, threaded_server
from tests.serving.small_disk import small_disk


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under `folder`, and its size."""
    return {str(path.relative_to(folder)): path.stat().st_size for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def finished_jobs(tmp_path_factory: pytest.TempPathFactory, silent_clip: Path) -> Settings:
    """A data folder in which a real server ran two jobs to the end."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("serve"), profile="tiny", concurrency=1)
    with threaded_server(settings) as server, server.client() as api:
        ids = [api.submit(silent_clip).json()["id"] for _ in range(2)]
        assert [api.wait(job_id)["status"] for job_id in ids] == ["done", "done"]
    return settings


@pytest.mark.parametrize("store", ["0-byte", "missing"])
def test_a_lost_store_beside_job_folders_stops_the_start(finished_jobs: Settings, store: str) -> None:
    data_dir = finished_jobs.data_dir
    for name in (f"{STORE_NAME}-wal", f"{STORE_NAME}-shm"):
        (data_dir / name).unlink(missing_ok=True)
    if store == "0-byte":
        (data_dir / STORE_NAME).write_bytes(b"")
    else:
        (data_dir / STORE_NAME).unlink(missing_ok=True)
    before = snapshot(data_dir / "jobs")
    assert sum(name.endswith("result.json") for name in before) == 2

    with pytest.raises(StartError, match=r"holds no jobs, but .* holds 2 job folder\(s\)"):
        Service.open(finished_jobs)
    assert snapshot(data_dir / "jobs") == before  # every video and result still there


def test_start_up_removes_only_cut_off_uploads(tmp_path: Path) -> None:
    store, files = open_store(tmp_path), open_job_files(tmp_path)
    queued = NewJob(str(uuid.uuid4()), "clip.mp4", "video/mp4", 10, 1.0, None)
    store.add(queued, capacity=10)
    files.create(queued.id)
    files.video(queued.id).write_bytes(b"a queued job's video")
    cut_off, unknown = str(uuid.uuid4()), str(uuid.uuid4())
    files.create(cut_off)
    files.upload(cut_off).write_bytes(b"half an upl")
    files.create(unknown)
    files.video(unknown).write_bytes(b"a video the store does not know")
    (files.root / "notes.txt").write_text("the operator's")
    (files.root / "backup").mkdir()

    recover(store, files)
    assert sorted(entry.name for entry in files.root.iterdir()) == sorted([queued.id, unknown, "notes.txt", "backup"])
    store.close()


def cer_serve(data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cer", "serve", "--profile", "tiny", "--data-dir", str(data_dir), "--port", str(port or free_port())]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def assert_one_line_exit_2(run: subprocess.CompletedProcess[str], *words: str) -> str:
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    for word in words:
        assert word in output, output
    return output


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a database\n" * 50)


def _foreign_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (name TEXT)")  # another program's table of the same name


@pytest.mark.parametrize("make_store", [_garbage, _foreign_database], ids=["garbage", "foreign"])
def test_a_corrupt_store_is_one_line(tmp_path: Path, make_store: Callable[[Path], object]) -> None:
    make_store(tmp_path / STORE_NAME)
    assert_one_line_exit_2(cer_serve(tmp_path), f"{tmp_path / STORE_NAME}: not a sound cer job store")


def test_a_second_server_on_the_same_data_is_one_line(server: RunningServer) -> None:
    assert_one_line_exit_2(cer_serve(server.settings.data_dir), "another cer serve is using")


def test_a_read_only_data_folder_is_one_line(tmp_path: Path) -> None:
    with small_disk(tmp_path, read_only=True) as disk:
        assert_one_line_exit_2(cer_serve(disk.path), "server.lock: cannot be created (Read-only file system)")


def test_a_refused_token_is_never_printed(tmp_path: Path) -> None:
    token = "short-secret"
    run = cer_serve(tmp_path, env={**os.environ, "CER_API_TOKEN": token})
    assert token not in assert_one_line_exit_2(run, "CER_API_TOKEN: must be at least 16 characters")


def test_a_port_in_use_is_one_line_before_any_model_loads(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = cer_serve(tmp_path, port=port)
    assert run.returncode == 3, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"cer: error: 127.0.0.1:{port} is in use by another program; choose another port with --port"
    ]
    assert not (tmp_path / STORE_NAME).exists()  # refused before the data folder was opened
