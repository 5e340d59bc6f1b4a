"""`cer models make-tiny`: miniature random-weight copies of the default profile's models.

Each builder writes a model of exactly the class the default profile loads, in the same
on-disk format, so that the `tiny` profile exercises the real loading code with no download.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path

# tiny model name (as in `tiny:NAME` sources) -> "module:builder(target_dir)"
TINY_BUILDERS: dict[str, str] = {
    "static_face": "cer.modalities.static_face:build_tiny_static_face",
    "dynamic_face": "cer.modalities.dynamic_face:build_tiny_dynamic_face",
    "speech_emotion": "cer.modalities.audio:build_tiny_speech_emotion",
    "whisper": "cer.modalities.asr:build_tiny_whisper",
    "text_emotion": "cer.modalities.text_emotion:build_tiny_text_emotion",
    "clip": "cer.modalities.clip_labels:build_tiny_clip",
    "scene": "cer.modalities.scene:build_tiny_scene",
}


def _builder(target: str) -> Callable[[Path], None]:
    module_name, function_name = target.split(":")
    return getattr(import_module(module_name), function_name)


def make_tiny(cache_dir: Path, force: bool = False, names: Iterable[str] | None = None) -> list[Path]:
    """Build every tiny model missing under `cache_dir/tiny` (all of them with `force`), or
    only those `names` (a test needs only its expert's)."""
    built = []
    for name in TINY_BUILDERS if names is None else names:
        target = TINY_BUILDERS[name]
        folder = cache_dir / "tiny" / name
        if folder.exists() and not force:
            continue
        staging = folder.with_name(name + ".partial")
        staging.mkdir(parents=True, exist_ok=True)
        _builder(target)(staging)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        built.append(folder)
    return built
