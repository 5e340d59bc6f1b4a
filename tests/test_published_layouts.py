"""Every default-profile checkpoint loads strictly from a miniature in its published layout.

The miniatures (`cer models make-tiny`) are written with the key names, config fields and file
names of the published files (each builder's docstring says where its layout comes from),
not by the classes cer loads them with. A loader that dropped or re-initialised a published
weight would fail here, as the speech-emotion loader did: transformers' sequence classifier
started the published model's whole head at random.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from cer.core.labels import BASIC
from cer.modalities.loading import ModelLoadError, check_keys, from_pretrained_strictly
from cer.modalities.tiny import make_tiny

SPEECH_LABEL_TO_BASIC = {
    "angry": "Anger",
    "calm": "Neutral",
    "disgust": "Disgust",
    "fearful": "Fear",
    "happy": "Happiness",
    "neutral": "Neutral",
    "sad": "Sadness",
    "surprised": "Surprise",
}


@pytest.fixture(scope="module")
def miniatures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    make_tiny(cache)
    return cache / "tiny"


def copy_of(folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / folder.name))


def rename_key(weights: Path, old: str, new: str) -> None:
    """Rename one key of a safetensors or torch weights file in place."""
    if weights.suffix == ".safetensors":
        state = load_file(str(weights))
        state[new] = state.pop(old)
        save_file(state, str(weights), metadata={"format": "pt"})
    else:
        state = torch.load(weights, weights_only=True)
        state[new] = state.pop(old)
        torch.save(state, weights)


# --- the speech-emotion model's own head ------------------------------------------------------


def test_the_speech_emotion_miniature_has_the_published_keys_and_config(miniatures: Path) -> None:
    folder = miniatures / "speech_emotion"
    files = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))  # .builder: make-tiny's stamp
    assert files == ["config.json", "preprocessor_config.json", "pytorch_model.bin"]
    keys = set(torch.load(folder / "pytorch_model.bin", weights_only=True))
    head = {key for key in keys if not key.startswith("wav2vec2.")}
    assert head == {"classifier.dense.weight", "classifier.dense.bias", "classifier.output.weight", "classifier.output.bias"}
    assert "wav2vec2.encoder.pos_conv_embed.conv.weight_g" in keys  # weight norm as saved in 2021
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["Wav2Vec2ForSequenceClassification"] and "classifier_proj_size" not in config


def test_transformers_sequence_classifier_would_start_the_head_at_random(miniatures: Path) -> None:
    """What the expert did before: the published head is unexpected, transformers' own head missing."""
    from transformers import Wav2Vec2ForSequenceClassification

    with pytest.raises(ModelLoadError, match=r"speech-emotion.*missing.*classifier\.bias.*not in the model.*classifier\.dense"):
        from_pretrained_strictly(Wav2Vec2ForSequenceClassification, miniatures / "speech_emotion", "the speech-emotion model")


