"""The zero-shot text heads' fitted read-outs, kept on disk between runs.

Fitting a head embeds every example and calibration sentence of its kind and solves a
logistic regression: about 15 s on two cores, which every `cer run` paid at start-up for an
answer that changes only when its inputs do. The key hashes those inputs: the embedder's files,
the sentences and settings of the kind, the source of the fitting code, and what sets the
numerics (torch's version, the kind of device). A stored file that cannot be read is fitted
again, never trusted; a cache folder that cannot be written costs the fit, not the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cer.core.devices import is_cuda
from cer.core.hashing import file_sha256
from cer.modalities.readout import Readout

if TYPE_CHECKING:
    from cer.modalities.text_kinds import TextKindExamples

log = logging.getLogger(__name__)

READOUT_FOLDER = "text-readouts"  # under the model cache


def readout_key(embedder: Path, examples: TextKindExamples, code: Sequence[Path], device: str) -> str:
    """The hex key of the read-out fitted on `examples` with the embedder in folder `embedder`
    by the source files `code` (the features and the fit), on `device`."""
    import torch

    inputs = {
        "embedder": {str(file.relative_to(embedder)): file_sha256(file) for file in sorted(embedder.rglob("*")) if file.is_file()},
        "examples": dataclasses.asdict(examples),
        "code": [file_sha256(path) for path in code],
        "torch": torch.__version__,
        "device": "cuda" if is_cuda(device) else device,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def cached_readout(folder: Path, key: str, fit: Callable[[], Readout]) -> Readout:
    """The read-out stored under `key` in `folder`, else `fit()`'s, stored there for next time."""
    path = folder / f"{key}.npz"
    try:
        with np.load(path) as stored:
            return Readout(stored["weights"], stored["bias"], float(stored["temperature"]))
    except (OSError, KeyError, ValueError):  # not stored yet, or a file that is not a read-out
        pass
    readout = fit()
    part = path.with_name(f"{path.name}.{os.getpid()}.part")  # several processes may fit at once
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as handle:
            np.savez(handle, weights=readout.weights, bias=readout.bias, temperature=readout.temperature)
        os.replace(part, path)
    except OSError as exc:
        log.warning("could not keep the fitted text read-out in %s (%s); the next run fits it again", folder, exc)
        with contextlib.suppress(OSError):  # nothing was written, or it cannot be removed either
            part.unlink()
    return readout
