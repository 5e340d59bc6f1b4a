"""The text expert: what is said, scored for emotion.

Per chunk, once: Silero VAD (skip recognition where nobody speaks), then Whisper with word
timestamps over the chunk audio. Words go to every window their midpoint falls in; each
window's transcript goes through a text-emotion head that reads transcripts (`text_kind`;
first-person speech); the status note says which head. The transcript and timed words are
returned as evidence.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from cer.modalities.asr import Word, load_recognizer, transcript, words_in_windows
from cer.modalities.base import Expert, pick_device
from cer.modalities.options import TextOptions
from cer.modalities.sources import Source, resolve_model
from cer.modalities.text_emotion import load_text_emotion_head
from cer.modalities.vad import VoiceActivity
from cer.pipeline.config import ExpertConfig
from cer.pipeline.types import Chunk, ExpertOutput, ExpertStatus

NO_AUDIO = "no audio track"
NO_SPEECH = "no speech in window"


class TextExpert(Expert):
    name = "text"
    Options = TextOptions
    options: TextOptions

    def __init__(self, config: ExpertConfig, cache_dir: Path) -> None:
        super().__init__(config, cache_dir)
        missing = [role for role in ("vad", "asr", "emotion") if role not in config.models]
        if missing:
            raise ValueError(f"experts.text.models needs {', '.join(missing)} (VAD, speech recognition, text emotion)")
        options = self.options
        device = pick_device(config.device)
        self.vad = VoiceActivity(resolve_model(config.models["vad"], cache_dir), options.vad_threshold)
        self.recognizer = load_recognizer(
            options.asr_engine,
            resolve_model(config.models["asr"], cache_dir),
            device,
            language=options.language,
            beam_size=options.beam_size,
            fallback=options.asr_fallback,
            compute_type=options.compute_type,
        )
        self.head = load_text_emotion_head(options, resolve_model(config.models["emotion"], cache_dir), device)
        asr_name = Source.parse(config.models["asr"].source).name
        emotion_name = Source.parse(config.models["emotion"].source).name
        self._model_id = f"{options.asr_engine}({asr_name}) + {options.emotion_head}({emotion_name})"

    @property
    def model_id(self) -> str:
        return self._model_id

    def status(self) -> ExpertStatus:
        return dataclasses.replace(super().status(), note=self.head.summary)

    def score_texts(self, lines: list[str]) -> np.ndarray:
        """Emotion of given text lines, [n, 8] in BASIC order (no speech recognition)."""
        return self.head.score(lines)

    def transcribe(self, chunk: Chunk) -> list[Word]:
        """The chunk's words in video time; none when the VAD hears no speech."""
        if not self.vad.speech_spans(chunk.audio):
            return []
        return [word.shifted(chunk.audio_start_s) for word in self.recognizer.transcribe(chunk.audio)]

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        if not chunk.video.has_audio or chunk.audio.size == 0:
            return [self.absent(w.index, NO_AUDIO) for w in chunk.windows]
        per_window = words_in_windows(self.transcribe(chunk), chunk.windows)
        transcripts = [transcript(words) for words in per_window]
        spoken = [i for i, words in enumerate(per_window) if words]
        probs = dict(zip(spoken, self.score_texts([transcripts[i] for i in spoken]), strict=True))
        outputs = []
        for i, window in enumerate(chunk.windows):
            if i not in probs:
                outputs.append(self.absent(window.index, NO_SPEECH, transcript=""))
                continue
            words = [{"text": w.text.strip(), "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3)} for w in per_window[i]]
            outputs.append(self.present(window.index, probs[i], transcript=transcripts[i], words=words))
        return outputs
