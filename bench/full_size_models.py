"""The `default` profile's models at full size with random weights, where the `tiny` profile looks for its models.

    from full_size_models import build_full_size_models  # bench/, the script's folder
    build_full_size_models(cache_dir, "cuda")  # then run the `tiny` profile with that cache_dir

For bench/gpu_e2e.py, which runs the whole pipeline on the GPU machine, where nothing can be
downloaded. Each builder writes CACHE/tiny/NAME for a name of `TINY_BUILDERS`, as `cer models
make-tiny` does (cer.modalities.tiny): a model of the class the tiny builder writes, in the same
on-disk format, so the `tiny` profile's sources and loading code read it unchanged; but with
the dimensions of the model the `default` profile loads. Speed and memory depend on the
dimensions, not on the weights' values, so random (seeded) weights measure them without the
download; what the models answer is meaningless.

Where the tiny builder writes more than the model (a tokenizer, a feature extractor, Qwen's
processor, generation settings), it runs first and its miniature model is then overwritten by the
full-size one, so those files are the tiny builder's own. What still differs from the default
profile's models:
- the text-emotion and scene tokenizers are trained on cer's own example sentences (400 and 600
  ids, indexing full-size embedding tables), so they cut text into more tokens than the real
  ones: text costs somewhat more per word;
- random weights never stop writing on their own: the scene model is saved with no end token, so
  every description runs to `max_new_tokens`, and Whisper writes up to its limit (224 tokens) for
  every 30 s segment: the worst cases. The scene model writes only visible tokens
  (`silence_tokens`), so that every window has a description for the text head to score;
- random Whisper weights fail every quality check of its decoding: leave `asr_fallback` off
  (as the tiny profile does) or each segment is decoded again at every temperature.
The tiny profile also shrinks some options (chunk length, scene pixels and tokens, the face
detector); a benchmark of the default profile's load sets them back to the default's values.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from cer.modalities.clip_labels import OPEN_CLIP_CONFIG, OPEN_CLIP_WEIGHTS
from cer.modalities.dynamic_face import build_tiny_dynamic_face
from cer.modalities.scene import build_tiny_scene, config_token_ids
from cer.modalities.speech_emotion import DEFAULT_SPEECH_LABELS, Wav2Vec2MeanPoolClassifier, build_tiny_speech_emotion
from cer.modalities.static_face import build_tiny_static_face
from cer.modalities.text_emotion import DEFAULT_CLASSIFIER_LABELS, build_tiny_text_emotion
from cer.modalities.tiny import TINY_BUILDERS

SEED = 0  # every model is seeded, so two builds write the same weights (on the same device)

# ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition's config.json: facebook/wav2vec2-large-xlsr-53's
# encoder (the convolution kernels and strides are Wav2Vec2Config's defaults) and a 256-wide classifier.
WAV2VEC2_LARGE_XLSR: dict[str, Any] = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "conv_dim": (512,) * 7,
    "conv_bias": True,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": True,
    "feat_extract_norm": "layer",
    "classifier_proj_size": 256,
}

# openai-whisper's "small" (whisper.load_model("small").dims); 80 mel bands and 1500 audio frames are every Whisper's.
WHISPER_SMALL: dict[str, int] = {
    "n_mels": 80,
    "n_audio_ctx": 1500,
    "n_audio_state": 768,
    "n_audio_head": 12,
    "n_audio_layer": 12,
    "n_vocab": 51865,
    "n_text_ctx": 448,
    "n_text_state": 768,
    "n_text_head": 12,
    "n_text_layer": 12,
}
# The name `whisper:small` stores it under: OpenAIWhisper then applies small's official alignment heads
# (the cross-attention heads that time the words), as it does for the default profile's checkpoint.
WHISPER_FILE = "small.pt"

# distilroberta-base's config.json, the encoder of j-hartmann/emotion-english-distilroberta-base
DISTILROBERTA_BASE: dict[str, Any] = {
    "vocab_size": 50265,
    "hidden_size": 768,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 514,  # 512 tokens: RoBERTa numbers positions from pad_token_id + 1
    "type_vocab_size": 1,
    "layer_norm_eps": 1e-5,
}
DISTILROBERTA_MAX_TOKENS = 512  # its tokenizer's model_max_length, where the classifier truncates a text

CLIP_ARCHITECTURE = "ViT-B-32"  # open_clip's name; the default profile loads its `openai` weights
CLIP_WEIGHTS_TAG = "openai"

Builder = Callable[[Path, str], None]  # (folder to fill, device to build on)


def labelled(labels: Iterable[str]) -> dict[str, Any]:
    """A transformers config's label maps, in the order given."""
    labels = list(labels)
    return {"id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}


def random_pretrained(model_class: Any, config: Any, device: str, dtype: torch.dtype = torch.float32) -> Any:
    """A seeded random-weight transformers model, initialised in place on `device` at `dtype`
    (no float32 copy on the CPU first: a 3B model would take minutes of CPU initialisation)."""
    torch.manual_seed(SEED)
    with torch.device(device):
        return model_class._from_config(config, dtype=dtype)


def already_full_size(tiny_builder: Callable[[Path], None]) -> Builder:
    """A tiny builder whose model is the default's at full size already (EmoAffectNet's ResNet-50
    and LSTM: their dimensions are fixed by the checkpoints); it builds on the CPU."""

    def build(target_dir: Path, device: str) -> None:
        tiny_builder(target_dir)

    return build


def build_speech_emotion(target_dir: Path, device: str) -> None:
    """The published model's mean-pooling head over wav2vec2 at large-xlsr-53's size, beside the
    tiny builder's feature extractor (the same key layout as the published weights)."""
    from transformers import Wav2Vec2Config

    build_tiny_speech_emotion(target_dir)  # its feature extractor; its model is overwritten below
    (target_dir / "pytorch_model.bin").unlink()
    config = Wav2Vec2Config(**WAV2VEC2_LARGE_XLSR, **labelled(DEFAULT_SPEECH_LABELS))
    random_pretrained(Wav2Vec2MeanPoolClassifier, config, device).save_pretrained(str(target_dir))


def build_whisper(target_dir: Path, device: str) -> None:
    """openai-whisper at "small" size, saved as `whisper.load_model` reads a checkpoint (dims and
    state dict), in float16 as OpenAI's checkpoints are."""
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(**WHISPER_SMALL)
    torch.manual_seed(SEED)
    with torch.device(device):
        model = Whisper(dims)
        # allocated uninitialised (real checkpoints overwrite it): filled as build_tiny_whisper fills it
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    state = {name: tensor.half().cpu() for name, tensor in model.state_dict().items()}
    torch.save({"dims": asdict(dims), "model_state_dict": state}, target_dir / WHISPER_FILE)


def build_text_emotion(target_dir: Path, device: str) -> None:
    """RobertaForSequenceClassification at distilroberta-base's size with the default's 7 labels,
    beside the tiny builder's BPE tokenizer (its ids index the full-size embedding table)."""
    from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification

    build_tiny_text_emotion(target_dir)  # its tokenizer; its model is overwritten below
    # the tiny tokenizer truncates at 128 tokens; the default's at 512
    tokenizer = AutoTokenizer.from_pretrained(str(target_dir), model_max_length=DISTILROBERTA_MAX_TOKENS)
    tokenizer.save_pretrained(str(target_dir))
    config = RobertaConfig(
        **DISTILROBERTA_BASE,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **labelled(DEFAULT_CLASSIFIER_LABELS),
    )
    random_pretrained(RobertaForSequenceClassification, config, device).save_pretrained(str(target_dir))


def build_clip(target_dir: Path, device: str) -> None:
    """open_clip's ViT-B-32 with QuickGELU and the preprocessing of OpenAI's weights, in open_clip's
    hub layout (config JSON + safetensors) as build_tiny_clip writes it."""
    import open_clip
    from safetensors.torch import save_file

    tag = open_clip.get_pretrained_cfg(CLIP_ARCHITECTURE, CLIP_WEIGHTS_TAG)
    model_cfg = {**open_clip.get_model_config(CLIP_ARCHITECTURE), "quick_gelu": tag["quick_gelu"]}
    preprocess_cfg = {key: tag[key] for key in ("mean", "std", "interpolation", "resize_mode")}
    torch.manual_seed(SEED)
    with torch.device(device):
        model = open_clip.CLIP(**model_cfg)
    (target_dir / OPEN_CLIP_CONFIG).write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}, indent=1))
    save_file({name: tensor.cpu() for name, tensor in model.state_dict().items()}, str(target_dir / OPEN_CLIP_WEIGHTS))


