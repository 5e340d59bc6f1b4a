"""Other libraries' chatter on stderr, silenced unless the user asks for it (`cer --verbose`,
or CER_VERBOSE=1): TFLite's "INFO: Created TensorFlow Lite XNNPACK delegate", transformers'
"Loading weights" bars and INFO lines. cer's own lines and progress are not affected.

Like `--offline`, the switches are environment variables, so that the processes cer starts
(Ray workers) inherit them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from cer.core.switches import switched_on

VERBOSE_VARIABLE = "CER_VERBOSE"

# Read by the libraries when they are imported, which happens later (experts import them
# lazily). A value the user set already wins.
_QUIET_ENVIRONMENT = {
    # Every Hugging Face bar, transformers' "Loading weights" among them; cer's own downloads
    # keep theirs, because they pass their own bar class (cer.core.progress).
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


def verbose() -> bool:
    return switched_on(VERBOSE_VARIABLE)


def allow_chatter() -> None:
    """`cer --verbose`: let every library speak, here and in the processes started from here,
    even where a quiet `cer` higher up the process tree left its switches behind."""
    os.environ[VERBOSE_VARIABLE] = "1"
    for name, value in _QUIET_ENVIRONMENT.items():
        if os.environ.get(name) == value:
            del os.environ[name]


def quiet_third_parties() -> None:
    """Turn the libraries' INFO output and bars off for this process and its children."""
    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@contextmanager
def native_stderr_muted() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block, unless verbose: native code (TFLite)
    writes its INFO lines there, out of reach of Python's logging and of `sys.stderr`. Only for
    short calls: anything else written to stderr meanwhile is lost too."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to mute
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
