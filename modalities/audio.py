"""The audio expert: voice activity, prosody, and speech emotion per window.

`preprocess` (CPU), once per chunk so that overlapping windows share the work: Silero VAD
finds the speech spans and librosa tracks pitch (pYIN, over the speech only) and energy;
per window it gives the share of speech and the prosody of the window (evidence returned
beside the probabilities), and, when the window has enough speech and the profile a model
to score it, the stretch of speech from the window's first to its last speech as an item.
`forward` runs a transformers audio-classification model on the stretches; `postprocess`
pairs them with the windows' evidence. A profile without a speech-emotion model (offline:
none ships in a package) still reports VAD and prosody, with every speech window absent and
the reason; its `forward` is never given items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cer.core.options import AudioOptions
from cer.core.sources import Source
from cer.core.types import AUDIO_RATE, Chunk, ExpertOutput, ExpertStatus, Window
from cer.modalities.base import Prepared, StagedExpert
from cer.modalities.vad import SpeechSpan, VoiceActivity, speech_extent, speech_seconds

if TYPE_CHECKING:  # the model module imports torch and transformers: loaded only with the model
    from cer.modalities.speech_emotion import SpeechEmotionModel

NO_AUDIO = "no audio track"
NO_SPEECH = "no speech in window"
NO_EMOTION_MODEL = "this profile has no speech-emotion model; `--profile default` fetches one"

# Prosody analysis at 16 kHz
_PITCH_FMIN_HZ = 65.0  # lowest voice pitch tracked (deep male voice)
_PITCH_FMAX_HZ = 400.0  # highest (raised female or child voice); above is rarely speech F0
_FRAME = 1024  # samples per analysis frame (64 ms: at least four periods of the lowest pitch)
# pYIN's cost is its Viterbi decoding, quadratic in the pitch bins and linear in the frames.
# Measured on 60 s of audio (2 CPU cores; bench: the packaged demo speech with silence and
# tones; window statistics over 4 s windows against the former 20 ms hop over all the audio):
# - pitch only over the VAD's speech (below) is exact there and saves the non-speech share;
# - frames every 40 ms instead of 20 ms halve the rest: window pitch means move 0.7-0.8 Hz on
#   average (at most 3.5 Hz), their spreads 0.5-0.7 Hz (at most 7.9), voiced ratios 0.02-0.04
#   (at most 0.09); over the whole demo speech, pitch 100.0 -> 100.3 Hz, spread 10.6 -> 10.4 Hz,
#   voiced ratio 0.727 -> 0.684;
# - librosa's default 0.1-semitone pitch bins stay: coarser bins are cheaper but bias the
#   decoder to "unvoiced" (0.5 semitone: voiced share of the demo speech 0.26 instead of
#   0.73, loud voiced stretches decoded unvoiced), which would change what voiced_ratio means.
# Net, in CPU seconds per 60 s of audio: 2.2-2.4 -> 0.6 with 45 % speech, 2.0-2.4 -> 1.0-1.1 with 86 % speech.
_HOP = 640  # samples between frames (40 ms)
# pYIN's probability of switching between voiced and unvoiced from one frame to the next:
# librosa's default (0.01 per frame) taken per 20 ms, so that the per-second rate stays the
# one of a 20 ms hop (it also kept the voiced ratios closest to those at 20 ms)
_VOICING_SWITCH_PROB = 1 - (1 - 0.01) ** (_HOP / 320)
# Speech spans closer than this (seconds) are tracked as one stretch: pYIN keeps its context
# over short pauses (the speech frames then come out as over the whole audio) and each call
# costs a fixed ~30 ms to build its transition matrix
_JOIN_GAP_S = 1.0


@dataclass(frozen=True)
class WindowPlan:
    """What `postprocess` gives one window: its evidence, and the position of its speech among
    the chunk's items or the reason it is absent."""

    index: int
    evidence: dict[str, Any]  # speech ratio, speech spans, prosody
    item: int | None = None
    reason: str | None = None


