"""The HTTP service: latency from upload to result against `cer run` on the same clip, and
the jobs a server holds at once with its memory meanwhile.

    .venv/bin/python bench/serving.py [--profile tiny] [--profile offline] [--repeat 3] [--hold 10] [VIDEO]

Per profile, a `cer serve` child process (one worker) is started and waited on until its
pipeline is loaded (/readyz), as a server is between requests. The clip (by default the
shared 2.4 s single_face.mp4) is uploaded `repeat` times, one after another; a latency runs
from the start of the upload to the first poll (every 20 ms) that finds the job done. The
pipeline's own time for the job (result.json's timings.total_s) splits it into work and
service overhead. `cer run` on the same clip, a fresh process as a user starts it, is the
reference a service saves its users from. The expert-output cache is off throughout, so that
every run computes.

Then, with the first profile, a server with 2 workers and a queue of HOLD-2 is sent HOLD+2
uploads at once: the jobs it holds (queued and running) and its memory (the whole process
tree, sampled every 0.5 s, shared pages counted per process: an upper bound) until all are
done. Prints `name: value` lines last.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ leads sys.path (for common.py) and this file is named like the `serving` package:
# bench/ is set aside while the package is imported, or the import would find this file.
_BENCH = sys.path.pop(0)
from cer.serving.client import Client, local_server  # noqa: E402

sys.path.insert(0, _BENCH)
from common import print_figures  # noqa: E402
from proctree import tree_rss_mb  # noqa: E402

SINGLE_FACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "single_face.mp4"
POLL_S = 0.02


def uncached(profile: str, folder: Path) -> str:
    """`profile` with the expert-output cache off, so that a repeated clip is computed again."""
    path = folder / f"{Path(profile).stem}-uncached.yaml"
    path.write_text(f"extends: {profile}\ncache: {{enabled: false}}\n")
    return str(path)


def serve_latencies(profile: str, clip: Path, repeat: int, scratch: Path) -> tuple[list[float], list[float]]:
    """Upload-to-result seconds, and the pipeline's own seconds, for each of `repeat` jobs."""
    latencies, pipeline_s = [], []
    data_dir = scratch / f"latency-{Path(profile).stem}"
    with local_server(data_dir, profile, {"CER_CONCURRENCY": "1"}) as server, Client(server.url) as api:
        api.wait_ready()
        for _ in range(repeat):
            started = time.perf_counter()
            response = api.submit(clip)
            response.raise_for_status()
            job = api.wait(response.json()["id"], poll_s=POLL_S)
            latencies.append(time.perf_counter() - started)
            if job["status"] != "done":
                raise RuntimeError(f"the job failed: {job['error']}")
            pipeline_s.append(api.http.get(job["urls"]["result"]).json()["timings"]["total_s"])
    return latencies, pipeline_s


def cli_seconds(profile: str, clip: Path, scratch: Path) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "cer", "run", str(clip), "--profile", profile, "--out", str(scratch / "cli")]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def hold(profile: str, clip: Path, jobs: int, scratch: Path) -> dict[str, float]:
    env = {"CER_CONCURRENCY": "2", "CER_MAX_QUEUE": str(jobs - 2)}
    with local_server(scratch / "hold", profile, env) as server, Client(server.url) as api:
        api.wait_ready()
        pid = server.process.pid
        idle_mb = tree_rss_mb(pid)
        statuses = [api.submit(clip).status_code for _ in range(jobs + 2)]
        started = time.perf_counter()
        held, peak_mb = 0, idle_mb
        while True:
            counts = api.http.get("/readyz").json()["jobs"]
            in_flight = counts["queued"] + counts["running"]
            held, peak_mb = max(held, in_flight), max(peak_mb, tree_rss_mb(pid))
            if in_flight == 0:
                break
            time.sleep(0.5)
        return {
            "hold_accepted": statuses.count(202),
            "hold_refused_429": statuses.count(429),
            "hold_jobs_held_max": held,
            "hold_done": counts["done"],
            "hold_drain_s": time.perf_counter() - started,
            "hold_server_rss_idle_mib": idle_mb,
            "hold_server_rss_peak_mib": peak_mb,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", type=Path, help="the clip (default: the shared single_face.mp4)")
    parser.add_argument("--profile", action="append", help="profile(s) to time (default: tiny and offline)")
    parser.add_argument("--repeat", type=int, default=3, help="uploads timed per profile (default: 3)")
    parser.add_argument("--hold", type=int, default=10, help="jobs a server is asked to hold at once (default: 10)")
    args = parser.parse_args()
    profiles = args.profile or ["tiny", "offline"]
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        clip = args.video
        if clip is None:
            from cer.pipeline.demo import build_demo_clip

            clip = SINGLE_FACE if SINGLE_FACE.is_file() else build_demo_clip(scratch / "demo.mp4", duration_s=2.4)
        for given in profiles:
            name, profile = Path(given).stem, uncached(given, scratch)
            latencies, pipeline_s = serve_latencies(profile, clip, args.repeat, scratch)
            cli_s = cli_seconds(profile, clip, scratch)
            latency, work = statistics.median(latencies), statistics.median(pipeline_s)
            # per job, then the median: the machine's noise differs from job to job
            overheads = [total - own for total, own in zip(latencies, pipeline_s, strict=True)]
            ratios = [total / own for total, own in zip(latencies, pipeline_s, strict=True)]
            seconds = ", ".join(f"{s:.2f}" for s in latencies)
            print(f"{name}: upload-to-result {seconds} s; pipeline {work:.2f} s (median); cer run {cli_s:.2f} s")
            figures |= {
                f"{name}_serve_latency_s": latency,
                f"{name}_serve_pipeline_s": work,
                f"{name}_serve_overhead_s": statistics.median(overheads),
                f"{name}_serve_over_pipeline_ratio": statistics.median(ratios),
                f"{name}_cli_run_s": cli_s,
                f"{name}_serve_over_cli_ratio": latency / cli_s,
            }
        figures |= hold(uncached(profiles[0], scratch), clip, args.hold, scratch)
    print_figures(figures)


if __name__ == "__main__":
    main()