def by_hand(folder: Path, audio: np.ndarray) -> np.ndarray:
    """mean pooling -> dense -> tanh -> output from the miniature's own tensors, softmax, in BASIC order."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    config = Wav2Vec2Config.from_pretrained(str(folder))
    encoder = Wav2Vec2Model(config).eval()
    encoder_state = {key.removeprefix("wav2vec2."): value for key, value in state.items() if key.startswith("wav2vec2.")}
    for suffix, part in (("weight_g", "original0"), ("weight_v", "original1")):
        old = f"encoder.pos_conv_embed.conv.{suffix}"
        encoder_state[f"encoder.pos_conv_embed.conv.parametrizations.weight.{part}"] = encoder_state.pop(old)
    encoder.load_state_dict(encoder_state, strict=True)
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(str(folder))
    values = extractor([audio], sampling_rate=16000, return_tensors="pt")["input_values"]
    with torch.inference_mode():
        pooled = encoder(values).last_hidden_state.mean(dim=1)
        hidden = torch.tanh(pooled @ state["classifier.dense.weight"].T + state["classifier.dense.bias"])
        logits = hidden @ state["classifier.output.weight"].T + state["classifier.output.bias"]
    own = logits.softmax(dim=-1)[0].numpy()
    basic = np.zeros(len(BASIC))
    for index, label in config.id2label.items():
        basic[BASIC.index(SPEECH_LABEL_TO_BASIC[label])] += own[int(index)]
    return basic


def test_speech_emotion_is_the_published_head_computed_by_hand(miniatures: Path) -> None:
    from cer.modalities.speech_emotion import SpeechEmotionModel

    folder = miniatures / "speech_emotion"
    audio = np.random.default_rng(0).normal(scale=0.1, size=24000).astype(np.float32)
    model = SpeechEmotionModel(folder, "cpu")
    with torch.inference_mode():
        ours = model.probs([audio])[0]
    np.testing.assert_allclose(ours, by_hand(folder, audio), atol=1e-6)


@pytest.mark.parametrize(("label", "expected"), [("angry", "Anger"), ("happy", "Happiness")])
def test_the_published_output_bias_decides_the_answer(miniatures: Path, tmp_path: Path, label: str, expected: str) -> None:
    """The reviewer's check: +20 on one label's output bias moves the audio expert to that label."""
    from cer.modalities.speech_emotion import DEFAULT_SPEECH_LABELS, SpeechEmotionModel

    folder = copy_of(miniatures / "speech_emotion", tmp_path)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["classifier.output.bias"][DEFAULT_SPEECH_LABELS.index(label)] += 20.0
    torch.save(state, folder / "pytorch_model.bin")
    with torch.inference_mode():
        probs = SpeechEmotionModel(folder, "cpu").probs([np.zeros(16000, dtype=np.float32)])[0]
    assert BASIC[int(np.argmax(probs))] == expected and probs.max() > 0.99


# --- every loader refuses a checkpoint that does not fit exactly ------------------------------


def load_speech(folder: Path) -> object:
    from cer.modalities.speech_emotion import SpeechEmotionModel

    return SpeechEmotionModel(folder, "cpu")


def load_text(folder: Path) -> object:
    from cer.modalities.text_emotion import ClassifierHead

    return ClassifierHead(folder, "cpu")


def load_scene(folder: Path) -> object:
    from transformers import Qwen2_5_VLForConditionalGeneration

    return from_pretrained_strictly(Qwen2_5_VLForConditionalGeneration, folder, "the vision-language model")


def load_static_face(folder: Path) -> object:
    from cer.modalities.face_models import EmoAffectNetResNet50, load_state_dict_file

    return load_state_dict_file(EmoAffectNetResNet50(), folder / "FER_static_ResNet50_AffectNet.pt")


def load_dynamic_face(folder: Path) -> object:
    from cer.modalities.face_models import EmoAffectNetLSTM, load_state_dict_file

    return load_state_dict_file(EmoAffectNetLSTM(), folder / "FER_dinamic_LSTM_Aff-Wild2.pt")


def load_whisper(folder: Path) -> object:
    from cer.modalities.asr import load_recognizer

    return load_recognizer("openai-whisper", folder, "cpu")


def load_clip(folder: Path) -> object:
    from cer.core.config import ModelRef
    from cer.core.options import ClipLabelsOptions
    from cer.modalities.clip_labels import load_clip as load

    return load(ModelRef(source=str(folder), licence="generated"), folder, "cpu", ClipLabelsOptions())


def scene_weights(folder: Path) -> tuple[Path, str]:
    index = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
    key = "model.layers.0.mlp.up_proj.weight"
    return folder / index[key], key


def whisper_weights(folder: Path) -> tuple[Path, str]:
    return next(folder.glob("*.pt")), "decoder.ln.weight"


LOADERS: dict[str, tuple[Callable[[Path], object], Callable[[Path], tuple[Path, str]], str]] = {
    # tiny model: (loader, (weights file, a key it holds), what the error names)
    "speech_emotion": (load_speech, lambda f: (f / "pytorch_model.bin", "classifier.dense.bias"), "speech-emotion model"),
    "text_emotion": (load_text, lambda f: (f / "model.safetensors", "classifier.out_proj.bias"), "text-emotion classifier"),
    "scene": (load_scene, scene_weights, "vision-language model"),
    "static_face": (load_static_face, lambda f: (f / "FER_static_ResNet50_AffectNet.pt", "fc2.bias"), "EmoAffectNetResNet50"),
    "dynamic_face": (load_dynamic_face, lambda f: (f / "FER_dinamic_LSTM_Aff-Wild2.pt", "fc.bias"), "EmoAffectNetLSTM"),
    "clip": (load_clip, lambda f: (f / "open_clip_model.safetensors", "ln_final.bias"), "CLIP"),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_each_miniature_loads_strictly_through_its_loader(miniatures: Path, name: str) -> None:
    loader, _, _ = LOADERS[name]
    assert loader(miniatures / name) is not None


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_renamed_key_is_a_load_error_naming_model_file_and_key(miniatures: Path, tmp_path: Path, name: str) -> None:
    loader, weights_of, model_name = LOADERS[name]
    folder = copy_of(miniatures / name, tmp_path)
    weights, key = weights_of(folder)
    if name == "scene":  # the index maps every key to its shard
        index_file = folder / "model.safetensors.index.json"
        index = json.loads(index_file.read_text())
        index["weight_map"]["renamed.weight"] = index["weight_map"].pop(key)
        index_file.write_text(json.dumps(index))
    rename_key(weights, key, "renamed.weight")
    with pytest.raises(ModelLoadError) as error:
        loader(folder)
    message = str(error.value)
    assert model_name in message and key in message and "renamed.weight" in message
    if name not in ("clip",):  # open_clip's factory names the keys but not the file
        assert folder.name in message


def test_the_whisper_miniature_refuses_a_renamed_key(miniatures: Path, tmp_path: Path) -> None:
    folder = copy_of(miniatures / "whisper", tmp_path)
    checkpoint, key = whisper_weights(folder)
    saved = torch.load(checkpoint, weights_only=True)
    saved["model_state_dict"]["renamed.weight"] = saved["model_state_dict"].pop(key)
    torch.save(saved, checkpoint)
    with pytest.raises(ModelLoadError, match=rf"openai-whisper.*{checkpoint.name}.*{key}.*renamed\.weight"):
        load_whisper(folder)


def test_known_unused_keys_are_allowed_only_where_listed() -> None:
    check_keys("m", "f", [], ["roberta.embeddings.position_ids"], family="text_emotion")
    with pytest.raises(ModelLoadError, match="position_ids"):
        check_keys("m", "f", [], ["roberta.embeddings.position_ids"], family="speech_emotion")
