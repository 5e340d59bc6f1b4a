"""Scene expert settings sweep: windows per second of the vision-language model over a grid of
frames per window, pixels per frame, new tokens and batch size, to choose the defaults on the GPU.

    python bench/scene_sweep.py [--scale full] [--device cuda] [--frames 4 --frames 8] [--pixels 151200]
                                [--tokens 128] [--batch 32] [--batches 1] [--budget-s 360]
    .venv/bin/python bench/scene_sweep.py --scale tiny --device cpu     # a smoke test, under a minute

`--scale full` builds Qwen2.5-VL-3B-Instruct's architecture at full size with random weights
(the dimensions of its hub config.json, kept in bench/full_size_models.py), bf16 on CUDA, in memory:
nothing is downloaded, and speed and memory do not depend on the weights' values. Its processor
is the tiny one (Qwen's image and video processors, a small tokenizer built here), whose token
ids index the full-size vocabulary. `--scale tiny` loads the tiny scene model written by
`build_tiny_scene` into a temporary folder.

Every setting runs through the expert's own `SceneDescriber.describe`: one processor call (frames
resized and patched on the model's device) and one `generate` call per batch of `--batch`
windows, each window `--frames` random 960 x 540 frames (a sampled frame at the default
`media.max_side`) shrunk to at most `--pixels` pixels. Random weights rarely write the end of
turn, and a trained model stops where its paragraph ends: every description is forced to exactly
`--tokens` new tokens (`min_new_tokens`), so that settings compare (the worst case of a trained
model). One untimed warm-up call comes first (CUDA and cuBLAS start-up is no per-window cost).

Per setting `f{frames}_px{pixels}_tok{tokens}_b{batch}` it prints, as soon as it is measured (so
a run stopped early keeps what it measured): windows per second, the realtime factor (each window
adds `windows.hop_s` = 2 s of video, so seconds of video per second = windows/s x 2) and, on
CUDA, the peak GPU memory of that setting (the weights included). `--budget-s` starts no new setting after that many
seconds. For scale: on an H100 with plain transformers generate, 4 frames at 336 px and 60 new
tokens gave 23.7 windows/s at batch 128, and batch 8 at the expert's defaults 2.1 windows/s.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from common import FRAME_SHAPE, print_figures  # bench/, the script's folder
from full_size_models import qwen25_vl_3b_config, random_pretrained  # bench/, the script's folder

from cer.core.config import WindowConfig
from cer.core.labels import PAIRS
from cer.core.options import SceneOptions
from cer.modalities.scene import Clip, SceneDescriber, build_prompt, build_tiny_processor, build_tiny_scene

WINDOW = WindowConfig()  # the default windows: 4 s long, one every 2 s
DISTINCT_CLIPS = 8  # random clips per frame count, reused round the batch: their content costs nothing


@dataclass(frozen=True)
class Setting:
    frames: int  # per window
    pixels: int  # per frame, at most (`max_pixels`)
    tokens: int  # new tokens per description, exactly
    batch: int  # windows per `describe` call

    @property
    def name(self) -> str:
        return f"f{self.frames}_px{self.pixels}_tok{self.tokens}_b{self.batch}"


# Default grids: the expert's defaults (4 frames, 360 x 420 pixels, 128 tokens) and the issue's
# figure (4 frames at 336 px, taken as 336 x 336 pixels; 60 tokens), crossed with 8 frames and
# the batch sizes worth having: 32 settings at full scale, about 4 minutes on an H100 by the
# figures above (an estimate from them, not a measurement).
GRIDS: dict[str, dict[str, list[int]]] = {
    "full": {"frames": [4, 8], "pixels": [336 * 336, 360 * 420], "tokens": [60, 128], "batch": [8, 32, 64, 128]},
    "tiny": {"frames": [2, 4], "pixels": [112 * 112], "tokens": [4, 8], "batch": [1, 4]},  # the tiny profile's pixels
}


def full_size_model(device: str) -> tuple[Any, Any]:
    """Qwen2.5-VL-3B's architecture with random weights, and the tiny processor."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    processor = build_tiny_processor()  # Qwen's processing; its small vocabulary indexes the full-size table
    dtype = torch.bfloat16 if device == "cuda" else torch.float32  # as `SceneDescriber.load` with half_precision
    model = random_pretrained(Qwen2_5_VLForConditionalGeneration, qwen25_vl_3b_config(processor.tokenizer), device, dtype)
    return processor, model


