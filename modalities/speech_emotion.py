"""Speech-emotion models: a wav2vec2 encoder and a classification head, labels mapped onto BASIC.

Two head layouts are published on the hub, and the weights file says which one a model has:
- the soxan recipe's (`classifier.dense.*`, `classifier.output.*`), which the default profile's
  ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition uses: the encoder's last hidden
  states averaged over the speech frames, then dense -> tanh -> output. Its config.json names
  `Wav2Vec2ForSequenceClassification`, whose head is another one (`projector.*`,
  `classifier.*`): loaded that way, transformers would start the whole head at random and only
  warn (the published weights were written by the recipe's own class in July 2021; a later
  commit changed only the architecture name in config.json). `Wav2Vec2MeanPoolClassifier`
  is that head, so that every published weight is used.
- transformers' own `Wav2Vec2ForSequenceClassification` (`projector.*`, `classifier.*`), for
  models trained with it.
Both load strictly (cer.modalities.loading).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2Model, Wav2Vec2PreTrainedModel

from cer.core.labels import basic_index_map
from cer.core.types import AUDIO_RATE
from cer.modalities.base import to_basic_order
from cer.modalities.loading import ModelLoadError, checkpoint_keys, from_pretrained_strictly

_MIN_EMOTION_S = 0.5  # shorter speech is zero-padded to this length (seconds) for the classifier
MEAN_POOL_HEAD_KEY = "classifier.output.weight"  # present only in checkpoints with the recipe's head


class MeanPoolHead(nn.Module):
    """dense -> tanh -> output over a pooled utterance vector (dropout as configured, off in eval)."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.final_dropout)
        self.output = nn.Linear(config.hidden_size, config.num_labels or 0)  # num_labels follows id2label

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(torch.tanh(self.dense(self.dropout(pooled)))))


class Wav2Vec2MeanPoolClassifier(Wav2Vec2PreTrainedModel):
    """wav2vec2 encoder, mean of its last hidden states over the real (unpadded) frames, `MeanPoolHead`."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        pooling = getattr(config, "pooling_mode", "mean")
        if pooling != "mean":
            raise ModelLoadError(f"the speech-emotion head pools by {pooling!r}; cer implements the recipe's 'mean' pooling only")
        self.wav2vec2 = Wav2Vec2Model(config)
        self.classifier = MeanPoolHead(config)
        self.post_init()

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [batch, labels]. Padded samples (attention_mask 0) count in no frame's mean, so
        a stretch padded into a batch scores as it does alone."""
        hidden = self.wav2vec2(input_values, attention_mask=attention_mask).last_hidden_state
        if attention_mask is None:
            pooled = hidden.mean(dim=1)
        else:
            frames = (
                self._get_feature_vector_attention_mask(hidden.shape[1], cast(torch.LongTensor, attention_mask))
                .unsqueeze(-1)
                .to(hidden.dtype)
            )
            pooled = (hidden * frames).sum(dim=1) / frames.sum(dim=1)
        return self.classifier(pooled)


