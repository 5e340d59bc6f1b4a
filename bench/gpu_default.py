"""The `default` profile's GPU-bound architectures at full size with random weights: speed and memory.

    python bench/gpu_default.py [--frames 160] [--batch 20 --batch 160] [--repeat 3] [--device cuda]

No weights can be downloaded on the GPU machine; speed and memory do not depend on the
weights' values, so each architecture is built with random ones. open_clip is not installed
there: carry its wheel and ftfy's (here `pip download --no-deps -d wheels open_clip_torch==3.3.0
ftfy wcwidth`, there `pip install --no-deps wheels/*.whl`).

- CLIP: open_clip ViT-B-32 as the OpenAI weights want it (QuickGELU), fp16 on the GPU, through
  the expert's own `ClipEncoder`. Frames per second of `encode_images` (PIL preprocessing of
  960x540 frames on the CPU, then the forward pass), and of the forward pass alone on
  prepared tensors, at each batch size; 20 frames make one 4 s window at 5 fps.
- Scene: Qwen2.5-VL-3B-Instruct's architecture (dimensions from its hub config.json), bf16 on
  the GPU, with the tiny tokenizer and Qwen's image / video processors (built here, nothing
  downloaded), through the expert's own `SceneDescriber` with the default profile's options:
  windows per second at each `--scene-batch` (default 1 and 8), each window 4 frames of
  960x540 shrunk to 360x420 pixels. Random weights never stop on their own, so every
  description runs to `--scene-tokens`: the worst case. About two minutes on an H100.

Each benchmark runs after a reset of the peak-memory counter, which is then reported.
Prints `name: value` lines last.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from cer.modalities.clip_labels import ClipEncoder

FRAME_SHAPE = (540, 960, 3)  # a sampled frame after the default `media.max_side: 960`
WINDOW_FRAMES = 20  # 4 s at the default 5 fps


def frames_per_second(run: Callable[[], object], n_frames: int, repeat: int) -> float:
    run()  # warm-up: cuDNN autotuning and allocator growth are not per-frame costs
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeat):
        run()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return n_frames * repeat / (time.perf_counter() - started)


def bench_clip(args: argparse.Namespace) -> dict[str, float]:
    import open_clip

    precision = "fp16" if args.device == "cuda" else "fp32"
    model, _, preprocess = open_clip.create_model_and_transforms(
        "ViT-B-32", pretrained=None, force_quick_gelu=True, precision=precision, device=args.device
    )
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, FRAME_SHAPE, dtype=np.uint8) for _ in range(args.frames)]
    prepared = torch.stack([preprocess(Image.fromarray(f)) for f in frames])
    figures = {}
    for batch in args.batch:
        encoder = ClipEncoder(model, preprocess, tokenizer, args.device, batch)
        fps = frames_per_second(lambda encoder=encoder: encoder.encode_images(frames), len(frames), args.repeat)
        figures[f"clip_frames_per_s_batch{batch}"] = fps
        figures[f"clip_ms_per_window_batch{batch}"] = 1000 * WINDOW_FRAMES / fps

        def forward_only(batch: int = batch, encoder: ClipEncoder = encoder) -> None:
            with torch.inference_mode():
                for start in range(0, len(prepared), batch):
                    model.encode_image(prepared[start : start + batch].to(args.device, encoder.dtype), normalize=True)

        figures[f"clip_forward_frames_per_s_batch{batch}"] = frames_per_second(forward_only, len(frames), args.repeat)
    return figures


# Qwen2.5-VL-3B-Instruct's dimensions, from its config.json on the hub (the vision tower's
# depth, widths, window and full-attention blocks are the class defaults that file relies on);
# it ties the output layer to the input embeddings (`tie_word_embeddings` below).
QWEN25_VL_3B: dict[str, dict] = {
    "text_config": {
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 128000,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
    },
    "vision_config": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    },
}


def bench_scene(args: argparse.Namespace) -> dict[str, float]:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from cer.modalities.options import SceneOptions
    from cer.modalities.scene import Clip, SceneDescriber, build_prompt, build_tiny_processor, config_token_ids
    from cer.pipeline.labels import PAIRS

    processor = build_tiny_processor()  # Qwen's processing; its small vocabulary indexes the full-size table
    text_ids, vision_ids = config_token_ids(processor.tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={**QWEN25_VL_3B["text_config"], **text_ids},
        vision_config=QWEN25_VL_3B["vision_config"],
        tie_word_embeddings=True,
        **vision_ids,
    )
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    with torch.device(args.device):  # built in place at its final precision: no fp32 copy in the peak
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = None  # run every description to `--scene-tokens`
    rng = np.random.default_rng(0)
    clips = [Clip(rng.integers(0, 255, (4, *FRAME_SHAPE), dtype=np.uint8), fps=1.0) for _ in range(args.scene_windows)]
    prompt = build_prompt("free", PAIRS)
    figures = {"scene_new_tokens_per_window": float(args.scene_tokens)}
    for batch in args.scene_batch or [1, 8]:
        describer = SceneDescriber(processor, model, SceneOptions(batch_size=batch, max_new_tokens=args.scene_tokens))
        windows_per_s = frames_per_second(lambda describer=describer: describer.describe(clips, prompt), len(clips), args.scene_repeat)
        figures[f"scene_windows_per_s_batch{batch}"] = windows_per_s
        figures[f"scene_ms_per_window_batch{batch}"] = 1000 / windows_per_s
    return figures


# name -> benchmark; each returns its `name: value` figures
BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "clip": bench_clip,
    "scene": bench_scene,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the point of this script) or cpu for a smoke test")
    parser.add_argument("--frames", type=int, default=160, help="frames per pass (160: one default chunk of 8 windows)")
    parser.add_argument("--batch", type=int, action="append", help="batch sizes (default: 20 and 160)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scene-windows", type=int, default=8, help="windows per pass (8: one default chunk)")
    parser.add_argument("--scene-batch", type=int, action="append", help="windows per generate call (default: 1 and 8)")
    parser.add_argument("--scene-tokens", type=int, default=128, help="tokens written per window (the default max_new_tokens)")
    parser.add_argument("--scene-repeat", type=int, default=1, help="timed passes after the warm-up pass")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these benchmarks")
    args = parser.parse_args()
    args.batch = args.batch or [WINDOW_FRAMES, 160]
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible; pass --device cpu for a smoke test")
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"# device {device_name}, torch {torch.__version__}")
    figures: dict[str, float] = {}
    for name in args.only or BENCHMARKS:
        if args.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        figures.update(BENCHMARKS[name](args))
        if args.device == "cuda":
            figures[f"{name}_peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    for name, value in figures.items():
        print(f"{name}: {value:.1f}")


if __name__ == "__main__":
    main()