def tiny_model(device: str, folder: Path) -> tuple[Any, Any]:
    """The tiny scene model, saved and loaded as the tiny profile does."""
    build_tiny_scene(folder)
    describer = SceneDescriber.load(folder, device, SceneOptions())
    return describer.processor, describer.model


@functools.cache
def distinct_clips(frames: int) -> tuple[Clip, ...]:
    """A few windows of `frames` random frames each, at the rate `window_clip` gives (frames over
    the window's length); made once per frame count."""
    rng = np.random.default_rng(frames)
    fps = frames / WINDOW.length_s
    return tuple(Clip(rng.integers(0, 256, (frames, *FRAME_SHAPE), dtype=np.uint8), fps) for _ in range(DISTINCT_CLIPS))


def window_batch(frames: int, count: int) -> list[Clip]:
    """`count` windows of `frames` frames: the distinct clips, round and round."""
    clips = distinct_clips(frames)
    return [clips[k % len(clips)] for k in range(count)]


def describer_for(processor: Any, model: Any, setting: Setting) -> SceneDescriber:
    options = SceneOptions(max_pixels=setting.pixels, max_new_tokens=setting.tokens)  # the batch is the clips given
    describer = SceneDescriber(processor, model, options)
    model.generation_config.min_new_tokens = setting.tokens  # exactly `tokens`: see the module docstring
    return describer


def synchronise(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(processor: Any, model: Any, setting: Setting, batches: int, device: str) -> dict[str, float]:
    """Windows per second, realtime factor and (on CUDA) peak GPU memory of one setting."""
    describer = describer_for(processor, model, setting)
    clips = window_batch(setting.frames, setting.batch)
    prompt = build_prompt("free", PAIRS)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    synchronise(device)
    started = time.perf_counter()
    for _ in range(batches):
        describer.describe(clips, prompt)
    synchronise(device)
    windows_per_s = setting.batch * batches / (time.perf_counter() - started)
    figures = {f"{setting.name}_windows_per_s": windows_per_s, f"{setting.name}_realtime_x": windows_per_s * WINDOW.hop_s}
    if device == "cuda":
        figures[f"{setting.name}_peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return figures


def grid(args: argparse.Namespace) -> list[Setting]:
    defaults = GRIDS[args.scale]
    axes = [getattr(args, axis) or defaults[axis] for axis in ("frames", "pixels", "tokens", "batch")]
    return [Setting(*values) for values in itertools.product(*axes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(GRIDS), default="full", help="full: the 3B at full size (default); tiny: a smoke test")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--frames", type=int, action="append", help="frames per window (repeatable; default: per scale)")
    parser.add_argument("--pixels", type=int, action="append", help="max_pixels per frame (repeatable)")
    parser.add_argument("--tokens", type=int, action="append", help="new tokens per description (repeatable)")
    parser.add_argument("--batch", type=int, action="append", help="windows per describe call (repeatable)")
    parser.add_argument("--batches", type=int, default=1, help="timed describe calls per setting (default 1)")
    parser.add_argument("--budget-s", type=float, help="start no new setting after this many seconds")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible; pass --scale tiny --device cpu for a smoke test")
    started = time.perf_counter()
    settings = grid(args)
    with tempfile.TemporaryDirectory() as scratch:
        processor, model = full_size_model(args.device) if args.scale == "full" else tiny_model(args.device, Path(scratch))
        device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
        print(f"# {args.scale} scale on {device_name}, torch {torch.__version__}, transformers {transformers.__version__}")
        n_parameters = sum(p.numel() for p in model.parameters())
        print(f"# {n_parameters / 1e6:,.1f} M parameters, {len(settings)} setting(s), {args.batches} timed call(s) each")
        warm_up = Setting(settings[0].frames, settings[0].pixels, tokens=2, batch=2)
        describer_for(processor, model, warm_up).describe(window_batch(warm_up.frames, warm_up.batch), build_prompt("free", PAIRS))
        for setting in settings:
            if args.budget_s is not None and time.perf_counter() - started > args.budget_s:
                print(f"# budget of {args.budget_s:.0f} s spent: {setting.name} and later settings not run")
                break
            print_figures(measure(processor, model, setting, args.batches, args.device))
            sys.stdout.flush()  # a run stopped early keeps what it measured


if __name__ == "__main__":
    main()
