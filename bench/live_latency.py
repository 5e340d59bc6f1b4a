"""Per-window latency of `cer live` on a stream served over HTTP on 127.0.0.1 in real time.

    .venv/bin/python bench/live_latency.py [--profile offline] [--talking 40] [--max-latency S] [VIDEO]

The stream is a generated clip with a face and speech most of the time (bench/talking_clip.py,
`--talking` seconds long), or VIDEO remuxed into Matroska, its bytes spread over its playing
time (bench/loopback_stream.py). One fresh `cer live` process reads it, as a user runs it (the
expert-output cache off, the engine the profile picks). A window's latency is what result.json
records: seconds from the moment the stream had reached the window's end to its verdict.

The realtime factor is seconds of stream per second the pipeline worked on it (finding faces,
the experts, fusion; not waiting for the stream): above 2, every window is decided before the
next one ends (a window every 2 s, each 4 s long). `skipped_answers` counts the expert answers
left out to keep within the latency budget, per expert in the lines above.
Prints `name: value` lines last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import print_figures, profile_file  # bench/, the script's folder
from loopback_stream import LoopbackStream, Served, as_matroska

from cer.pipeline.live_budget import SKIPPED


def stream_bytes(video: Path | None, talking_s: float, folder: Path) -> tuple[bytes, float, str]:
    """The stream's bytes, its seconds, and what it is."""
    if video is not None:
        import av

        with av.open(str(video)) as container:
            seconds = float(container.duration or 0) / av.time_base
        return as_matroska(video), seconds, video.name
    from talking_clip import talking_face_clip  # bench/, the script's folder

    clip, speech = talking_face_clip(folder / f"talking{talking_s:g}s.mkv", talking_s)
    return as_matroska(clip), talking_s, f"{clip.name} (speech: {speech})"


def run_live(url: str, profile: str, out: Path, max_latency_s: float | None) -> tuple[dict, float]:
    """result.json of one `cer live` session on `url`, and the session's wall seconds."""
    command = [sys.executable, "-m", "cer", "--quiet", "live", url, "--profile", profile, "--out", str(out)]
    if max_latency_s is not None:
        command += ["--max-latency", str(max_latency_s)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cer live failed: {done.stderr[-800:]}")
    print(done.stdout, end="")
    return json.loads((out / "result.json").read_text()), wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", type=Path, help="stream this video instead of the generated talking clip")
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--talking", type=float, default=40.0, metavar="SECONDS", help="the generated clip's length (default: 40)")
    parser.add_argument("--max-latency", type=float, help="live.max_latency_s for the session (default: the profile's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        content, seconds, what = stream_bytes(args.video, args.talking, folder)
        print(f"# stream: {what}, {seconds:.1f} s, {len(content) / 1e6:.1f} MB, served in real time")
        with LoopbackStream({"stream.mkv": Served(content, seconds)}) as server:
            result, wall_s = run_live(server.url("stream.mkv"), profile_file(args.profile, None, folder), folder / "out", args.max_latency)
    windows = result["windows"]
    latencies = [window["latency_s"] for window in windows]
    timings = result["timings"]
    working_s = sum(timings["experts_s"].values()) + timings["faces_s"] + timings["fusion_s"]
    skipped = {name: sum((window["experts"][name]["reason"] or "").startswith(SKIPPED) for window in windows) for name in result["experts"]}
    print(f"# experts' seconds: {json.dumps({name: round(s, 2) for name, s in timings['experts_s'].items()})}")
    print(f"# answers skipped to keep up, per expert (of {len(windows)} windows): {json.dumps(skipped)}")
    print_figures(
        {
            "windows": len(windows),
            "latency_median_s": float(np.median(latencies)),
            "latency_p95_s": float(np.percentile(latencies, 95)),
            "latency_max_s": max(latencies),
            "first_window_latency_s": latencies[0],
            "realtime_factor": result["video"]["duration_s"] / working_s,
            "skipped_answers": sum(skipped.values()),
            "experts_start_s": timings["start_s"],
            "session_wall_s": wall_s,
        }
    )


if __name__ == "__main__":
    main()