class AudioExpert(StagedExpert):
    name = "audio"
    Options = AudioOptions
    options: AudioOptions
    roles = ("vad",)
    reads = ("audio",)
    emotion: SpeechEmotionModel | None = None  # loaded where the profile configures one

    def setup(self) -> None:
        self.vad = VoiceActivity(self.model_path("vad"), self.options.vad_threshold)
        self.scores_emotion = "emotion" in self.config.models  # else speech windows are absent, with the reason
        names = [Source.parse(self.config.models[role].source).name for role in ("vad", "emotion") if role in self.config.models]
        self._model_id = " + ".join(names)
        # librosa imports its feature modules and numba compiles pYIN's decoder on first use
        # (about 1.5 s): paid here, with the models, rather than inside the first chunk's time
        ProsodyTrack.of(np.zeros(AUDIO_RATE, dtype=np.float32), [(0.0, 1.0)])

    def load(self) -> None:
        if self.scores_emotion:
            from cer.modalities.speech_emotion import SpeechEmotionModel

            self.emotion = SpeechEmotionModel(self.model_path("emotion"), self.device)

    @property
    def model_id(self) -> str:
        return self._model_id

    def status(self) -> ExpertStatus:
        if not self.scores_emotion:
            return ExpertStatus(name=self.name, status="unavailable", model_id=self.model_id, reason=NO_EMOTION_MODEL)
        return super().status()

    def preprocess(self, chunk: Chunk) -> Prepared:
        """Items: the windows' stretches of speech (float32, 16 kHz), each once; plan: a `WindowPlan` per window."""
        if not chunk.video.has_audio or chunk.audio.size == 0:
            return Prepared([], [WindowPlan(w.index, {}, reason=NO_AUDIO) for w in chunk.windows])
        spans = self.vad.speech_spans(chunk.audio)
        prosody = ProsodyTrack.of(chunk.audio, spans)
        stretches: dict[tuple[int, int], int] = {}  # (first, last sample) -> item position
        plan = [self.window_plan(window, chunk.audio_start_s, spans, prosody, stretches) for window in chunk.windows]
        return Prepared([chunk.audio[first:last].copy() for first, last in stretches], plan)

    def window_plan(
        self, window: Window, audio_start_s: float, spans: list[SpeechSpan], prosody: ProsodyTrack, stretches: dict[tuple[int, int], int]
    ) -> WindowPlan:
        """The window's evidence and answer; a stretch of speech to score is added to `stretches` unless already there."""
        start, end = window.start_s - audio_start_s, window.end_s - audio_start_s
        speech_s = speech_seconds(spans, start, end)
        extent = speech_extent(spans, start, end)
        evidence = {
            "speech_ratio": round(speech_s / window.duration_s, 3),
            # on the video's clock: cer.core.speakers tells who speaks from them
            "speech_spans": [
                [round(max(s, start) + audio_start_s, 3), round(min(e, end) + audio_start_s, 3)] for s, e in spans if e > start and s < end
            ],
            **prosody.summary(start, end),
        }
        if extent is None or speech_s < self.options.min_speech_s:
            return WindowPlan(window.index, evidence, reason=NO_SPEECH)
        if not self.scores_emotion:
            return WindowPlan(window.index, evidence, reason=NO_EMOTION_MODEL)
        stretch = (int(extent[0] * AUDIO_RATE), int(extent[1] * AUDIO_RATE))
        return WindowPlan(window.index, evidence, item=stretches.setdefault(stretch, len(stretches)))

    def forward(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        """8 basic probabilities per stretch of speech."""
        if self.emotion is None:
            raise RuntimeError("the audio expert has no speech-emotion model loaded to score speech with")
        return list(self.emotion.probs(items))

    def postprocess(self, plan: list[WindowPlan], results: list[np.ndarray]) -> list[ExpertOutput]:
        return [self.output(window, results) for window in plan]

    def output(self, window: WindowPlan, results: list[np.ndarray]) -> ExpertOutput:
        if window.item is None:
            return self.absent(window.index, str(window.reason), **window.evidence)
        return self.present(window.index, results[window.item], **window.evidence)


@dataclass(frozen=True)
class ProsodyTrack:
    """Frame-wise pitch, voicing and energy of a chunk's audio."""

    times_s: np.ndarray  # frame centres, seconds from the start of the chunk audio
    f0_hz: np.ndarray  # NaN where unvoiced
    voiced: np.ndarray  # bool; False outside speech
    rms: np.ndarray  # root mean square amplitude (full scale = 1)

    @classmethod
    def of(cls, audio16k: np.ndarray, spans: Sequence[SpeechSpan]) -> ProsodyTrack:
        """Energy over all the audio, pitch over the speech `spans` only (seconds from the first
        sample): the pitch of music or noise is no voice pitch, so frames outside speech count
        as unvoiced."""
        import librosa

        if audio16k.size < _FRAME:
            empty = np.zeros(0)
            return cls(empty, empty, empty.astype(bool), empty)
        rms = librosa.feature.rms(y=audio16k, frame_length=_FRAME, hop_length=_HOP)[0]
        times = librosa.frames_to_time(np.arange(rms.size), sr=AUDIO_RATE, hop_length=_HOP)
        f0 = np.full(rms.size, np.nan)
        voiced = np.zeros(rms.size, dtype=bool)
        for first, last in _frame_ranges(joined(spans, _JOIN_GAP_S), rms.size):
            f0[first : last + 1], voiced[first : last + 1] = _pitch(_frames_audio(audio16k, first, last))
        voiced &= _inside(times, spans)
        f0[~voiced] = np.nan
        return cls(times, f0, voiced, rms)

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


def joined(spans: Sequence[SpeechSpan], max_gap_s: float) -> list[SpeechSpan]:
    """The spans (in time order) with those less than `max_gap_s` apart merged into one."""
    out: list[SpeechSpan] = []
    for start, end in spans:
        if out and start - out[-1][1] < max_gap_s:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _frame_ranges(spans: Sequence[SpeechSpan], n_frames: int) -> list[tuple[int, int]]:
    """First and last frame (inclusive) around each span; frame k is centred on sample k * _HOP."""
    ranges = [(int(start * AUDIO_RATE) // _HOP, min(n_frames - 1, -(-int(end * AUDIO_RATE) // _HOP))) for start, end in spans]
    return [(first, last) for first, last in ranges if first <= last]


def _frames_audio(audio16k: np.ndarray, first: int, last: int) -> np.ndarray:
    """The samples frames first..last read, zeros beyond the audio's ends (as librosa pads centred frames)."""
    start, stop = first * _HOP - _FRAME // 2, last * _HOP + _FRAME // 2
    inside = audio16k[max(start, 0) : stop]
    return np.pad(inside, (max(0, -start), max(0, stop - audio16k.size)))


def _pitch(framed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pYIN F0 (NaN where unvoiced) and voicing of every whole frame of `framed` (not centred)."""
    import librosa

    f0, voiced, _prob = librosa.pyin(
        framed,
        fmin=_PITCH_FMIN_HZ,
        fmax=_PITCH_FMAX_HZ,
        sr=AUDIO_RATE,
        frame_length=_FRAME,
        hop_length=_HOP,
        switch_prob=_VOICING_SWITCH_PROB,
        center=False,
    )
    return f0, voiced


def _inside(times_s: np.ndarray, spans: Sequence[SpeechSpan]) -> np.ndarray:
    """Which times fall in one of the spans."""
    inside = np.zeros(times_s.size, dtype=bool)
    for start, end in spans:
        inside |= (times_s >= start) & (times_s < end)
    return inside
