"""The same clip through the same experts: one after another in this process, versus as Ray
actors working side by side.

    .venv/bin/python bench/parallel.py [--profile tiny] [--device cpu] [--rounds 3] [VIDEO]

The clip is decoded and its faces found once, before any clock starts; both executors have
their models loaded (and one warm-up chunk answered) before they are timed. Each round sends
every chunk to all experts and waits for their answers before the next, so the figures
compare the experts' parallelism alone. Prints the mean seconds per round and the ratio.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import clip_parser, default_clip, print_figures  # bench/, the script's folder

from cer.core.chunks import tracked_chunks
from cer.core.config import load_profile, with_device
from cer.core.types import Chunk
from cer.pipeline.execution import ExpertExecutor, InProcessExecutor
from cer.pipeline.ray_executor import RayExecutor
from cer.pipeline.ray_runtime import ray_session


def seconds_per_round(executor: ExpertExecutor, chunks: list[Chunk], rounds: int) -> float:
    executor.collect(executor.submit(chunks[0]))  # warm-up: lazy initialisation stays off the clock
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for chunk in chunks:
            executor.collect(executor.submit(chunk))
        times.append(time.perf_counter() - started)
    return statistics.mean(times)


def main() -> None:
    parser = clip_parser(__doc__, "tiny")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    profile = with_device(load_profile(args.profile), args.device)
    experts = profile.enabled_experts()
    with tempfile.TemporaryDirectory() as scratch:
        chunks = list(tracked_chunks(default_clip(args.video, Path(scratch)), profile))
    print(f"# {len(chunks)} chunk(s), {sum(len(c.windows) for c in chunks)} window(s), experts: {', '.join(experts)}")

    in_process = InProcessExecutor(experts, profile.expert_context)
    sequential_s = seconds_per_round(in_process, chunks, args.rounds)
    print(f"# in process, seconds per expert over all rounds: {in_process.seconds}")
    del in_process
    with ray_session(profile.execution.ray_address):
        executor = RayExecutor.start(experts, profile.expert_context, profile.execution)
        try:
            parallel_s = seconds_per_round(executor, chunks, args.rounds)
            print(f"# Ray actors, seconds per expert over all rounds: {executor.seconds}")
        finally:
            executor.close()
    print_figures({"sequential_s": sequential_s, "parallel_s": parallel_s, "speedup": sequential_s / parallel_s})


if __name__ == "__main__":
    main()
