"""Where the experts' models run: `auto`, `cpu`, `cuda` or `cuda:N`.

A device is checked on the machine before any model loads (`check_device`), so that asking for a
GPU that is not there is one line naming what is there, not a CUDA traceback from inside an
expert. `resolve_device` turns the request into the torch device an expert uses, always with its
index (`cuda:0`), which is what result.json records.
"""

from __future__ import annotations

import re

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"  # the values a profile, `--device` and CER_DEVICE accept


def is_cuda(device: str) -> bool:
    """Whether `device` (as requested or resolved) is a CUDA GPU."""
    return device.startswith("cuda")


def cuda_index(device: str) -> int | None:
    """The GPU index `cuda:N` names, or None for plain `cuda` (the current GPU) and non-GPU devices."""
    _, _, index = device.partition(":")
    return int(index) if is_cuda(device) and index else None


def check_device(requested: str) -> None:
    """Raise ValueError, naming the problem and what this machine has, when `requested` cannot be used here."""
    if not re.fullmatch(DEVICE_PATTERN, requested):
        raise ValueError(f"device {requested!r} is not one of auto, cpu, cuda, cuda:N")
    if not is_cuda(requested):
        return
    import torch  # deferred: only a GPU request needs it

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"device {requested}: no CUDA GPU is visible here (torch {torch.__version__}, {built}); use cpu or auto")
    index = cuda_index(requested)
    if index is not None and index >= count:
        raise ValueError(f"device {requested}: this machine has {count} visible GPU(s), cuda:0 to cuda:{count - 1}")


def resolve_device(requested: str) -> str:
    """The torch device for `requested`: `auto` is the current GPU when one is visible, else the
    CPU; a GPU always comes with its index (`cuda` -> `cuda:0`)."""
    if requested == "cpu":
        return "cpu"
    import torch

    if requested == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        requested = "cuda"
    check_device(requested)
    index = cuda_index(requested)
    return f"cuda:{torch.cuda.current_device() if index is None else index}"
