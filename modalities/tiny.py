"""`cer models make-tiny`: miniature random-weight copies of the default profile's models.

Each builder writes a model of exactly the class the default profile loads, in the same
on-disk format, so that the `tiny` profile exercises the real loading code with no download.
"""

from __future__ import annotations

import hashlib
import inspect
import shutil
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path

BUILDER_STAMP = ".builder"  # the digest of the builder that made the folder

# tiny model name (as in `tiny:NAME` sources) -> "module:builder(target_dir)"
TINY_BUILDERS: dict[str, str] = {
    "static_face": "cer.modalities.static_face:build_tiny_static_face",
    "dynamic_face": "cer.modalities.dynamic_face:build_tiny_dynamic_face",
    "speech_emotion": "cer.modalities.speech_emotion:build_tiny_speech_emotion",
    "whisper": "cer.modalities.asr:build_tiny_whisper",
    "text_emotion": "cer.modalities.text_emotion:build_tiny_text_emotion",
    "clip": "cer.modalities.clip_labels:build_tiny_clip",
    "scene": "cer.modalities.scene:build_tiny_scene",
}


def _builder(target: str) -> Callable[[Path], None]:
    module_name, function_name = target.split(":")
    return getattr(import_module(module_name), function_name)


def builder_digest(builder: Callable[[Path], None]) -> str:
    """A hash of the source of the builder's module (the builder and the layout constants and
    helpers beside it): a model built by another version (a changed layout) is rebuilt rather
    than taken from the cache."""
    return hashlib.sha256(inspect.getsource(inspect.getmodule(builder) or builder).encode()).hexdigest()[:16]


def make_tiny(cache_dir: Path, force: bool = False, names: Iterable[str] | None = None) -> list[Path]:
    """Build every tiny model missing under `cache_dir/tiny`, or built by another version of
    its builder (all of them with `force`), or only those `names` (a test needs only its expert's)."""
    built = []
    for name in TINY_BUILDERS if names is None else names:
        builder = _builder(TINY_BUILDERS[name])
        folder = cache_dir / "tiny" / name
        stamp = folder / BUILDER_STAMP
        if folder.exists() and not force and stamp.is_file() and stamp.read_text() == builder_digest(builder):
            continue
        staging = folder.with_name(name + ".partial")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        builder(staging)
        (staging / BUILDER_STAMP).write_text(builder_digest(builder))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        built.append(folder)
    return built
