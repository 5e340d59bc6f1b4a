"""The text expert: what is said, scored for emotion.

`preprocess` (CPU): Silero VAD over the chunk audio, so that recognition is skipped where
nobody speaks; a chunk with speech gives one item, its audio and its windows. `forward`:
Whisper with word timestamps over the items' audio (in one batch where the engine batches:
faster-whisper; an item whose words the batch cut short is heard again alone), each item's
words going to every window their midpoint falls in; then every window
transcript of the batch goes, in one call, through a text-emotion head that reads
transcripts (`text_kind`; first-person speech); the status note says which head.
`postprocess` returns the transcript and timed words as evidence.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from cer.core.options import TextOptions
from cer.core.sources import Source
from cer.core.types import Chunk, ExpertOutput, ExpertStatus
from cer.modalities.asr import Word, load_recognizer, transcript, words_in_windows
from cer.modalities.base import Prepared, StagedExpert
from cer.modalities.text_emotion import load_text_emotion_head
from cer.modalities.vad import SpeechSpan, VoiceActivity, speech_extent

NO_AUDIO = "no audio track"
NO_SPEECH = "no speech in window"


def heard_through(words: Sequence[Word], spans: Sequence[SpeechSpan], share: float = 0.5) -> bool:
    """Whether the words span at least `share` of the time from the first to the last speech
    the VAD heard (times from the same first sample). No words at all count as heard: the
    VAD also hears music and noise, where Whisper rightly finds nothing."""
    extent = speech_extent(spans, 0.0, math.inf)
    if extent is None or not words:
        return True
    return words[-1].end_s - words[0].start_s >= share * (extent[1] - extent[0])


@dataclasses.dataclass(frozen=True)
class WindowSpan:
    """What recognition needs of a window: where it lies in the video."""

    index: int
    start_s: float
    end_s: float


@dataclasses.dataclass(frozen=True)
class ChunkSpeech:
    """An item: the audio of a chunk where the VAD heard speech, the chunk's windows, and the
    speech spans the VAD found (seconds from the audio's first sample)."""

    audio: np.ndarray  # float32 mono at AUDIO_RATE
    audio_start_s: float  # video time of its first sample
    windows: tuple[WindowSpan, ...]
    speech: tuple[SpeechSpan, ...]


@dataclasses.dataclass(frozen=True)
class TextPlan:
    """The chunk's window indices, in order, and whether it has an audio track (then its
    speech, if any, is its one item)."""

    windows: tuple[int, ...]
    has_audio: bool


@dataclasses.dataclass(frozen=True)
class WindowText:
    """What was said in one window: its words (video time), their transcript, and its emotion (None when nothing was said)."""

    transcript: str
    words: list[Word]
    probs: np.ndarray | None


class TextExpert(StagedExpert):
    name = "text"
    Options = TextOptions
    options: TextOptions
    roles = ("vad", "asr", "emotion")  # VAD, speech recognition, text emotion
    reads = ("audio", "text")  # text: lines read straight into the emotion head

    def setup(self) -> None:
        self.vad = VoiceActivity(self.model_path("vad"), self.options.vad_threshold)
        asr_name = Source.parse(self.config.models["asr"].source).name
        emotion_name = Source.parse(self.config.models["emotion"].source).name
        self._model_id = f"{self.options.asr_engine}({asr_name}) + {self.options.emotion_head}({emotion_name})"

    def load(self) -> None:
        options = self.options
        self.recognizer = load_recognizer(
            options.asr_engine,
            self.model_path("asr"),
            self.device,
            language=options.language,
            beam_size=options.beam_size,
            fallback=options.asr_fallback,
            compute_type=options.compute_type,
        )
        self.load_head()

    def load_head(self) -> None:
        """The text emotion head alone: what reading text lines needs (`cer expert text`), with
        no speech recognition model fetched or loaded."""
        self.head = load_text_emotion_head(self.options, self.model_path("emotion"), self.device, self.cache_dir)

    @property
    def model_id(self) -> str:
        return self._model_id

    def status(self) -> ExpertStatus:
        return dataclasses.replace(super().status(), note=self.head.summary)

    def score_texts(self, lines: list[str]) -> np.ndarray:
        """Emotion of given text lines, [n, 8] in BASIC order (no speech recognition)."""
        return self.head.score(lines)

    def preprocess(self, chunk: Chunk) -> Prepared:
        """Items: the chunk's `ChunkSpeech`, none when it has no audio or the VAD hears no speech; plan: a `TextPlan`."""
        has_audio = chunk.video.has_audio and chunk.audio.size > 0
        plan = TextPlan(tuple(chunk.window_indices), has_audio)
        spans = self.vad.speech_spans(chunk.audio) if has_audio else []
        if not spans:
            return Prepared([], plan)
        windows = tuple(WindowSpan(w.index, w.start_s, w.end_s) for w in chunk.windows)
        return Prepared([ChunkSpeech(chunk.audio, chunk.audio_start_s, windows, tuple(spans))], plan)

    def forward(self, items: Sequence[ChunkSpeech]) -> list[list[WindowText]]:
        """Per item, per window: its words and transcript, and the emotion of every spoken
        transcript, all the items' scored together."""
        heard = self.recognizer.transcribe_many([item.audio for item in items])
        # Whisper sometimes ends a recording after a word cut off at its start, and a batch
        # cannot retry: an item whose words span too little of its speech is heard again alone
        heard = [
            words if heard_through(words, item.speech) else self.recognizer.transcribe(item.audio)
            for item, words in zip(items, heard, strict=True)
        ]
        in_video_time = [[word.shifted(item.audio_start_s) for word in words] for item, words in zip(items, heard, strict=True)]
        per_window = [
            [(transcript(words), words) for words in words_in_windows(item_words, item.windows)]
            for item, item_words in zip(items, in_video_time, strict=True)
        ]
        scores = iter(self.head.score([text for windows in per_window for text, words in windows if words]))
        return [[WindowText(text, words, next(scores) if words else None) for text, words in windows] for windows in per_window]

    def postprocess(self, plan: TextPlan, results: list[list[WindowText]]) -> list[ExpertOutput]:
        if not plan.has_audio:
            return [self.absent(index, NO_AUDIO) for index in plan.windows]
        silent = WindowText("", [], None)
        texts = results[0] if results else [silent] * len(plan.windows)  # no item: the VAD heard no speech
        return [self.output(index, text) for index, text in zip(plan.windows, texts, strict=True)]

    def output(self, index: int, text: WindowText) -> ExpertOutput:
        if text.probs is None:
            return self.absent(index, NO_SPEECH, transcript="")
        words = [{"text": w.text.strip(), "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3)} for w in text.words]
        return self.present(index, text.probs, transcript=text.transcript, words=words)
