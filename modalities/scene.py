"""Scene context expert: a vision-language model describes each window; a text-emotion head
scores the description.

For each window, frames taken from the chunk at `fps` (1 per second by default) and shrunk to
at most `max_pixels` go to Qwen2.5-VL as one video, with a request for a short paragraph on
the visible scene and the person's nonverbal behaviour and emotional state (docs/method.md,
scene context). Two prompt styles: `free` description, and `labelled`, where the paragraph must end by
naming one basic or compound label (of the profile's compound vocabulary). Windows are
batched through greedy generation, left-padded, at most `max_new_tokens` long.

The paragraph goes through the text-emotion head configured for this expert (model role
`emotion`, the same component the text expert uses), set to read descriptions (`text_kind`;
third-person prose, not speech), to give the 8 basic probabilities; the status note says which
head. The paragraph is returned as `evidence["scene"]`, the explanation users see in every output.

Stages (cer.modalities.base.StagedExpert): `preprocess` picks each window's frames (a `Clip`
per window that has any; the plan notes every window and its frame count); `forward` describes
a batch of clips in one processor and `generate` call, resizing and patching the frames on the
model's device, then scores the non-empty paragraphs with the head; `postprocess` turns each
window's (paragraph, probabilities) into its output, or says why it has none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np

from cer.core.devices import is_cuda
from cer.core.labels import BASIC, PAIRS
from cer.core.options import SceneOptions
from cer.core.sources import Source
from cer.core.types import Chunk, ExpertOutput, ExpertStatus, SampledFrame
from cer.modalities.base import Prepared, VocabularyExpert
from cer.modalities.loading import ModelLoadError, from_pretrained_strictly
from cer.modalities.text_emotion import load_text_emotion_head
from cer.modalities.text_kinds import example_sentences

NO_FRAMES = "no sampled frame in window"
NO_DESCRIPTION = "the vision-language model wrote no description"

# Our own wording. The model sees the window as one video before this text.
FREE_PROMPT = (
    "Watch this short clip. In one paragraph of two to four sentences, describe the setting, "
    "then the person's nonverbal behaviour (facial expression, gaze, head and body movement, "
    "gestures) and the emotional state it suggests."
)
LABELLED_ENDING = (
    " End the paragraph with the one label that fits the person best, chosen from these basic "
    "emotions: {basic}; or these blends of two emotions: {compound}."
)


def build_prompt(style: Literal["free", "labelled"], vocabulary: Mapping[str, tuple[str, str]]) -> str:
    """The request sent with every window; `labelled` lists the labels the paragraph must name.

    Other is left out of the choices: it names no emotion a viewer could recognise.
    """
    if style == "free":
        return FREE_PROMPT
    basic = ", ".join(name.lower() for name in BASIC if name != "Other")
    compound = ", ".join(name.replace("_", " ").lower() for name in vocabulary)
    return FREE_PROMPT + LABELLED_ENDING.format(basic=basic, compound=compound)


@dataclass(frozen=True)
class Clip:
    """The frames of one window shown to the model, and their rate."""

    frames: np.ndarray  # T x H x W x 3, uint8, RGB
    fps: float  # frames per second of video time, for the model's temporal positions


def window_clip(frames: Sequence[SampledFrame], duration_s: float, fps: float) -> Clip | None:
    """`fps` frames per second of the window, evenly spread (the middle of each equal share)."""
    if not frames:
        return None
    count = min(len(frames), max(1, round(duration_s * fps)))
    picked = [frames[int((k + 0.5) * len(frames) / count)].image for k in range(count)]
    return Clip(np.stack(picked), count / duration_s)


class SceneDescriber:
    """A loaded Qwen2.5-VL processor and model: batched, greedy video descriptions."""

    def __init__(self, processor: Any, model: Any, options: SceneOptions) -> None:
        self.processor = processor
        # Batched generation appends after the last position, so prompts must end there.
        self.processor.tokenizer.padding_side = "left"
        self.model = model.eval()
        self.options = options
        # Greedy, whatever the checkpoint's generation_config says (Qwen's samples): a window
        # must always get the same description. Changed on the model's own config, because
        # `generate` merges the checkpoint's values back into any config passed to it.
        model.generation_config.update(do_sample=False, temperature=None, top_p=None, top_k=None)

    @classmethod
    def load(cls, path: Path, device: str, options: SceneOptions) -> SceneDescriber:
        import torch
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        dtype = torch.bfloat16 if is_cuda(device) and options.half_precision else torch.float32
        try:
            processor = AutoProcessor.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not load the vision-language model's processor from {path}: {exc}") from exc
        model = from_pretrained_strictly(Qwen2_5_VLForConditionalGeneration, path, "the vision-language model", dtype=dtype)
        return cls(processor, model.to(device), options)

    def prompt_text(self, prompt: str) -> str:
        """The chat-formatted text of one request: the video, then the prompt."""
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def describe(self, clips: Sequence[Clip], prompt: str) -> list[str]:
        """One paragraph per clip (see `one_paragraph`): all the clips in one batch, one
        processor call and one `generate` call (the caller chooses the batch)."""
        import torch

        inputs = self.processor(
            text=[self.prompt_text(prompt)] * len(clips),
            videos=[clip.frames for clip in clips],
            # frames are already chosen; the metadata carries their rate for temporal positions
            video_metadata=[{"fps": clip.fps, "total_num_frames": len(clip.frames)} for clip in clips],
            do_sample_frames=False,
            size={"shortest_edge": self.options.min_pixels, "longest_edge": self.options.max_pixels},
            cap_pixels_per_frame=True,  # the reference (qwen-vl-utils) behaviour; never binds for a few frames
            # Qwen's video processor (torchvision) resizes and patches where the frames are: on the
            # model's GPU rather than on the CPU, which would otherwise hold up every batch
            device=str(self.model.device),
            padding=True,
            return_tensors="pt",
        ).to(self.model.device)
        with torch.inference_mode():
            tokens = self.model.generate(**inputs, max_new_tokens=self.options.max_new_tokens)
        answers = self.processor.batch_decode(tokens[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return [one_paragraph(answer) for answer in answers]


def one_paragraph(text: str) -> str:
    """The answer as one line of printable text: line breaks and control characters would
    split CSV rows and table cells, and say nothing about the scene."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


