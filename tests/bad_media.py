"""Damaged media that every entry point must refuse the same way."""

from __future__ import annotations

from pathlib import Path

import av


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
