"""How sharp each expert's distributions are: mean entropy per window on real videos, and the
temperature (`fusion.temperatures`) that would bring each expert to the experts' median.

    .venv/bin/python bench/expert_entropy.py [--profile offline] [VIDEO ...]

Under equal MHPF weights an expert whose distributions are far sharper than the others'
(CLIP with its logit scale: near one-hot) decides the fused label alone. The entropy of a
distribution (in bits; 3 is uniform over the 8 basic classes) says how sharp it is; T > 1
flattens an expert (p ** (1 / T), renormalised). Runs in-process, the expert-output cache off.
Prints a table, then `name: value` lines.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import NO_CACHE, print_figures  # bench/, the script's folder

from cer import Pipeline
from cer.core.config import load_profile
from cer.pipeline.evaluation.scoring import entropy_bits, tempered

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_VIDEOS = [SHARED / "single_face.mp4", SHARED / "face_noface.mov", SHARED / "no_face.mp4"]


def temperature_for(probs: np.ndarray, target_bits: float) -> float:
    """The T (0.05..50) whose tempered distributions have `target_bits` mean entropy, by bisection
    on log T (mean entropy grows with T)."""
    low, high = np.log(0.05), np.log(50.0)
    for _ in range(60):
        middle = (low + high) / 2
        if entropy_bits(tempered(probs, float(np.exp(middle)))).mean() < target_bits:
            low = middle
        else:
            high = middle
    return float(np.exp((low + high) / 2))


def expert_probabilities(profile_name: str, videos: list[Path]) -> dict[str, np.ndarray]:
    """expert -> [windows present, 8] probabilities over all the videos."""
    profile = load_profile(profile_name, {**NO_CACHE, "execution": {"engine": "inprocess"}})
    gathered: dict[str, list[list[float]]] = defaultdict(list)
    with Pipeline(profile) as pipeline:
        for video in videos:
            for window in pipeline.run(video).window_results:
                for name, answer in window.experts.items():
                    if answer.probs is not None:
                        gathered[name].append(answer.probs)
    return {name: np.asarray(rows) for name, rows in gathered.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, help="videos (default: the shared clips)")
    parser.add_argument("--profile", default="offline", help="profile name or YAML file (default: offline)")
    args = parser.parse_args()
    videos = args.videos or [v for v in DEFAULT_VIDEOS if v.is_file()]
    if not videos:
        print("no videos: give some, or put ../shared/data beside the checkout")
        return
    probs = expert_probabilities(args.profile, videos)
    if not probs:
        print("no expert was present in any window")
        return
    means = {name: float(entropy_bits(p).mean()) for name, p in probs.items()}
    target = float(np.median(list(means.values())))
    print(f"{len(videos)} video(s), profile {args.profile}; entropy in bits (uniform over 8 classes: 3.00)")
    print(f"{'expert':<14}{'windows':>8}{'mean H':>9}{'T to median':>13}")
    figures = {}
    for name, p in probs.items():
        temperature = temperature_for(p, target)
        print(f"{name:<14}{len(p):>8}{means[name]:>9.2f}{temperature:>13.2f}")
        figures[f"{name}_mean_entropy_bits"] = means[name]
        figures[f"{name}_temperature_to_median"] = temperature
    figures["median_mean_entropy_bits"] = target
    print_figures(figures)


if __name__ == "__main__":
    main()