@dataclass(frozen=True)
class WindowShown:
    """What `postprocess` needs of one window: its index and how many frames the model saw."""

    index: int
    frames: int  # 0: the window had no sampled frame, so it has no clip among the items


# One item's result: the paragraph, and the head's 8 basic probabilities (None for an empty paragraph)
Described = tuple[str, np.ndarray | None]


class SceneExpert(VocabularyExpert):
    """Basic-emotion probabilities from a vision-language model's description of each window."""

    name = "scene"
    Options = SceneOptions
    options: SceneOptions
    roles = ("vlm", "emotion")  # vision-language model, text-emotion head

    def setup(self) -> None:
        self.prompt = build_prompt(self.options.prompt_style, self.vocabulary)

    def load(self) -> None:
        self.describer = SceneDescriber.load(self.model_path("vlm"), self.device, self.options)
        self.head = load_text_emotion_head(self.options, self.model_path("emotion"), self.device, self.cache_dir)

    @property
    def model_id(self) -> str:
        vlm, emotion = (Source.parse(self.config.models[role].source).name for role in self.roles)
        return f"{vlm} + {self.options.emotion_head}({emotion})"

    def status(self) -> ExpertStatus:
        return dataclasses.replace(super().status(), note=self.head.summary)

    def preprocess(self, chunk: Chunk) -> Prepared:
        """Items: the `Clip` of each window that has frames, in window order. Plan: every window
        as a `WindowShown`."""
        clips = [window_clip(chunk.frames_in(w), w.duration_s, self.options.fps) for w in chunk.windows]
        plan = [WindowShown(w.index, 0 if clip is None else len(clip.frames)) for w, clip in zip(chunk.windows, clips, strict=True)]
        return Prepared(items=[clip for clip in clips if clip is not None], plan=plan)

    def forward(self, items: Sequence[Clip]) -> list[Described]:
        paragraphs = self.describer.describe(items, self.prompt)
        written = [paragraph for paragraph in paragraphs if paragraph]
        probs = iter(self.head.score(written))
        return [(paragraph, next(probs) if paragraph else None) for paragraph in paragraphs]

    def postprocess(self, plan: list[WindowShown], results: list[Described]) -> list[ExpertOutput]:
        described = iter(results)  # one per window with frames, in window order
        outputs = []
        for window in plan:
            if not window.frames:
                outputs.append(self.absent(window.index, NO_FRAMES, scene=""))
                continue
            paragraph, probs = next(described)
            if probs is None:
                outputs.append(self.absent(window.index, NO_DESCRIPTION, scene="", frames=window.frames))
            else:
                outputs.append(self.present(window.index, probs, scene=paragraph, frames=window.frames))
        return outputs


