"""What an uploaded video must pass before it is queued, each failure a 4xx saying which:
a complete, readable video (`pipeline.media.probe`, the check every entry point shares) not
longer than the limit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from cer.core.media import MediaError, MediaProblem, probe
from cer.serving.errors import ApiError

# FFmpeg's demuxer names -> what a browser's <video> expects
_MEDIA_TYPES = {"mov,mp4,m4a,3gp,3g2,mj2": "video/mp4", "matroska,webm": "video/webm", "ogg": "video/ogg"}
OTHER_MEDIA_TYPE = "application/octet-stream"
# The media problems the API names apart; any other is `not_a_video`.
_API_CODES: dict[MediaProblem, str] = {
    "no_video_stream": "no_video_stream", "truncated": "truncated", "frame_rate": "frame_rate", "frame_size": "frame_size",
}  # fmt: skip


@dataclass(frozen=True)
class CheckedVideo:
    duration_s: float
    media_type: str


def media_message(exc: MediaError, path: Path, name: str) -> str:
    """The error's message about the file at `path`, naming it `name` (the client's name for
    it) instead of the server's path."""
    return f"{name}: {str(exc).removeprefix(f'{path}: ').removeprefix(f'{path.name}: ')}"


def check_video(path: Path, name: str, max_duration_s: float) -> CheckedVideo:
    """Raise ApiError (415 not_a_video / no_video_stream / truncated, 422 too_long) or say
    what the video is. `name` (the client's) names the file in the messages."""
    try:
        info = probe(path)
    except MediaError as exc:
        raise ApiError(415, _API_CODES.get(exc.code, "not_a_video"), media_message(exc, path, name)) from None
    if info.duration_s > max_duration_s:
        limit = f"this server takes at most {max_duration_s:g} s"
        raise ApiError(422, "too_long", f"the video lasts {info.duration_s:.1f} s; {limit}")
    return CheckedVideo(info.duration_s, _media_type(path))


def _media_type(path: Path) -> str:
    """The MIME type a browser's <video> expects for the file's container."""
    with av.open(str(path), metadata_errors="ignore") as container:
        return _MEDIA_TYPES.get(container.format.name, OTHER_MEDIA_TYPE)
