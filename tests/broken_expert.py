"""Test-only experts that fail on purpose: one failing expert must never end a run, and a
model that cannot load must end it loudly."""

import os
from pathlib import Path

from cer.core.config import ExpertConfig
from cer.core.types import Chunk, ExpertOutput
from cer.modalities.base import Expert


class BrokenExpert(Expert):
    name = "broken"

    @property
    def model_id(self) -> str:
        return "broken-on-purpose"

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        raise RuntimeError("deliberate failure")


class CrashingExpert(BrokenExpert):
    """Kills its own process, as a segfault in a native library would: only a Ray actor,
    which Ray restarts, survives this."""

    name = "crashing"

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        os._exit(1)


class UnloadableExpert(BrokenExpert):
    """Its model cannot be loaded: the run must fail loudly, as it would in process."""

    name = "unloadable"

    def __init__(self, config: ExpertConfig, cache_dir: Path) -> None:
        raise FileNotFoundError("weights of the unloadable expert are missing on purpose")
