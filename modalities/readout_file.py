"""A text head's read-out fitted on real texts, shipped in the package as one `.npz` file that
also carries where it came from.

The file holds exactly `weights` [dims, classes], `bias` [classes], `temperature` (a scalar),
`classes` (the BASIC names of the columns) and `provenance` (a JSON object: the data it was
fitted on, that data's licence, the command that rebuilt it, the figures chosen). Anything
missing or extra is a `ModelLoadError` naming the file and the keys, as for any checkpoint:
a read-out half read would score every text wrongly and quietly.

The provenance is read from the file itself wherever it is shown (the head's status note,
docs/models.md points here), so it cannot drift from the weights.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from cer.core.labels import BASIC
from cer.modalities.loading import ModelLoadError
from cer.modalities.readout import Readout

_KEYS = frozenset({"weights", "bias", "temperature", "classes", "provenance"})


@dataclass(frozen=True)
class ShippedReadout:
    """A read-out, the BASIC classes of its columns, and its provenance."""

    readout: Readout
    class_names: tuple[str, ...]
    provenance: Mapping[str, Any]


def packaged_readout_path(name: str) -> Path:
    """Where a read-out shipped with cer lies (`modalities/heads/NAME.npz`)."""
    return Path(str(files("cer.modalities") / "heads" / f"{name}.npz"))


def save_readout(path: Path, shipped: ShippedReadout) -> None:
    """Write `shipped` to `path`; `load_readout` reads back the same arrays and provenance."""
    np.savez(
        path,
        weights=shipped.readout.weights,
        bias=shipped.readout.bias,
        temperature=np.float64(shipped.readout.temperature),
        classes=np.array(shipped.class_names),
        provenance=np.array(json.dumps(dict(shipped.provenance), indent=1, sort_keys=True)),
    )


def load_readout(path: Path) -> ShippedReadout:
    """The read-out in `path`, strictly: exactly the expected arrays, of fitting shapes."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not read the text head's read-out {path}: {exc}") from exc
    missing, unexpected = sorted(_KEYS - arrays.keys()), sorted(arrays.keys() - _KEYS)
    if missing or unexpected:
        raise ModelLoadError(f"the text head's read-out {path} does not fit: missing {missing}, unexpected {unexpected}")
    weights, bias = arrays["weights"].astype(np.float64), arrays["bias"].astype(np.float64)
    class_names = tuple(str(name) for name in arrays["classes"])
    unknown = [name for name in class_names if name not in BASIC]
    if weights.ndim != 2 or bias.shape != (weights.shape[1],) or len(class_names) != weights.shape[1] or unknown:
        raise ModelLoadError(
            f"the text head's read-out {path} does not fit: weights {weights.shape}, bias {bias.shape}, "
            f"classes {list(class_names)} (not BASIC names: {unknown})"
        )
    readout = Readout(weights, bias, float(arrays["temperature"]))
    return ShippedReadout(readout, class_names, json.loads(str(arrays["provenance"])))
