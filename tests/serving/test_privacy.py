"""The data folder of `cer serve` is its owner's alone: faces, voices and transcripts are not
readable by other local users (issue 21, item 8)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cer.serving.client import Client, local_server

ONE_EXPERT = Path(__file__).with_name("one_expert.yaml")


@pytest.mark.slow
def test_every_file_the_server_writes_is_private(tmp_path: Path, silent_clip: Path) -> None:
    data_dir = tmp_path / "serve"
    data_dir.mkdir(mode=0o755)  # made by someone else, readable by all: the server closes it
    with local_server(data_dir, str(ONE_EXPERT)) as server, Client(server.url) as api:
        response = api.submit(silent_clip)
        assert response.status_code == 202, response.text
        assert api.wait(response.json()["id"])["status"] == "done"
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    written = [path for path in data_dir.rglob("*") if path != server.log]  # the log is the test's own file
    assert any(path.name == "result.json" for path in written) and any(path.suffix == ".sqlite3" for path in written)
    shared = {str(path.relative_to(data_dir)): oct(stat.S_IMODE(path.stat().st_mode)) for path in written if path.stat().st_mode & 0o077}
    assert not shared, shared
