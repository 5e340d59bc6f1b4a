"""A test-only expert that always fails, to check that one failing expert never ends a run."""

from modalities.base import Expert
from pipeline.types import Chunk, ExpertOutput


class BrokenExpert(Expert):
    name = "broken"

    @property
    def model_id(self) -> str:
        return "broken-on-purpose"

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        raise RuntimeError("deliberate failure")
