"""Shared fixtures: the real media of ../shared/data and generated clips."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test media not found at {SHARED_DATA} (a clone outside the workplace has no ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s: the packaged smiling face for 3 s, then sky; synthesised speech at the start."""
    from cer.pipeline.demo import build_demo_clip

    return build_demo_clip(tmp_path_factory.mktemp("clips") / "demo.mp4", duration_s=5.0, face_until_s=3.0)


@pytest.fixture(scope="session")
def silent_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of moving grey noise with no audio track."""
    from cer.pipeline.demo import write_clip

    rng = np.random.default_rng(0)
    return write_clip(
        tmp_path_factory.mktemp("clips") / "silent.mp4",
        lambda t: rng.integers(90, 110, size=(120, 160, 3), dtype=np.uint8),
        duration_s=3.0,
        fps=10,
    )


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """One embedded Ray for a test module (starting Ray takes seconds); after the module it is
    shut down, and no process it started may be left."""
    from bench.proctree import descendants
    from cer.pipeline.ray_runtime import ray_session

    with ray_session():
        yield
    deadline = time.monotonic() + 30  # Ray's helpers take a moment to exit after shutdown
    while descendants(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not descendants(os.getpid()), f"Ray left processes behind: {descendants(os.getpid())}"
