"""What an uploaded video must pass before it is queued, each failure a 4xx saying which:
readable as a video (`pipeline.media.probe`), not longer than the limit, and complete."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from cer.pipeline.media import MediaError, probe
from cer.serving.errors import ApiError

# FFmpeg's demuxer names -> what a browser's <video> expects
_MEDIA_TYPES = {"mov,mp4,m4a,3gp,3g2,mj2": "video/mp4", "matroska,webm": "video/webm", "ogg": "video/ogg"}
OTHER_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class CheckedVideo:
    duration_s: float
    media_type: str


def check_video(path: Path, filename: str, max_duration_s: float) -> CheckedVideo:
    """Raise ApiError (415 not_a_video / no_video_stream / truncated, 422 too_long) or say
    what the video is. `filename` (the client's) names the file in the messages."""
    try:
        info = probe(path)
    except MediaError as exc:
        # probe's message says what is wrong, after the server's own name for the file
        problem = str(exc).removeprefix(f"{path.name}: ")
        code = "no_video_stream" if problem.startswith("no video stream") else "not_a_video"
        raise ApiError(415, code, f"{filename or 'upload'}: {problem}") from None
    if info.duration_s > max_duration_s:
        limit = f"this server takes at most {max_duration_s:g} s"
        raise ApiError(422, "too_long", f"the video lasts {info.duration_s:.1f} s; {limit}")
    covered_s, media_type = _video_extent(path)
    # probe decodes only the first frame, so a file cut short but with its index up front (an
    # mp4 with `faststart`) passes it; its packets then end early. Small gaps are tolerated.
    if covered_s < info.duration_s - max(0.5, 0.05 * info.duration_s):
        raise ApiError(
            415,
            "truncated",
            f"{filename or 'upload'}: the video data stops at {covered_s:.1f} s of the {info.duration_s:.1f} s "
            "its header announces (an incomplete upload or a damaged file)",
        )
    return CheckedVideo(info.duration_s, media_type)


def _video_extent(path: Path) -> tuple[float, str]:
    """Seconds of video the file's packets hold (read without decoding), and its MIME type."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        origin = stream.start_time or 0
        end = origin
        try:
            for packet in container.demux(stream):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is not None:
                    end = max(end, stamp + (packet.duration or 0))
        except av.FFmpegError:
            pass  # a damaged tail: what was read so far is the extent
        covered = float((end - origin) * stream.time_base) if stream.time_base else 0.0
        return covered, _MEDIA_TYPES.get(container.format.name, OTHER_MEDIA_TYPE)
