"""Damaged media that every entry point must refuse the same way."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def frame_rate_bomb(target: Path, fps: int = 1000, seconds: int = 1, size: int = 32) -> Path:
    """A small file declaring `fps` identical tiny frames a second: per-frame outputs would grow
    with the declared rate, not with anything in the video."""
    with av.open(str(target), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((size, size, 3), np.uint8), format="rgb24")
        for index in range(fps * seconds):
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return target


def faststart_truncated(source: Path, target: Path) -> Path:
    """An mp4 with its index up front (as phones and web tools write them), cut in half: it
    opens and its first frame decodes, but most of the video is missing."""
    remuxed = target.with_suffix(".full.mp4")
    with av.open(str(source)) as inp, av.open(str(remuxed), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = remuxed.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def frame_size_bomb(target: Path, width: int = 8000, height: int = 4400) -> Path:
    """Two black frames larger than 8K: a small file whose every decoded frame is huge."""
    with av.open(str(target), "w") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
        for index in range(2):
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return target
