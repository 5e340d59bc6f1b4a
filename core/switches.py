"""On/off switches read from the environment (CER_OFFLINE, HF_HUB_OFFLINE, CER_VERBOSE, CER_QUIET): set
by the CLI's flags or by the user, and inherited by the processes cer starts (Ray workers)."""

from __future__ import annotations

import os

QUIET = "CER_QUIET"  # no progress and no notes on stderr: errors and warnings only
DEBUG = "CER_DEBUG"  # errors with their traceback, instead of one line


def switched_on(name: str) -> bool:
    """Whether the variable `name` says yes (1, true, yes or on, in any case)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