# Qwen2.5-VL's chat markers and vision placeholders; the processor expands the pads.
CHAT_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# A minimal template that writes Qwen's chat layout (our own; the hub model ships its own).
TINY_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message.role }}{{ '\\n' }}"
    "{%- if message.content is string -%}{{ message.content }}"
    "{%- else -%}{%- for part in message.content -%}"
    "{%- if part.type == 'video' -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif part.type == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part.type == 'text' -%}{{ part.text }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}<|im_end|>{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant{{ '\\n' }}{%- endif -%}"
)


def build_tiny_processor() -> Any:
    """Qwen2.5-VL's processor classes (Qwen's image and video processing at their defaults)
    around a BPE tokenizer trained here, with the chat tokens and a chat template."""
    from transformers import Qwen2_5_VLProcessor, Qwen2Tokenizer, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    corpus = [FREE_PROMPT, build_prompt("labelled", PAIRS), *example_sentences()]
    # Trained from Qwen's own tokenizer pipeline (its pre-tokenizer and byte-level alphabet)
    tokenizer = Qwen2Tokenizer().train_new_from_iterator(corpus, vocab_size=600, new_special_tokens=list(CHAT_TOKENS), show_progress=False)
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=TINY_CHAT_TEMPLATE,
    )


class TextTokenIds(TypedDict):
    bos_token_id: int
    pad_token_id: int
    eos_token_id: int


# Keyword arguments of Qwen2_5_VLConfig, hence a TypedDict: a plain dict could hold any of its keys.
class VisionTokenIds(TypedDict):
    image_token_id: int
    video_token_id: int
    vision_start_token_id: int
    vision_end_token_id: int


def config_token_ids(tokenizer: Any) -> tuple[TextTokenIds, VisionTokenIds]:
    """The token ids a Qwen2.5-VL config names: (its text config's start / end / padding,
    its own vision placeholders)."""
    ids = dict(zip(CHAT_TOKENS, tokenizer.convert_tokens_to_ids(list(CHAT_TOKENS)), strict=True))
    text: TextTokenIds = {"bos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"]}
    vision: VisionTokenIds = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    return text, vision


def build_tiny_scene(target_dir: Path) -> None:
    """A random-weight Qwen2_5_VLForConditionalGeneration and the tiny processor, saved with
    `save_pretrained` so that `SceneDescriber.load` reads them exactly as it reads the hub
    model. Seeded; under 1 MB."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    processor = build_tiny_processor()
    processor.save_pretrained(str(target_dir))
    text_ids, vision_ids = config_token_ids(processor.tokenizer)
    # Weights far larger than a trained model's (std 0.5, not 0.02) so that the random model's
    # words depend on the frames and prompt instead of repeating one token.
    init = 0.5
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(processor.tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            initializer_range=init,
            # head_dim 16: the temporal / height / width rotary sections split its 8 frequencies
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
            **text_ids,
        ),
        # Qwen's patching (14 px patches, 2 x 2 merge, 2 frames per temporal patch), tiny widths
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            fullatt_block_indexes=[1],
            tokens_per_second=2,
            initializer_range=init,
        ),
        tie_word_embeddings=True,
        **vision_ids,
    )
    with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's random state
        torch.manual_seed(0)
        model = Qwen2_5_VLForConditionalGeneration(config)
    # The hub checkpoint's generation settings (sampling included), so the override to greedy is exercised
    model.generation_config = GenerationConfig(
        bos_token_id=text_ids["bos_token_id"],
        pad_token_id=text_ids["pad_token_id"],
        eos_token_id=[text_ids["eos_token_id"], text_ids["bos_token_id"]],  # <|im_end|>, <|endoftext|>
        do_sample=True,
        temperature=0.1,
        top_k=1,
        top_p=0.001,
        repetition_penalty=1.05,
    )
    # The published layout: the weights in shards with an index, as Qwen2.5-VL-3B-Instruct's
    # model-0000N-of-00002.safetensors (keys `model.*`, `visual.*`; no lm_head: tied embeddings)
    half_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2 / 1e6
    model.save_pretrained(str(target_dir), max_shard_size=f"{half_mb + 0.01:.2f}MB")