# Qwen2.5-VL-3B-Instruct's dimensions, from its config.json on the hub (the vision tower's
# depth, widths, window and full-attention blocks are the class defaults that file relies on);
# it ties the output layer to the input embeddings (the builders pass `tie_word_embeddings=True`).
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


def qwen25_vl_3b_config(tokenizer: Any) -> Any:
    """Qwen2.5-VL-3B's config with the token ids of `tokenizer` (the tiny processor's)."""
    from transformers import Qwen2_5_VLConfig

    text_ids, vision_ids = config_token_ids(tokenizer)
    return Qwen2_5_VLConfig(
        text_config={**QWEN25_VL_3B["text_config"], **text_ids},
        vision_config=QWEN25_VL_3B["vision_config"],
        tie_word_embeddings=True,
        **vision_ids,
    )


def visible_token_ids(tokenizer: Any) -> list[int]:
    """The ids of `tokenizer` that decode to visible text (not special, not only white space)."""
    return [i for i in range(len(tokenizer)) if tokenizer.decode([i], skip_special_tokens=True).strip()]


def silence_tokens(model: Any, tokenizer: Any) -> None:
    """Zero the embedding rows of every id that would write no visible text, so that a description
    is text, as a trained model's is, and the text head scores it.

    The tiny tokenizer has a few hundred of the table's 151936 ids and the others decode to
    nothing: random logits would almost always pick one, or repeat a newline (seen with a
    shrunk model), and the window would have no description. A zero row of the output layer
    (tied to the embeddings) scores 0, below the best of the visible ids' random scores. Only
    values change: every matrix product costs the same.
    """
    weights = model.get_input_embeddings().weight
    silent = torch.ones(weights.shape[0], dtype=torch.bool, device=weights.device)
    silent[visible_token_ids(tokenizer)] = False
    with torch.no_grad():
        weights[silent] = 0


