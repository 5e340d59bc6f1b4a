"""The `options` schema of each expert, apart from the experts themselves.

A profile's `experts.NAME.options` is validated against these when the profile loads. They
import nothing but pydantic and data (labels, text kinds), so that loading a profile imports
no torch, OpenCV or h5py (the expert modules do). Each expert class names its own
(`Options`); the registry maps expert names to them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cer.core.labels import BASIC

# What the zero-shot text head reads: a transcript of speech, or a third-person description.
TextKind = Literal["transcript", "description"]

# --- the face experts (static_face, dynamic_face) ---

# The least share of a window's sampled frames that must show the main face for the face
# experts to speak for the window. Half: with windows that hop by half their length (4 s
# every 2 s), a face seen for at least one hop without a break still has a window of its
# own, and 10 of 20 frames (2 s at 5 fps) are one whole sequence of the EmoAffectNet LSTM.
# Measured with the offline detector on ../shared/data: single_face.mp4 1.00;
# face_noface.mov 0.60, 0.10 (the face leaves at 2.4 s), 0.00; no_face.mp4 0.00.
MIN_FACE_SHARE = 0.5

ArchitectureName = Literal["emoaffectnet_resnet50", "mini_xception"]


ResizeRule = Literal["opencv_floor", "pil_nearest"]


class FaceOptions(BaseModel):
    """What the two face experts share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: ArchitectureName = "emoaffectnet_resnet50"  # which classifier the `classifier` (`backbone`) model is
    batch_size: int = Field(default=32, ge=1)  # face crops per forward pass
    min_face_share: float = Field(default=MIN_FACE_SHARE, ge=0, le=1)  # below it a window is absent
    # How EmoAffectNet's face is cut and resized (static_face.py tells the sources):
    # `detector_box` + `opencv_floor`, the 2024 AVCER code's: the detector's box as it is,
    # nearest-neighbour by OpenCV's rule; `corner_widened` + `pil_nearest`, the 2025 code's (the
    # `paper` profile): the box widened by 10 % of its corner coordinates and clipped to the
    # frame, resized by PIL's nearest filter, which samples pixel centres
    crop_rule: Literal["detector_box", "corner_widened"] = "detector_box"
    resize_rule: ResizeRule = "opencv_floor"

    @model_validator(mode="after")
    def _rules_of_emoaffectnet(self) -> FaceOptions:
        if self.architecture != "emoaffectnet_resnet50" and (self.crop_rule, self.resize_rule) != ("detector_box", "opencv_floor"):
            raise ValueError("crop_rule and resize_rule choose among EmoAffectNet's protocols: set architecture to emoaffectnet_resnet50")
        return self


class StaticFaceOptions(FaceOptions):
    pass


class DynamicFaceOptions(FaceOptions):
    method: Literal["lstm", "apex_pooling"] = "lstm"
    # Softmax temperature over the frames' expressiveness (peak non-neutral probability, 0..1):
    # small values follow the apex frame, large ones approach the plain mean.
    apex_temperature: float = Field(default=0.1, gt=0)
    # The LSTM's sequences slide by 5 over a window's face frames: until one reaches the last
    # frame (the 2024 code: 3 sequences over 20 frames), or from every 5th frame, the trailing
    # ones padded (the 2025 code, the `paper` profile: 4 over 20)
    trailing_sequences: bool = False

    @model_validator(mode="after")
    def _lstm_reads_resnet_features(self) -> DynamicFaceOptions:
        if self.method == "lstm" and self.architecture != "emoaffectnet_resnet50":
            raise ValueError("method lstm reads EmoAffectNet ResNet-50 features: set architecture to emoaffectnet_resnet50")
        return self


# --- audio ---


class AudioOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vad_threshold: float = Field(default=0.5, gt=0, lt=1)  # Silero speech probability above which a frame is speech
    min_speech_s: float = Field(default=0.25, ge=0)  # a window with less detected speech (seconds) counts as silent
    batch_size: int = Field(default=16, ge=1)  # speech stretches per forward pass of the speech-emotion model


# --- the experts that read text: text (transcripts) and scene (descriptions) ---


