"""The audio expert: voice activity, prosody, and speech emotion per window.

Per chunk, once: Silero VAD finds the speech spans and librosa tracks pitch (pYIN) and
energy over the whole chunk audio, so overlapping windows share the work. Per window:
the share of speech, the prosody of the window (returned as evidence beside the
probabilities), and, when the window has speech, a transformers audio-classification model
on the window's speech. A profile without a speech-emotion model (offline: none ships in
a package) still reports VAD and prosody, with every speech window absent and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cer.modalities.base import Expert, pick_device, to_basic_order
from cer.modalities.options import AudioOptions
from cer.modalities.sources import Source, resolve_model
from cer.modalities.vad import VoiceActivity, speech_extent, speech_seconds
from cer.pipeline.config import ExpertConfig
from cer.pipeline.labels import basic_index_map
from cer.pipeline.types import AUDIO_RATE, Chunk, ExpertOutput, ExpertStatus

NO_AUDIO = "no audio track"
NO_SPEECH = "no speech in window"
NO_EMOTION_MODEL = "this profile has no speech-emotion model; `--profile default` fetches one"

# Labels of ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition (RAVDESS), in its
# config.id2label order. Through `to_basic`: angry->Anger, calm->Neutral, disgust->Disgust,
# fearful->Fear, happy->Happiness, neutral->Neutral, sad->Sadness, surprised->Surprise
# (calm and neutral add up in Neutral); Other stays 0.
DEFAULT_SPEECH_LABELS = ("angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised")

# Prosody analysis at 16 kHz
_PITCH_FMIN_HZ = 65.0  # lowest voice pitch tracked (deep male voice)
_PITCH_FMAX_HZ = 400.0  # highest (raised female or child voice); above is rarely speech F0
_FRAME = 1024  # samples per analysis frame (64 ms: at least four periods of the lowest pitch)
_HOP = 320  # samples between frames (20 ms)
_MIN_EMOTION_S = 0.5  # shorter speech is zero-padded to this length (seconds) for the classifier


class AudioExpert(Expert):
    name = "audio"
    Options = AudioOptions
    options: AudioOptions

    def __init__(self, config: ExpertConfig, cache_dir: Path) -> None:
        super().__init__(config, cache_dir)
        if "vad" not in config.models:
            raise ValueError("experts.audio.models.vad is required (the Silero VAD model)")
        vad_name = Source.parse(config.models["vad"].source).name
        self.vad = VoiceActivity(resolve_model(config.models["vad"], cache_dir), self.options.vad_threshold)
        emotion = config.models.get("emotion")
        self.emotion = SpeechEmotionModel(resolve_model(emotion, cache_dir), pick_device(config.device)) if emotion else None
        self._model_id = f"{vad_name} + {Source.parse(emotion.source).name}" if emotion else vad_name

    @property
    def model_id(self) -> str:
        return self._model_id

    def status(self) -> ExpertStatus:
        if self.emotion is None:
            return ExpertStatus(name=self.name, status="unavailable", model_id=self.model_id, reason=NO_EMOTION_MODEL)
        return super().status()

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        if not chunk.video.has_audio or chunk.audio.size == 0:
            return [self.absent(w.index, NO_AUDIO) for w in chunk.windows]
        spans = self.vad.speech_spans(chunk.audio)
        prosody = ProsodyTrack.of(chunk.audio)
        outputs = []
        for window in chunk.windows:
            start, end = window.start_s - chunk.audio_start_s, window.end_s - chunk.audio_start_s
            speech_s = speech_seconds(spans, start, end)
            extent = speech_extent(spans, start, end)
            evidence = {"speech_ratio": round(speech_s / window.duration_s, 3), **prosody.summary(start, end)}
            if extent is None or speech_s < self.options.min_speech_s:
                outputs.append(self.absent(window.index, NO_SPEECH, **evidence))
            elif self.emotion is None:
                outputs.append(self.absent(window.index, NO_EMOTION_MODEL, **evidence))
            else:
                speech = chunk.audio[int(extent[0] * AUDIO_RATE) : int(extent[1] * AUDIO_RATE)]
                outputs.append(self.present(window.index, self.emotion.probs(speech), **evidence))
        return outputs


class SpeechEmotionModel:
    """A transformers audio classifier (feature extractor + model) with labels mapped onto BASIC."""

    def __init__(self, path: Path, device: str) -> None:
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForAudioClassification.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"could not load the speech-emotion model from {path}: {exc}") from exc
        config = self.model.config
        # raises, naming the label, when the model has a class BASIC cannot hold
        self.index_map = basic_index_map(config.id2label[i] for i in range(config.num_labels))
        self.model.to(device).eval()
        self.device = device

    def probs(self, audio16k: np.ndarray) -> np.ndarray:
        """8 basic probabilities for one stretch of speech."""
        import torch

        rate = self.extractor.sampling_rate
        if rate != AUDIO_RATE:
            import librosa

            audio16k = librosa.resample(audio16k, orig_sr=AUDIO_RATE, target_sr=rate)
        min_samples = int(_MIN_EMOTION_S * rate)
        if audio16k.size < min_samples:
            audio16k = np.pad(audio16k, (0, min_samples - audio16k.size))
        inputs = self.extractor(audio16k, sampling_rate=rate, return_tensors="pt").to(self.device)
        with torch.no_grad():
            logits = self.model(**inputs).logits
        return to_basic_order(logits.softmax(dim=-1)[0].float().cpu().numpy(), self.index_map)


@dataclass(frozen=True)
class ProsodyTrack:
    """Frame-wise pitch, voicing and energy of a chunk's audio."""

    times_s: np.ndarray  # frame centres, seconds from the start of the chunk audio
    f0_hz: np.ndarray  # NaN where unvoiced
    voiced: np.ndarray  # bool
    rms: np.ndarray  # root mean square amplitude (full scale = 1)

    @classmethod
    def of(cls, audio16k: np.ndarray) -> ProsodyTrack:
        import librosa

        if audio16k.size < _FRAME:
            empty = np.zeros(0)
            return cls(empty, empty, empty.astype(bool), empty)
        f0, voiced, _prob = librosa.pyin(
            audio16k,
            fmin=_PITCH_FMIN_HZ,
            fmax=_PITCH_FMAX_HZ,
            sr=AUDIO_RATE,
            frame_length=_FRAME,
            hop_length=_HOP,
        )
        rms = librosa.feature.rms(y=audio16k, frame_length=_FRAME, hop_length=_HOP)[0]
        n = min(len(f0), len(rms))
        times = librosa.frames_to_time(np.arange(n), sr=AUDIO_RATE, hop_length=_HOP)
        return cls(times, f0[:n], voiced[:n], rms[:n])

    def summary(self, start_s: float, end_s: float) -> dict[str, float | None]:
        """Prosody of [start_s, end_s): pitch over voiced frames, voiced share, mean RMS (None when undefined)."""
        inside = (self.times_s >= start_s) & (self.times_s < end_s)
        if not inside.any():
            return {"pitch_mean_hz": None, "pitch_std_hz": None, "voiced_ratio": None, "rms": None}
        voiced_f0 = self.f0_hz[inside & self.voiced]
        voiced_f0 = voiced_f0[np.isfinite(voiced_f0)]
        return {
            "pitch_mean_hz": round(float(voiced_f0.mean()), 1) if voiced_f0.size else None,
            "pitch_std_hz": round(float(voiced_f0.std()), 1) if voiced_f0.size else None,
            "voiced_ratio": round(float(self.voiced[inside].mean()), 3),
            "rms": round(float(self.rms[inside].mean()), 5),
        }


def build_tiny_speech_emotion(target_dir: Path) -> None:
    """A random-weight Wav2Vec2ForSequenceClassification (the default model's class, with its
    stable-layer-norm variant and its 8 RAVDESS labels) and its feature extractor, saved with
    `save_pretrained` so `SpeechEmotionModel` loads it unchanged."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

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
        classifier_proj_size=16,
        id2label=dict(enumerate(DEFAULT_SPEECH_LABELS)),
        label2id={label: i for i, label in enumerate(DEFAULT_SPEECH_LABELS)},
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = Wav2Vec2ForSequenceClassification(config)
    model.save_pretrained(str(target_dir))
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=AUDIO_RATE, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    extractor.save_pretrained(str(target_dir))
