"""CLIP label matching expert: whole sampled frames against text descriptions of the labels.

Each label is described by a small ensemble of prompt templates; their text embeddings are
averaged into one label embedding at start-up. For a window, every sampled frame's image
embedding is compared with the label embeddings:

    p_f = softmax(s * cos(image_f, label))     s = exp(logit_scale), CLIP's learned scale
    p   = mean over the window's frames f of p_f

The authors applied the softmax to raw cosines, which leaves the distribution nearly
uniform; the learned scale (100 for OpenAI's ViT-B/32) is what CLIP was trained with
(docs/method.md). The 8 basic labels give the expert's probabilities (labels without words, Other
by default, get 0); the compound vocabulary is scored the same way and reported as evidence.
The window's mean image embedding and the label embeddings go to PFSA (fusion.compound).

The stages: `preprocess` takes the sampled frames of the chunk's windows, each frame once
however many overlapping windows hold it (uint8 RGB arrays: the items), and per window their
positions (the plan). `forward` resizes, crops and normalises a batch of frames (open_clip's
PIL transform on the CPU, or the same steps in torch on the GPU: cer.modalities.clip_transform)
and gives one normalised image embedding per frame. `postprocess` scores each window's frames.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from PIL import Image
from torch import nn

from cer.core.config import ModelRef
from cer.core.devices import is_cuda
from cer.core.labels import BASIC
from cer.core.options import ClipLabelsOptions
from cer.core.sources import ModelNotAvailable, Source, resolve_model
from cer.core.types import Chunk, ExpertOutput, LabelEmbeddings
from cer.modalities.base import Prepared, VocabularyExpert
from cer.modalities.clip_transform import ClipTransform
from cer.modalities.loading import ModelLoadError

NO_FRAMES = "no sampled frame in window"
OPEN_CLIP_CONFIG = "open_clip_config.json"  # open_clip's hub layout: this file beside the weights
OPEN_CLIP_WEIGHTS = "open_clip_model.safetensors"


class ClipModel(Protocol):
    """What the encoder uses of an open_clip model (an nn.Module: CLIP, CustomTextCLIP, CoCa).
    Typed as nn.Module, its methods would read as `Tensor | Module` attributes."""

    @property
    def logit_scale(self) -> torch.Tensor: ...

    def eval(self) -> object: ...

    def modules(self) -> Iterator[nn.Module]: ...

    def encode_image(self, image: torch.Tensor, normalize: bool = ...) -> torch.Tensor: ...

    def encode_text(self, text: torch.Tensor, normalize: bool = ...) -> torch.Tensor: ...


class ClipEncoder:
    """A loaded open_clip model: L2-normalised image and text embeddings, one batch per call.
    Callers run it under `torch.inference_mode`."""

    def __init__(
        self,
        model: ClipModel,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[..., torch.Tensor],
        device: str,
        transform: ClipTransform | None = None,
        similarity: Literal["learned", "raw"] = "learned",
    ) -> None:
        """`preprocess` is open_clip's PIL transform; `transform`, the same steps in torch on the
        device, replaces it where given. `similarity` says how cosines become logits: times
        CLIP's learned scale, or raw as in the authors' code."""
        model.eval()  # in place
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.transform = transform
        # open_clip's fp16 keeps embeddings and norms in fp32 and halves only the matrix weights,
        # so the input dtype must follow a convolution / linear layer, not the first parameter
        self.dtype = next(m.weight.dtype for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        # CLIP's learned inverse temperature (about 100), or 1: the authors' code takes the softmax
        # of the raw cosines, which leaves the probabilities close to uniform
        self.logit_scale = float(model.logit_scale.detach().exp()) if similarity == "learned" else 1.0

    def pixels(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """The image tower's input [n, 3, h, w] on the device, from RGB uint8 images."""
        if self.transform is not None:
            return self.transform(images, self.device, self.dtype)
        return torch.stack([self.preprocess(Image.fromarray(image)) for image in images]).to(self.device, self.dtype)

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """[n, d] embeddings of RGB uint8 images."""
        return self.model.encode_image(self.pixels(images), normalize=True).float().cpu().numpy()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """[n, d] embeddings of text prompts."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float().cpu().numpy()


def load_clip(ref: ModelRef, cache_dir: Path, device: str, options: ClipLabelsOptions) -> ClipEncoder:
    """Load a CLIP model through open_clip's factory, strictly (a key that does not fit raises).

    A single weights file (the default profile pins OpenAI's ViT-B/32 weights as one file of a
    hub repository at a commit) is loaded into `options.architecture`, with the preprocessing and
    activation of `options.pretrained_tag` (OpenAI's weights need QuickGELU, which open_clip
    2.29 and later no longer turn on by themselves). `open_clip:ARCH@TAG` takes the tag's
    weights from open_clip's registry (unpinned). Any other source must resolve to a folder in
    open_clip's hub layout (`open_clip_config.json` beside the weights): the tiny model.
    """
    import open_clip

    path = resolve_model(ref, cache_dir)
    precision = "fp16" if options.half_precision and is_cuda(device) else "fp32"
    parsed = Source.parse(ref.source)
    kwargs: dict[str, Any] = {}
    if parsed.kind == "open_clip" or path.is_file():
        name, tag_name = (parsed.name, parsed.inner) if parsed.kind == "open_clip" else (options.architecture, options.pretrained_tag)
        tag = open_clip.get_pretrained_cfg(name, tag_name) if tag_name else {}
        if tag_name and not tag:
            raise ModelNotAvailable(f"open_clip has no pretrained tag {tag_name!r} for {name!r}")
        kwargs = dict(
            pretrained=str(path),
            force_quick_gelu=tag.get("quick_gelu", False),
            image_mean=tag.get("mean"),
            image_std=tag.get("std"),
            image_interpolation=tag.get("interpolation"),
            image_resize_mode=tag.get("resize_mode"),
        )
    elif (path / OPEN_CLIP_CONFIG).is_file():
        name = f"local-dir:{path}"
    else:
        raise ModelNotAvailable(f"{ref.source}: expected one weights file, open_clip:ARCH@TAG or a folder holding {OPEN_CLIP_CONFIG}")
    try:
        model, pil_transform = open_clip.create_model_from_pretrained(name, precision=precision, device=device, **kwargs)
    except RuntimeError as exc:  # open_clip loads with strict=True: torch names the keys that do not fit
        raise ModelLoadError(f"CLIP {name} does not load exactly from {path}: {exc}") from exc
    in_torch = options.preprocess == "torch" or (options.preprocess == "auto" and torch.device(device).type == "cuda")
    transform = ClipTransform.from_config(model.visual.preprocess_cfg) if in_torch else None
    return ClipEncoder(model, pil_transform, open_clip.get_tokenizer(name), device, transform, options.similarity)


def label_embeddings(encoder: ClipEncoder, templates: Sequence[str], words: Mapping[str, str]) -> dict[str, np.ndarray]:
    """One embedding per label: the mean of its normalised prompt embeddings, renormalised."""
    prompts = [template.format(text) for text in words.values() for template in templates]
    per_prompt = encoder.encode_texts(prompts).reshape(len(words), len(templates), -1)
    means = per_prompt.mean(axis=1)
    return dict(zip(words, means / np.linalg.norm(means, axis=1, keepdims=True), strict=True))


def label_probabilities(images: np.ndarray, labels: np.ndarray, logit_scale: float) -> np.ndarray:
    """[n_images, n_labels]: softmax over labels of the scaled cosine similarities."""
    logits = logit_scale * images @ labels.T
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def compound_words(vocabulary: Mapping[str, tuple[str, str]], overrides: Mapping[str, str]) -> dict[str, str]:
    """The prompt words of each compound: `Happily_Surprised` reads "happily surprised"."""
    unknown = sorted(set(overrides) - set(vocabulary))
    if unknown:
        raise ValueError(f"compound_words names {', '.join(unknown)}, not in the compound vocabulary")
    return {name: overrides.get(name, name.replace("_", " ").lower()) for name in vocabulary}


@dataclass(frozen=True)
class WindowFrames:
    """The plan for one window: where its sampled frames are among the chunk's items."""

    window_index: int
    positions: tuple[int, ...]  # empty: the window holds no sampled frame