class TextHeadOptions(BaseModel):
    """The options of a text-emotion head; the experts that read text extend them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    emotion_head: Literal["classifier", "zero_shot"] = "classifier"  # must match the `emotion` model
    # What the head reads: each expert sets its own default (text: transcript, scene: description)
    text_kind: TextKind = "transcript"
    # zero_shot: log-odds added to Neutral after calibration (a prior: most speech is neutral);
    # None: the kind's own, chosen on development data
    neutral_log_odds: float | None = None

    @model_validator(mode="after")
    def _prior_needs_zero_shot(self) -> TextHeadOptions:
        # a fine-tuned classifier's probabilities are its own; a prior set for it would be ignored silently
        if self.neutral_log_odds is not None and self.emotion_head != "zero_shot":
            raise ValueError("neutral_log_odds applies to emotion_head: zero_shot only")
        return self


class TextOptions(TextHeadOptions):
    asr_engine: Literal["openai-whisper", "faster-whisper"] = "openai-whisper"  # must match the `asr` model's format
    text_kind: TextKind = "transcript"  # what the emotion head reads: this expert hears speech
    # Spoken language given to Whisper; None lets Whisper detect it per chunk. English by
    # default because the emotion heads read English.
    language: str | None = "en"
    beam_size: int = Field(default=5, ge=1)  # Whisper beam search width
    # Retry a segment that fails Whisper's quality checks at higher sampling temperatures
    # (Whisper's default). Off: one deterministic beam search per segment.
    asr_fallback: bool = True
    compute_type: str = "int8"  # faster-whisper (CTranslate2) weight precision
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)  # Silero speech probability above which a frame is speech
    # Chunk recordings per forward call: faster-whisper transcribes them in one batch (openai-whisper
    # one by one), the emotion head then scores all their windows' transcripts together
    batch_size: int = Field(default=8, ge=1)


class SceneOptions(TextHeadOptions):
    text_kind: TextKind = "description"  # what the emotion head reads: the model's third-person paragraph
    prompt_style: Literal["free", "labelled"] = "free"
    fps: float = Field(default=1.0, gt=0)  # frames per second of the window shown to the model (taken from the sampled frames)
    # Pixel budget per frame (height x width after resizing, both multiples of 28). Qwen's own
    # video examples use 360 x 420; more pixels cost vision tokens without helping a description.
    max_pixels: int = Field(default=360 * 420, ge=28 * 28)
    min_pixels: int = Field(default=28 * 28 * 4, ge=28 * 28)  # small frames are enlarged to at least this
    # Windows per `generate` call (the executors gather them from several chunks and videos).
    # Each decoding step reads all the weights whatever the batch, so larger batches share that
    # cost: on an H100 with plain transformers generate, 4 frames at 336 px and 60 new tokens gave
    # 23.7 windows/s at batch 128; batch 8 at this class's defaults, 2.1. bench/scene_sweep.py measures a grid.
    batch_size: int = Field(default=32, ge=1)
    max_new_tokens: int = Field(default=128, ge=1)  # bounds the paragraph (about 90 English words)
    half_precision: bool = True  # bfloat16 weights on CUDA; the CPU always runs float32

    @model_validator(mode="after")
    def _pixel_range(self) -> SceneOptions:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels})")
        return self


# --- clip_labels ---

# Our own wording. `{}` takes a label's words ("happy", "happily surprised"); no article
# precedes it, so every label reads correctly.
DEFAULT_TEMPLATES = (
    "a photo of a person who looks {}.",
    "a film still of someone feeling {}.",
    "the facial expression of someone who is {}.",
    "a face that is {}.",
)
DEFAULT_BASIC_WORDS = {
    "Neutral": "neutral",
    "Anger": "angry",
    "Disgust": "disgusted",
    "Fear": "fearful",
    "Happiness": "happy",
    "Sadness": "sad",
    "Surprise": "surprised",
}


class ClipLabelsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    templates: tuple[str, ...] = DEFAULT_TEMPLATES  # prompt ensemble; each holds `{}` for the label's words
    # BASIC label -> its words in the prompts. Labels left out (Other, by default) get probability 0.
    basic_words: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_BASIC_WORDS))
    # compound -> its words; by default the compound's name in lower case, `_` read as a space
    compound_words: dict[str, str] = Field(default_factory=dict)
    batch_size: int = Field(default=32, ge=1)  # frames per forward pass
    half_precision: bool = True  # fp16 weights and inputs on CUDA; the CPU always runs fp32
    # Where frames are resized, cropped and normalised: auto = torch on CUDA (modalities/clip_transform.py, on
    # the GPU), open_clip's own PIL transform on the CPU, where the reference numerics are kept exactly
    preprocess: Literal["auto", "torch", "pil"] = "auto"
    # For weights given as one file (a pinned `hf:` file or a path): the open_clip architecture
    # they fit, and the pretrained tag whose preprocessing and activation (QuickGELU) they need
    architecture: str = "ViT-B-32"
    pretrained_tag: str | None = "openai"
    # How cosine similarities become label logits: `learned` multiplies them by CLIP's learned
    # scale (about 100, the model's own calibration); `raw` takes the softmax of the cosines
    # themselves, as the authors' code does (nearly uniform probabilities: CLIP then weighs
    # little in the fused mean)
    similarity: Literal["learned", "raw"] = "learned"

    @field_validator("templates")
    @classmethod
    def _one_slot_each(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one prompt template is needed")
        for template in value:
            if template.count("{}") != 1:
                raise ValueError(f"template {template!r} must hold `{{}}` exactly once (where the label's words go)")
        return value

    @field_validator("basic_words")
    @classmethod
    def _known_labels(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(BASIC))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not among the basic labels {', '.join(BASIC)}")
        if len(value) < 2:
            raise ValueError("at least two basic labels need words (a softmax over one label says nothing)")
        return value
