"""CLIP ViT-B/32 at full size with random weights: frames per second end to end (preprocessing
and the forward pass) with open_clip's PIL transform and with cer's torch transform, and of the
forward pass alone.

    python bench/clip_speed.py [--frames 160] [--batch 20 --batch 160] [--repeat 3] [--device cuda]

No weights can be downloaded on the GPU machine; speed does not depend on the weights' values.
The model is open_clip's ViT-B-32 as the OpenAI weights want it (QuickGELU), fp16 on the GPU,
through the expert's own `ClipEncoder`; the frames are 960x540, a sampled frame at the default
`media.max_side`. 20 frames make one 4 s window at 5 fps. The issue's H200 figures before the
torch transform: 166 frames/s end to end at batch 20, 4,290 frames/s for the forward pass alone.
Prints `name: value` lines last, with the peak GPU memory.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from common import FRAME_SHAPE  # bench/, the script's folder

from cer.modalities.clip_labels import ClipEncoder
from cer.modalities.clip_transform import ClipTransform

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


def in_batches(encoder: ClipEncoder, frames: list[np.ndarray], batch: int) -> None:
    with torch.inference_mode():
        for start in range(0, len(frames), batch):
            encoder.encode_images(frames[start : start + batch])


def main() -> None:
    import open_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the point of this script) or cpu for a smoke test")
    parser.add_argument("--frames", type=int, default=160, help="frames per pass (160: one default chunk of 8 windows)")
    parser.add_argument("--batch", type=int, action="append", help="batch sizes (default: 20 and 160)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible; pass --device cpu for a smoke test")
    print(f"# device {torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}, torch {torch.__version__}")
    precision = "fp16" if args.device == "cuda" else "fp32"
    model, _, preprocess = open_clip.create_model_and_transforms(
        "ViT-B-32", pretrained=None, force_quick_gelu=True, precision=precision, device=args.device
    )
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, FRAME_SHAPE, dtype=np.uint8) for _ in range(args.frames)]
    transforms = {"pil": None, "torch": ClipTransform.from_config(model.visual.preprocess_cfg)}
    encoders = {name: ClipEncoder(model, preprocess, tokenizer, args.device, transform) for name, transform in transforms.items()}
    with torch.inference_mode():
        prepared = encoders["torch"].pixels(frames)
    figures: dict[str, float] = {}
    for batch in args.batch or [WINDOW_FRAMES, 160]:
        for name, encoder in encoders.items():
            fps = frames_per_second(lambda encoder=encoder, batch=batch: in_batches(encoder, frames, batch), len(frames), args.repeat)
            figures[f"clip_{name}_frames_per_s_batch{batch}"] = fps

        def forward_only(batch: int = batch) -> None:
            with torch.inference_mode():
                for start in range(0, len(prepared), batch):
                    model.encode_image(prepared[start : start + batch], normalize=True)

        figures[f"clip_forward_frames_per_s_batch{batch}"] = frames_per_second(forward_only, len(frames), args.repeat)
        pil, torch_path = (figures[f"clip_{name}_frames_per_s_batch{batch}"] for name in ("pil", "torch"))
        figures[f"clip_torch_over_pil_batch{batch}"] = torch_path / pil
    if args.device == "cuda":
        figures["clip_peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    for name, value in figures.items():
        print(f"{name}: {value:.1f}")


if __name__ == "__main__":
    main()
