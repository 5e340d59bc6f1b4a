"""The one failure of the engine that runs the experts, shared by every layer that meets it:
the executors raise it, the CLI, the batch driver and the service answer it."""

from __future__ import annotations

# Runs of one video that faults outside it may cut off (the engine's, or the server's own crash)
# before it counts as failed: a fault that passes is survived, a video that brings the engine
# or the server down every time does not do so for ever. The service and `cer batch` both hold to it.
MAX_RUNS = 3


class EngineFault(RuntimeError):
    """The engine that runs the experts failed, not the video: an expert's Ray actor died for
    good, or Ray itself went away. The run stops instead of giving a result with that expert's
    windows absent (a half result that looks whole); run the video again once the engine is
    back (`ExpertPool.revive`)."""

    def __init__(self, expert: str, cause: str) -> None:
        super().__init__(f"the {expert} expert's engine failed: {cause}")
        self.expert = expert
        self.cause = cause

    def __reduce__(self) -> tuple[type[EngineFault], tuple[str, str]]:
        # raised in a Ray worker, it is pickled to reach the driver; the default would call
        # __init__ with the message alone
        return EngineFault, (self.expert, self.cause)
