"""A copy of an upload that every browser's <video> plays, for uploads it cannot: HEVC `.mov`
(the iPhone's default) plays black in Chromium without a GPU decoder, often with no error the
page could catch. The copy is H.264 / AAC in mp4, at most 720p, made with PyAV's bundled
FFmpeg; the upload itself stays what the pipeline reads and what the download link gives."""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

# What every current browser plays, per FFmpeg demuxer (its name covers .mp4 and .mov alike):
# the video codecs, and the audio codecs beside them.
_MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
_PLAYABLE_VIDEO = {_MP4_FAMILY: {"h264", "vp9", "av1"}, "matroska,webm": {"vp8", "vp9", "av1"}}
_PLAYABLE_AUDIO = {_MP4_FAMILY: {"aac", "mp3", "opus", "flac"}, "matroska,webm": {"opus", "vorbis"}}
MAX_SHORT_SIDE = 720  # pixels: 720p, enough to follow the timeline, and quick to encode
PRESET = "veryfast"  # x264's speed/size trade-off: the copy is made while the job waits for it
CRF = 26  # x264's constant quality; higher is smaller (23 is its default)
_MP4_OPTIONS = {"movflags": "+faststart"}  # the index first: the player starts before the whole file has arrived


def unplayable_codecs(video: Path) -> str | None:
    """What a browser could not play in the file (e.g. "hevc in QuickTime / MOV"), or None
    when it plays the file as it is."""
    with av.open(str(video), metadata_errors="ignore") as container:
        family, container_name = container.format.name, container.format.long_name
        codecs = [stream.codec_context.name for stream in container.streams.video[:1]]
        playable = _PLAYABLE_VIDEO.get(family, set())
        if container.streams.audio:
            codecs.append(container.streams.audio[0].codec_context.name)
            playable = playable | _PLAYABLE_AUDIO.get(family, set())
    refused = [codec for codec in codecs if codec not in playable]
    return f"{', '.join(refused)} in {container_name}" if refused else None


def preview_size(width: int, height: int) -> tuple[int, int]:
    """The copy's size: the shorter side at most MAX_SHORT_SIDE, both sides even (x264's 4:2:0)."""
    scale = min(1.0, MAX_SHORT_SIDE / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def write_preview(video: Path, target: Path, check: Callable[[], None]) -> None:
    """Encode the browser's copy of `video` at `target`, atomically (a copy cut off by a crash or
    an error is never left there). `check` is called between packets: raising there stops it."""
    part = target.with_name(target.name + ".part")
    rotation = _stored_rotation(video)
    try:
        with av.open(str(video), metadata_errors="ignore") as source, av.open(str(part), "w", format="mp4", options=_MP4_OPTIONS) as copy:
            _transcode(source, copy, rotation, check)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _stored_rotation(video: Path) -> float:
    """How the upload's pictures are stored turned (counter-clockwise degrees; phones film
    sideways and say so in a display matrix), read from the first frame: the copy must say it
    too, before its first frame is written."""
    with av.open(str(video), metadata_errors="ignore") as source:
        return float(next(source.decode(video=0)).rotation or 0)


def _transcode(source: av.container.InputContainer, copy: av.container.OutputContainer, rotation: float, check: Callable[[], None]) -> None:
    video_in = source.streams.video[0]
    video_in.thread_type = "AUTO"
    video_out = copy.add_stream("libx264", rate=video_in.average_rate or 30, options={"preset": PRESET, "crf": str(CRF)})
    video_out.width, video_out.height = preview_size(video_in.codec_context.width, video_in.codec_context.height)
    video_out.pix_fmt = "yuv420p"
    # The upload's own timestamps, in its own time base, for the stream and for the encoder: an
    # encoder counting in 1/average-rate steps would give two frames of a variable-rate phone
    # video (30 fps filmed, 26.4 on average) the same timestamp, which the muxer refuses.
    video_out.time_base = video_out.codec_context.time_base = video_in.time_base or Fraction(1, 90000)
    video_out.set_display_rotation(rotation)  # browsers turn the picture as the upload's players did
    audio_in = source.streams.audio[0] if source.streams.audio else None
    # Sound a browser plays in mp4 (a phone's AAC) is copied packet for packet, as it is;
    # only other codecs (PCM, AMR, ...) are decoded and encoded again as AAC.
    copied = audio_in is not None and audio_in.codec_context.name in _PLAYABLE_AUDIO[_MP4_FAMILY]
    audio_out: av.AudioStream | None = None
    if audio_in is not None:
        audio_out = copy.add_stream_from_template(audio_in) if copied else copy.add_stream("aac", rate=audio_in.rate)
    for packet in source.demux(video_in, *([audio_in] if audio_in is not None else [])):
        check()
        if copied and packet.stream is audio_in:
            if packet.dts is not None and audio_out is not None:  # the demuxer's end-of-stream packet carries nothing
                packet.stream = audio_out
                copy.mux(packet)
            continue
        for frame in packet.decode():
            if isinstance(frame, av.VideoFrame):
                copy.mux(video_out.encode(frame.reformat(video_out.width, video_out.height, "yuv420p")))
            elif isinstance(frame, av.AudioFrame) and audio_out is not None:
                copy.mux(audio_out.encode(frame))
    copy.mux(video_out.encode())
    if audio_out is not None and not copied:
        copy.mux(audio_out.encode())