class ClipLabelsExpert(VocabularyExpert):
    """Zero-shot basic (and compound) probabilities from CLIP image-text similarity of whole frames."""

    name = "clip_labels"
    Options = ClipLabelsOptions
    options: ClipLabelsOptions
    roles = ("clip",)
    encoder: ClipEncoder
    labels: LabelEmbeddings

    def setup(self) -> None:
        wordless = sorted({b for pair in self.vocabulary.values() for b in pair} - set(self.options.basic_words))
        if wordless:  # PFSA compares compounds with these labels' text embeddings
            raise ValueError(f"experts.{self.name}.options.basic_words lacks {', '.join(wordless)}, used by the compound vocabulary")
        self.compound_words = compound_words(self.vocabulary, self.options.compound_words)

    def load(self) -> None:
        options = self.options
        self.encoder = load_clip(self.config.models["clip"], self.cache_dir, self.device, options)
        with torch.inference_mode():  # the text tower runs here once, outside `run_items`
            self.labels = LabelEmbeddings(
                basic=label_embeddings(self.encoder, options.templates, options.basic_words),
                compound=label_embeddings(self.encoder, options.templates, self.compound_words),
            )

    @property
    def model_id(self) -> str:
        return self.config.models["clip"].source

    def preprocess(self, chunk: Chunk) -> Prepared:
        """Items: the sampled frames of the chunk's windows, each once; plan: each window's `WindowFrames`."""
        frames = {f.frame_index: f.image for w in chunk.windows for f in chunk.frames_in(w)}
        position = {frame_index: i for i, frame_index in enumerate(frames)}
        plan = [WindowFrames(w.index, tuple(position[f.frame_index] for f in chunk.frames_in(w))) for w in chunk.windows]
        return Prepared(items=list(frames.values()), plan=plan)

    def forward(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One L2-normalised image embedding per frame."""
        return list(self.encoder.encode_images(items))

    def postprocess(self, plan: list[WindowFrames], results: list[np.ndarray]) -> list[ExpertOutput]:
        # the label embeddings as matrices, stacked once for the chunk's windows
        basic_text, compound_text = (np.stack(list(labels.values())) for labels in (self.labels.basic, self.labels.compound))
        return [
            self.scored(window.window_index, np.stack([results[i] for i in window.positions]), basic_text, compound_text)
            if window.positions
            else self.absent(window.window_index, NO_FRAMES, frames=0)
            for window in plan
        ]

    def scored(self, window_index: int, images: np.ndarray, basic_text: np.ndarray, compound_text: np.ndarray) -> ExpertOutput:
        """The output of a window from its frames' image embeddings [n, d] and the label matrices."""
        basic = label_probabilities(images, basic_text, self.encoder.logit_scale).mean(axis=0)
        compound = label_probabilities(images, compound_text, self.encoder.logit_scale).mean(axis=0)
        probs = np.zeros(len(BASIC))
        probs[[BASIC.index(name) for name in self.labels.basic]] = basic
        output = self.present(
            window_index,
            probs,
            frames=len(images),
            compound_probs={name: round(float(p), 4) for name, p in zip(self.labels.compound, compound, strict=True)},
        )
        mean = images.mean(axis=0)
        output.embedding = mean / np.linalg.norm(mean)
        output.label_embeddings = self.labels
        return output


# A miniature CLIP of the default architecture family (ViT image tower, causal text tower,
# OpenAI's BPE vocabulary and 224 px input), small enough to build in a second.
TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "patch_size": 32, "layers": 2, "width": 64, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build_tiny_clip(target_dir: Path) -> None:
    """A random-weight CLIP saved in open_clip's hub layout (config JSON + safetensors), seeded."""
    import open_clip
    from safetensors.torch import save_file

    with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's random state
        torch.manual_seed(0)
        model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    (target_dir / OPEN_CLIP_CONFIG).write_text(json.dumps({"model_cfg": TINY_CLIP_CONFIG, "preprocess_cfg": {}}, indent=1))
    save_file(model.state_dict(), str(target_dir / OPEN_CLIP_WEIGHTS))
