"""Atomic file writes shared by every output writer.

Readers (the HTTP service, a batch run resuming after a crash) must never see a half-written
file, so each file is written under a temporary name in the same folder and then renamed over
the target: a rename within one file system is atomic.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; on success it replaces `path`.

    If the block raises, the temporary file is removed and `path` is left as it was.
    Text mode is UTF-8 with newline="" so that the csv module controls line endings.
    """
    path = Path(path)
    # A random suffix rather than mkstemp: mode "x" still refuses to clobber, and the file gets
    # the usual umask-derived permissions instead of mkstemp's 0600.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    text_options: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
    try:
        with open(tmp, "xb" if binary else "x", **text_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