def build_scene(target_dir: Path, device: str) -> None:
    """Qwen2_5_VLForConditionalGeneration at Qwen2.5-VL-3B's size, in bfloat16 as the hub's weights
    (about 7.5 GB), beside the tiny builder's processor and generation settings."""
    from transformers import AutoProcessor, GenerationConfig, Qwen2_5_VLForConditionalGeneration

    build_tiny_scene(target_dir)  # its processor and generation settings; its model is overwritten below
    processor = AutoProcessor.from_pretrained(str(target_dir), local_files_only=True)
    model = random_pretrained(Qwen2_5_VLForConditionalGeneration, qwen25_vl_3b_config(processor.tokenizer), device, torch.bfloat16)
    silence_tokens(model, processor.tokenizer)
    # No end token, so every description runs to `max_new_tokens`: the worst case, where a
    # trained model stops at its end of turn
    model.generation_config = GenerationConfig.from_pretrained(str(target_dir), eos_token_id=None)
    model.save_pretrained(str(target_dir))


# tiny model name (as in `tiny:NAME` sources) -> its full-size builder
FULL_SIZE_BUILDERS: dict[str, Builder] = {
    "static_face": already_full_size(build_tiny_static_face),
    "dynamic_face": already_full_size(build_tiny_dynamic_face),
    "speech_emotion": build_speech_emotion,
    "whisper": build_whisper,
    "text_emotion": build_text_emotion,
    "clip": build_clip,
    "scene": build_scene,
}


def build_full_size_models(cache_dir: Path, device: str, names: Iterable[str] | None = None) -> list[Path]:
    """Write the full-size model of every tiny model (or of those `names`) to `cache_dir/tiny/NAME`,
    replacing what is there; the large ones are built on `device`. Each folder is filled under
    NAME.partial and renamed when complete, so an interrupted build leaves no half model."""
    built = []
    for name in TINY_BUILDERS if names is None else names:
        if name not in FULL_SIZE_BUILDERS:
            raise ValueError(f"no full-size builder for the tiny model {name!r} (have: {', '.join(FULL_SIZE_BUILDERS)})")
        folder = cache_dir / "tiny" / name
        staging = folder.with_name(name + ".partial")
        if staging.exists():  # left by an interrupted build
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        FULL_SIZE_BUILDERS[name](staging, device)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        built.append(folder)
    return built
