"""Strict loading: every weight a checkpoint holds is used, and every parameter comes from it.

transformers and open_clip only log a warning for a weight that does not fit and go on with a
model part of which is random (the speech-emotion model was loaded that way for a long time:
its whole head was noise). Here a missing key (a parameter the file does not hold, which the
library would initialise at random), an unexpected key (a weight the model does not use) or
a shape mismatch is a `ModelLoadError` naming the model, the file and the first keys.

`KNOWN_UNUSED` allows, per model family, the keys known to be stored and unused; each entry
says why. Nothing else is tolerated.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SHOWN_KEYS = 5  # keys named in an error; the count says how many more there are


class ModelLoadError(RuntimeError):
    """A checkpoint that does not fit its model exactly (or cannot be read at all)."""


@dataclass(frozen=True)
class UnusedKey:
    """Keys (a regular expression over the whole key) a checkpoint may hold without the model using them."""

    pattern: str
    reason: str

    def matches(self, key: str) -> bool:
        return re.fullmatch(self.pattern, key) is not None


# Model family -> keys its published checkpoints hold and the model rightly does not use.
KNOWN_UNUSED: Mapping[str, tuple[UnusedKey, ...]] = {
    "text_emotion": (
        UnusedKey(
            r"(roberta|bert|model)\.embeddings\.position_ids",
            "a constant index buffer that transformers 4.x saved with the weights; it is rebuilt, never learnt",
        ),
    ),
    "sentence_embedder": (
        UnusedKey(r"(\w+\.)?embeddings\.position_ids", "a constant index buffer saved with older checkpoints; rebuilt, never learnt"),
    ),
}


def key_problems(missing: Iterable[str], unexpected: Iterable[str], mismatched: Iterable[str], family: str) -> list[str]:
    """What keeps a load from being exact, one phrase per kind of problem (empty: exact)."""
    allowed = KNOWN_UNUSED.get(family, ())
    unused = sorted(key for key in unexpected if not any(rule.matches(key) for rule in allowed))
    problems = []
    for what, keys in (
        ("missing from the file (the model would start them at random)", sorted(missing)),
        ("in the file but not in the model", unused),
        ("of another shape than the model's", sorted(mismatched)),
    ):
        if keys:
            shown = ", ".join(keys[:_SHOWN_KEYS]) + (f" and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else "")
            problems.append(f"{len(keys)} key(s) {what}: {shown}")
    return problems


def check_keys(
    model: str, file: Path | str, missing: Iterable[str], unexpected: Iterable[str], mismatched: Iterable[str] = (), family: str = ""
) -> None:
    """Raise `ModelLoadError` unless the keys fit exactly (up to `KNOWN_UNUSED[family]`)."""
    problems = key_problems(missing, unexpected, mismatched, family)
    if problems:
        raise ModelLoadError(f"{model} does not load exactly from {file}: " + "; ".join(problems))


def load_state_strictly(module: Any, state: Mapping[str, Any], model: str, file: Path | str, family: str = "") -> None:
    """`module.load_state_dict(state)` with the key check above (torch's own strict mode
    raises too, but cannot allow a known-unused key and names the file nowhere)."""
    expected = module.state_dict()
    mismatched = [key for key, value in state.items() if key in expected and tuple(value.shape) != tuple(expected[key].shape)]
    unexpected = [key for key in state if key not in expected]
    check_keys(model, file, [key for key in expected if key not in state], unexpected, mismatched, family)
    module.load_state_dict({key: value for key, value in state.items() if key in expected}, strict=True)


def from_pretrained_strictly(cls: Any, path: Path, model: str, family: str = "", **kwargs: Any) -> Any:
    """`cls.from_pretrained(path)` (local files only) that raises `ModelLoadError` unless every
    weight of the folder's checkpoint is used and every parameter came from it."""
    try:
        loaded, info = cls.from_pretrained(str(path), local_files_only=True, output_loading_info=True, **kwargs)
    except (OSError, ValueError, RuntimeError) as exc:  # transformers raises these for unreadable or ill-shaped files
        raise ModelLoadError(f"could not load {model} from {path}: {exc}") from exc
    check_keys(
        model,
        weights_name(path),
        info.get("missing_keys", ()),
        info.get("unexpected_keys", ()),
        [key if isinstance(key, str) else key[0] for key in info.get("mismatched_keys", ())],
        family,
    )
    if info.get("error_msgs"):
        raise ModelLoadError(f"{model} from {path}: " + "; ".join(info["error_msgs"]))
    return loaded


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def weights_name(folder: Path) -> Path:
    """The weights file (or shard index) a transformers folder loads from, for messages."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return folder


def checkpoint_keys(folder: Path) -> Collection[str]:
    """The key names of a transformers folder's weights, read without loading the tensors
    (safetensors headers, or a memory-mapped torch file)."""
    import json

    for name in WEIGHT_FILES:
        file = folder / name
        if not file.is_file():
            continue
        if name.endswith(".index.json"):
            return set(json.loads(file.read_text())["weight_map"])
        if name.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(str(file), framework="pt") as handle:
                return set(handle.keys())
        import torch

        return set(torch.load(file, map_location="cpu", weights_only=True, mmap=True))
    raise ModelLoadError(f"{folder} holds no weights file ({', '.join(WEIGHT_FILES)})")
