"""The live server shared by the HTTP tests (they upload `silent_clip`, the cheapest video the
pipeline runs through: 3 s of grey noise, no face, no audio)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cer.serving.client import Client
from cer.serving.settings import Settings
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
