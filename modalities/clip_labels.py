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

Each sampled frame is embedded once per chunk, however many overlapping windows hold it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from torch import nn

from cer.modalities.base import VocabularyExpert, pick_device
from cer.modalities.options import ClipLabelsOptions
from cer.modalities.sources import ModelNotAvailable, Source, resolve_model
from cer.pipeline.config import ExpertConfig, ModelRef
from cer.pipeline.labels import BASIC, PAIRS
from cer.pipeline.types import Chunk, ExpertOutput, LabelEmbeddings

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
    """A loaded open_clip model: batched, L2-normalised image and text embeddings."""

    def __init__(
        self,
        model: ClipModel,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[..., torch.Tensor],
        device: str,
        batch_size: int,
    ) -> None:
        model.eval()  # in place
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        # open_clip's fp16 keeps embeddings and norms in fp32 and halves only the matrix weights,
        # so the input dtype must follow a convolution / linear layer, not the first parameter
        self.dtype = next(m.weight.dtype for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        self.logit_scale = float(model.logit_scale.detach().exp())  # CLIP's learned inverse temperature

    @torch.inference_mode()
    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """[n, d] embeddings of RGB uint8 images."""
        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack([self.preprocess(Image.fromarray(image)) for image in images[start : start + self.batch_size]])
            features = self.model.encode_image(batch.to(self.device, self.dtype), normalize=True)
            rows.append(features.float().cpu().numpy())
        return np.concatenate(rows)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """[n, d] embeddings of text prompts."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float().cpu().numpy()


def load_clip(ref: ModelRef, cache_dir: Path, device: str, half_precision: bool, batch_size: int) -> ClipEncoder:
    """Load a CLIP model through open_clip's factory, which raises when the weights do not load.

    `open_clip:ARCH@TAG` loads the built-in architecture with the tag's checkpoint and its
    preprocessing (and QuickGELU where the tag was trained with it). Any other source must
    resolve to a folder in open_clip's hub layout (`open_clip_config.json` beside the
    weights): an `hf:` repository or the tiny model.
    """
    import open_clip

    source = ref.source
    path = resolve_model(ref, cache_dir)
    precision = "fp16" if half_precision and device == "cuda" else "fp32"
    parsed = Source.parse(source)
    kwargs: dict[str, Any] = {}
    if parsed.kind == "open_clip":
        tag = open_clip.get_pretrained_cfg(parsed.name, parsed.inner)
        name = parsed.name
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
        raise ModelNotAvailable(f"{source}: expected open_clip:ARCH@TAG or a folder holding {OPEN_CLIP_CONFIG} and the weights")
    model, preprocess = open_clip.create_model_from_pretrained(name, precision=precision, device=device, **kwargs)
    return ClipEncoder(model, preprocess, open_clip.get_tokenizer(name), device, batch_size)


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


class ClipLabelsExpert(VocabularyExpert):
    """Zero-shot basic (and compound) probabilities from CLIP image-text similarity of whole frames."""

    name = "clip_labels"
    Options = ClipLabelsOptions
    options: ClipLabelsOptions

    def __init__(self, config: ExpertConfig, cache_dir: Path, vocabulary: Mapping[str, tuple[str, str]] = PAIRS) -> None:
        super().__init__(config, cache_dir, vocabulary)
        if "clip" not in config.models:
            raise ValueError(f"experts.{self.name}.models.clip is not set; the expert needs it")
        wordless = sorted({b for pair in self.vocabulary.values() for b in pair} - set(self.options.basic_words))
        if wordless:  # PFSA compares compounds with these labels' text embeddings
            raise ValueError(f"experts.{self.name}.options.basic_words lacks {', '.join(wordless)}, used by the compound vocabulary")
        options = self.options
        self.encoder = load_clip(config.models["clip"], cache_dir, pick_device(config.device), options.half_precision, options.batch_size)
        self.labels = LabelEmbeddings(
            basic=label_embeddings(self.encoder, options.templates, options.basic_words),
            compound=label_embeddings(self.encoder, options.templates, compound_words(self.vocabulary, options.compound_words)),
        )

    @property
    def model_id(self) -> str:
        return self.config.models["clip"].source

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        frames = {f.frame_index: f.image for w in chunk.windows for f in chunk.frames_in(w)}
        images = dict(zip(frames, self.encoder.encode_images(list(frames.values())), strict=True)) if frames else {}
        basic_names, basic_text = list(self.labels.basic), np.stack(list(self.labels.basic.values()))
        compound_names, compound_text = list(self.labels.compound), np.stack(list(self.labels.compound.values()))
        outputs = []
        for window in chunk.windows:
            indices = [f.frame_index for f in chunk.frames_in(window)]
            if not indices:
                outputs.append(self.absent(window.index, NO_FRAMES, frames=0))
                continue
            window_images = np.stack([images[i] for i in indices])
            basic = label_probabilities(window_images, basic_text, self.encoder.logit_scale).mean(axis=0)
            compound = label_probabilities(window_images, compound_text, self.encoder.logit_scale).mean(axis=0)
            probs = np.zeros(len(BASIC))
            probs[[BASIC.index(name) for name in basic_names]] = basic
            output = self.present(
                window.index,
                probs,
                frames=len(indices),
                compound_probs={name: round(float(p), 4) for name, p in zip(compound_names, compound, strict=True)},
            )
            mean = window_images.mean(axis=0)
            output.embedding = mean / np.linalg.norm(mean)
            output.label_embeddings = self.labels
            outputs.append(output)
        return outputs


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
