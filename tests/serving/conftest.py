"""The live server shared by the HTTP tests (they upload `silent_clip`, the cheapest video the
pipeline runs through: 3 s of grey noise, no face, no audio), and `hevc_clip`, a video
browsers cannot play."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cer.serving.client import Client
from cer.serving.settings import Settings
from tests.serving.hevc import write_hevc_mov
from tests.serving.live import LIMITS, TOKEN, RunningServer, threaded_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("serve"), profile="tiny", api_token=TOKEN, **LIMITS)
    with threaded_server(settings) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with server.client() as api:
        yield api


@pytest.fixture(scope="session")
def hevc_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of HEVC / AAC in .mov, 1280 x 960: larger than the browser's copy (720p)."""
    return write_hevc_mov(tmp_path_factory.mktemp("hevc") / "IMG_0001.MOV", 1280, 960, duration_s=3.0)
