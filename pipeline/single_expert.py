"""`cer expert NAME INPUT`: one expert alone on an image, a video, an audio file or text lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cer.core.chunks import iter_chunks
from cer.core.config import Profile
from cer.core.labels import BASIC
from cer.core.media import MediaError, iter_audio_blocks, probe
from cer.core.types import Chunk, ExpertOutput, VideoInfo, Window
from cer.core.windows import make_windows
from cer.modalities.factory import build_expert, build_preprocessor, expert_class
from cer.modalities.text_kinds import TextKind

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus"}


def _probs_record(probs: np.ndarray | list[float] | None) -> dict[str, Any]:
    if probs is None:
        return {"probs": None, "top": None}
    values = [round(float(p), 6) for p in probs]
    return {"probs": dict(zip(BASIC, values, strict=True)), "top": BASIC[int(np.argmax(values))]}


def _window_record(window: Window, output: ExpertOutput) -> dict[str, Any]:
    return {
        "window": window.index,
        "start_s": window.start_s,
        "end_s": window.end_s,
        **_probs_record(output.probs),
        "reason": output.reason,
        "evidence": output.evidence,
    }


INPUT_NAMES = {"video": "a video", "image": "an image", "audio": "an audio file", "text": "text (a .txt file or - for stdin)"}


def input_kind(reads: tuple[str, ...], source: str) -> str:
    """`text`, `image`, `audio` or `video`: by suffix, since an expert that `reads` text reads
    `-` (stdin)."""
    if "text" in reads and source == "-":
        return "text"
    path = Path(source)
    if path.is_dir():
        raise MediaError(f"{source}: a folder; give one file (`cer batch` takes folders)")
    if not path.is_file():
        raise MediaError(f"{source}: file not found")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return "text" if suffix in {".txt", ""} and "text" in reads else "video"


def run_expert(name: str, source: str, profile: Profile, text_kind: TextKind | None = None) -> Iterator[dict[str, Any]]:
    """One JSON-ready record per window, per face (images) or per line (text). `text_kind`
    tells the text expert's emotion head what it reads (default: the profile's choice)."""
    if name not in profile.experts:
        raise ValueError(f"profile {profile.name!r} has no expert {name!r}; it has {', '.join(profile.experts)}")
    config = profile.experts[name]
    cls = expert_class(name, config)
    if text_kind is not None and "text" not in cls.reads:
        raise ValueError(f"--kind applies to the text expert; expert {name} reads no text lines")
    kind = input_kind(cls.reads, source)
    readable = ("video", *cls.reads)
    if kind not in readable:
        choices = " or ".join(INPUT_NAMES[k] for k in readable)
        raise ValueError(f"expert {name} does not read {INPUT_NAMES[kind]}: give it {choices}")
    if text_kind is not None:
        config = config.model_copy(update={"options": config.options.model_copy(update={"text_kind": text_kind})})
    lines = _read_lines(source) if kind == "text" else []  # read before any model loads: empty input fails at once
    if kind == "text":
        expert: Any = build_preprocessor(name, config, profile.expert_context)  # no speech recognition for text
        if expert is None:
            raise ValueError(f"expert {name} is unavailable in profile {profile.name!r}: {config.unavailable}")
        expert.load_head()
    else:
        expert = build_expert(name, config, profile.expert_context)
    status = expert.status()
    if status.status != "ok" and status.reason and name != "audio":
        raise ValueError(f"expert {name} is unavailable in profile {profile.name!r}: {status.reason}")
    if kind == "text":
        yield from _text_lines(expert, lines)
    elif kind == "image":
        yield from _image(expert, Path(source), profile)
    elif kind == "audio":
        yield from _audio(expert, Path(source), profile)
    else:
        yield from _video(expert, cls.uses_faces, Path(source), profile)


def _read_lines(source: str) -> list[str]:
    """The non-empty lines of a text file or of stdin (`-`)."""
    import sys

    try:
        text = sys.stdin.buffer.read().decode("utf-8") if source == "-" else Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MediaError(f"{'stdin' if source == '-' else source}: not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise MediaError(f"{'stdin' if source == '-' else source}: no text (every line is empty)")
    return lines


def _text_lines(expert: Any, lines: list[str]) -> Iterator[dict[str, Any]]:
    """One record per line, with the kind of text the head read it as."""
    for number, (line, probs) in enumerate(zip(lines, expert.score_texts(lines), strict=True), start=1):
        yield {"line": number, "text": line, "kind": expert.options.text_kind, **_probs_record(probs)}


def _read_image(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError(f"{path.name}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _image(expert: Any, path: Path, profile: Profile) -> Iterator[dict[str, Any]]:
    from cer.core.faces import FaceTracker

    image = _read_image(path)
    tracker = FaceTracker(profile.faces, profile.cache_path)
    boxes = tracker.detect(image)
    if not boxes:
        yield {"face": None, "probs": None, "top": None, "reason": "no face found in the image"}
        return
    # each face model cuts its own crop around the box, as its training faces were cut
    for number, (box, probs) in enumerate(zip(boxes, expert.classify_faces(image, boxes), strict=True)):
        yield {"face": number, "box": [round(v, 1) for v in (box.x0, box.y0, box.x1, box.y1)], **_probs_record(probs)}


def _audio(expert: Any, path: Path, profile: Profile) -> Iterator[dict[str, Any]]:
    """An audio file as a video without frames."""
    info = VideoInfo(path=str(path), duration_s=0.0, fps=1.0, width=0, height=0, has_audio=True, n_frames=0)
    audio = np.concatenate(list(iter_audio_blocks(info, kind="audio file")) or [np.zeros(0, np.float32)])
    duration = len(audio) / 16_000
    if duration == 0:
        raise MediaError(f"{path.name}: no audio samples")
    cfg = profile.windows
    windows = make_windows(duration, 1.0, 0, cfg.length_s, cfg.hop_s, cfg.min_tail_s)
    chunk = Chunk(video=info, windows=windows, frames=[], audio=audio)
    for window, output in zip(windows, expert.predict(chunk), strict=True):
        yield _window_record(window, output)


def _video(expert: Any, uses_faces: bool, path: Path, profile: Profile) -> Iterator[dict[str, Any]]:
    info = probe(path)
    cfg = profile.windows
    windows = make_windows(info.duration_s, info.fps, info.n_frames, cfg.length_s, cfg.hop_s, cfg.min_tail_s)
    tracker = None
    if uses_faces:
        from cer.core.faces import FaceTracker

        tracker = FaceTracker(profile.faces, profile.cache_path)
    for work in iter_chunks(info, windows, profile.media):
        if tracker is not None:
            tracker.process(work.new_frames)
        for window, output in zip(work.chunk.windows, expert.predict(work.chunk), strict=True):
            yield _window_record(window, output)