class SpeechEmotionModel:
    """A wav2vec2 speech-emotion model (either head layout) and its feature extractor, labels mapped onto BASIC."""

    def __init__(self, path: Path, device: str) -> None:
        from transformers import AutoFeatureExtractor, Wav2Vec2ForSequenceClassification

        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not load the speech-emotion model's feature extractor from {path}: {exc}") from exc
        self.mean_pool = MEAN_POOL_HEAD_KEY in checkpoint_keys(path)
        cls: Any = Wav2Vec2MeanPoolClassifier if self.mean_pool else Wav2Vec2ForSequenceClassification
        self.model = from_pretrained_strictly(cls, path, f"the speech-emotion model ({cls.__name__})")
        config = self.model.config
        # raises, naming the label, when the model has a class BASIC cannot hold
        self.index_map = basic_index_map(config.id2label[i] for i in range(config.num_labels))
        self.model.to(device).eval()
        self.device = device
        # Stretches of different lengths are padded into one batch only where padding changes
        # no output: the extractor returns the attention mask (the model then ignores the
        # padded frames, and pools over the real ones) and the feature encoder normalises each
        # frame on its own (layer norm; the group norm of base wav2vec2 normalises over time,
        # padding included). Measured on random Wav2Vec2 models: logits within 1e-8 with both,
        # off by up to 6e-3 with group norm and 2e-2 without the mask. Other models go one by one.
        masks_padding = bool(getattr(self.extractor, "return_attention_mask", False))
        self.pads_batches = masks_padding and getattr(config, "feat_extract_norm", None) == "layer"

    def probs(self, stretches: Sequence[np.ndarray]) -> np.ndarray:
        """[n, 8] basic probabilities, one row per stretch of 16 kHz speech (one or more)."""
        inputs = [self.model_input(stretch) for stretch in stretches]
        batches = [inputs] if self.pads_batches else [[one] for one in inputs]
        return np.concatenate([self.classify(batch) for batch in batches])

    def model_input(self, audio16k: np.ndarray) -> np.ndarray:
        """The stretch at the extractor's rate, zero-padded to the shortest speech the classifier reads."""
        rate = self.extractor.sampling_rate
        if rate != AUDIO_RATE:
            import librosa

            audio16k = librosa.resample(audio16k, orig_sr=AUDIO_RATE, target_sr=rate)
        min_samples = int(_MIN_EMOTION_S * rate)
        if audio16k.size < min_samples:
            audio16k = np.pad(audio16k, (0, min_samples - audio16k.size))
        return audio16k

    def classify(self, audios: list[np.ndarray]) -> np.ndarray:
        """One forward pass over model inputs (padded to the longest), [n, 8] in BASIC order."""
        inputs = self.extractor(audios, sampling_rate=self.extractor.sampling_rate, padding=True, return_tensors="pt").to(self.device)
        values, mask = inputs["input_values"], inputs.get("attention_mask")
        logits = self.model(values, mask) if self.mean_pool else self.model(values, attention_mask=mask).logits
        return to_basic_order(logits.softmax(dim=-1).float().cpu().numpy(), self.index_map)


# Labels of ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition (RAVDESS), in its
# config.id2label order. Through `to_basic`: angry->Anger, calm->Neutral, disgust->Disgust,
# fearful->Fear, happy->Happiness, neutral->Neutral, sad->Sadness, surprised->Surprise
# (calm and neutral add up in Neutral); Other stays 0.
DEFAULT_SPEECH_LABELS = ("angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised")


def build_tiny_speech_emotion(target_dir: Path) -> None:
    """A miniature of ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition in its published
    layout, with random weights and tiny widths.

    Layout source: the repository's config.json and preprocessor_config.json at the pinned
    revision (the config names `Wav2Vec2ForSequenceClassification` and task `wav2vec2_clf`, and
    has no `classifier_proj_size`) and the keys of its pytorch_model.bin as users list them
    (hub discussion 12): `wav2vec2.*` as transformers' Wav2Vec2Model wrote them in 2021
    (weight-normed positional convolution as `weight_g` / `weight_v`) and the head
    `classifier.dense.*` [hidden, hidden], `classifier.output.*` [labels, hidden]. The file is
    written key by key, not by any class cer loads it with.
    """
    import json

    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,  # the convolution kernels and strides stay Wav2Vec2's (20 ms per frame)
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
        conv_bias=True,
        final_dropout=0.0,
        id2label=dict(enumerate(DEFAULT_SPEECH_LABELS)),
        label2id={label: i for i, label in enumerate(DEFAULT_SPEECH_LABELS)},
    )
    published = {**config.to_dict(), "architectures": ["Wav2Vec2ForSequenceClassification"], "finetuning_task": "wav2vec2_clf"}
    published.pop("classifier_proj_size", None)
    (target_dir / "config.json").write_text(json.dumps(published, indent=2))
    preprocessor = {
        "do_normalize": True,
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": True,
        "sampling_rate": AUDIO_RATE,
    }
    (target_dir / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        encoder = Wav2Vec2Model(config).state_dict()
        hidden, labels = config.hidden_size, len(DEFAULT_SPEECH_LABELS)
        head = {
            "classifier.dense.weight": torch.randn(hidden, hidden) / hidden**0.5,
            "classifier.dense.bias": torch.randn(hidden) * 0.1,
            "classifier.output.weight": torch.randn(labels, hidden) / hidden**0.5,
            "classifier.output.bias": torch.randn(labels) * 0.1,
        }
    state = {"wav2vec2." + _weight_norm_2021(key): value for key, value in encoder.items()} | head
    torch.save(state, target_dir / "pytorch_model.bin")


def _weight_norm_2021(key: str) -> str:
    """The name torch's weight norm gave a key in 2021 (`weight_g`, `weight_v`), before parametrizations."""
    return key.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v")
