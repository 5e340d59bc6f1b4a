"""Silero voice activity detection, shared by the audio and text experts.

Both experts need to know where people speak in a chunk: the audio expert to decide which
windows have speech to classify, the text expert to skip speech recognition on silent
chunks. One class serves both so that they agree on what counts as speech, and in one process
(the in-process engine, where both are handed the same chunk) the spans of an audio array are
found once: the second expert to ask gets the first's.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from cer.core.types import AUDIO_RATE

SpeechSpan = tuple[float, float]  # (start, end) in seconds from the start of the audio analysed

_FRAME = 512  # samples Silero judges at once at 16 kHz (32 ms); shorter audio holds no decision
_CONTEXT = 64  # samples of the frame before that it reads with each frame
_INPUTS = {"input", "state", "sr"}  # Silero's ONNX graph (v5 and later)


class VoiceActivity:
    """Finds speech spans in 16 kHz mono audio with the Silero VAD model in ONNX, run by
    onnxruntime on one CPU thread. The package's TorchScript copy gives the same spans (checked
    on speech, speech in noise and noise) in twice the time (0.70 s against 0.34 s per 60 s).

    The model hears the audio 32 ms at a time, carrying its state from frame to frame; the
    frames go straight to onnxruntime in numpy, the way the package's own loop feeds them through
    torch tensors, so the probabilities and spans are the package's (same spans, on the talking
    clip's 30 s chunks in 0.11 s instead of 0.16 s); its `get_speech_timestamps_from_probs` turns
    them into spans."""

    def __init__(self, path: Path, threshold: float = 0.5) -> None:
        import onnxruntime

        self.threshold = threshold  # Silero speech probability above which a frame is speech
        self._key = (str(path.resolve()), threshold)  # detectors with the same key find the same spans
        if path.suffix != ".onnx":
            raise RuntimeError(f"the Silero VAD model must be its ONNX file (silero_vad.onnx), not {path.name}")
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = options.intra_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises kinds of its own for a bad file
            raise RuntimeError(f"could not load the Silero VAD model from {path}: {exc}") from exc
        inputs = {node.name for node in self._session.get_inputs()}
        if inputs != _INPUTS:
            raise RuntimeError(f"{path} is not a Silero VAD model: its inputs are {sorted(inputs)}, expected {sorted(_INPUTS)}")

    def speech_spans(self, audio16k: np.ndarray) -> list[SpeechSpan]:
        """Speech spans of the audio, in seconds from its first sample, in time order."""
        return _RECENT.spans(self._key, audio16k, self._find)

    def frame_probabilities(self, audio16k: np.ndarray) -> list[float]:
        """Silero's speech probability of each 32 ms frame, the last one padded with silence."""
        frames = -(-audio16k.size // _FRAME)
        padded = np.zeros(_CONTEXT + frames * _FRAME, dtype=np.float32)  # no context before the first frame
        padded[_CONTEXT : _CONTEXT + audio16k.size] = audio16k
        state = np.zeros((2, 1, 128), dtype=np.float32)
        rate = np.array(AUDIO_RATE, dtype=np.int64)
        run = self._session.run
        probabilities = []
        for start in range(0, frames * _FRAME, _FRAME):
            probability, state = run(None, {"input": padded[None, start : start + _CONTEXT + _FRAME], "state": state, "sr": rate})
            probabilities.append(float(probability[0, 0]))
        return probabilities

    def _find(self, audio16k: np.ndarray) -> list[SpeechSpan]:
        from silero_vad import get_speech_timestamps_from_probs

        if audio16k.size < _FRAME:
            return []
        stamps = get_speech_timestamps_from_probs(
            self.frame_probabilities(audio16k), sampling_rate=AUDIO_RATE, threshold=self.threshold, audio_length_samples=audio16k.size
        )
        return [(stamp["start"] / AUDIO_RATE, stamp["end"] / AUDIO_RATE) for stamp in stamps]


def speech_seconds(spans: Sequence[SpeechSpan], start_s: float, end_s: float) -> float:
    """How many seconds of [start_s, end_s) the spans cover (spans do not overlap)."""
    return sum(max(0.0, min(end, end_s) - max(start, start_s)) for start, end in spans)


def speech_extent(spans: Sequence[SpeechSpan], start_s: float, end_s: float) -> SpeechSpan | None:
    """From the first to the last speech inside [start_s, end_s), or None when there is none."""
    inside = [(max(start, start_s), min(end, end_s)) for start, end in spans if end > start_s and start < end_s]
    if not inside:
        return None
    return inside[0][0], inside[-1][1]


class _RecentSpans:
    """The spans found lately, by detector and audio array (the very object, held weakly so
    that a later array at the same address is not mistaken for it). Whoever asks first finds
    them; whoever asks meanwhile, from another thread, waits for that answer."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._found: OrderedDict[tuple[object, int], tuple[weakref.ref[np.ndarray], Future[list[SpeechSpan]]]] = OrderedDict()

    def spans(self, detector: object, audio: np.ndarray, find: Callable[[np.ndarray], list[SpeechSpan]]) -> list[SpeechSpan]:
        key = (detector, id(audio))
        with self._lock:
            known = self._found.get(key)
            if known is not None and known[0]() is audio:
                return known[1].result()  # found, or being found on another thread
            answer: Future[list[SpeechSpan]] = Future()
            self._found[key] = (weakref.ref(audio), answer)
            while len(self._found) > self._size:
                self._found.popitem(last=False)
        try:
            answer.set_result(find(audio))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits, then raised here too
            with self._lock:
                self._found.pop(key, None)  # the next asker tries again
            answer.set_exception(exc)
        return answer.result()


# A few chunks in flight, and a live session's windows: eight arrays are plenty
_RECENT = _RecentSpans(size=8)
