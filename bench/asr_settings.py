"""Speech recognition settings of the offline profile, side by side: time and word error rate.

    .venv/bin/python bench/asr_settings.py [--seconds 60]

The speech of bench/talking_clip.py (12 different espeak-ng sentences with pauses; espeak-ng
must be installed, since the word error rate needs the known sentences) is cut in 30 s pieces,
as the text expert hears a chunk of 14 windows, and heard by the offline profile's text expert
(Whisper tiny.en in CTranslate2, its `forward`: the pieces in one batch, a piece the batch cut
short heard again alone) with each setting: beam search 5 with Whisper's retries at higher
temperatures (the earlier default), beam search 5 without retries, greedy decoding with and
without retries (the offline profile: without). Retries go one piece at a time. The word error
rate counts words (lower case, punctuation dropped) against the sentences heard whole, the last
sentence cut off aside.
"""

from __future__ import annotations

import argparse
import re
import time

from talking_clip import speech_track  # bench/, the script's folder

from cer.core.config import load_profile
from cer.core.types import AUDIO_RATE
from cer.modalities.factory import build_expert
from cer.modalities.text import ChunkSpeech, WindowSpan

PIECE_S = 30.0  # a chunk of 14 windows: 13 hops of 2 s and one 4 s window
# name: (beam size, retries at higher temperatures)
SETTINGS = {"beam5_retries": (5, True), "beam5": (5, False), "greedy_retries": (1, True), "greedy": (1, False)}


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance."""
    previous = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, start=1):
        current = [i]
        for j, heard in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != heard)))
        previous = current
    return previous[-1] / max(1, len(reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the speech (default: 60)")
    seconds = parser.parse_args().seconds
    audio, source, sentences = speech_track(seconds)
    if sentences is None:
        raise SystemExit(f"the speech is {source}: the word error rate needs espeak-ng's known sentences")
    reference = words_of(" ".join(sentences))
    piece = int(PIECE_S * AUDIO_RATE)
    pieces = {at / AUDIO_RATE: audio[at : at + piece] for at in range(0, len(audio), piece)}  # start (s) -> audio
    figures: dict[str, float] = {}
    for name, (beam_size, retries) in SETTINGS.items():
        profile = load_profile("offline", {"experts": {"text": {"options": {"beam_size": beam_size, "asr_fallback": retries}}}})
        expert = build_expert("text", profile.experts["text"], profile.expert_context)
        # the items the expert's `preprocess` makes of such chunks: the audio, one window, the speech
        items = [
            ChunkSpeech(sound, start, (WindowSpan(0, start, start + PIECE_S),), tuple(expert.vad.speech_spans(sound)))
            for start, sound in pieces.items()
        ]
        started = time.perf_counter()
        heard = [windows[0].transcript for windows in expert.forward(items)]
        figures[f"{name}_s"] = time.perf_counter() - started
        # the sentence cut off at the end is not in the reference: compare as many words as it holds
        hypothesis = words_of(" ".join(heard))[: len(reference)]
        figures[f"{name}_wer_pct"] = 100 * word_error_rate(reference, hypothesis)
        print(f"# {name}: {' '.join(heard)[:200]}")
    print(f"# speech: {source}, {seconds:g} s, {len(reference)} reference words")
    for name, value in figures.items():
        print(f"{name}: {value:.2f}")
    print(f"greedy_speedup_over_beam5_retries: {figures['beam5_retries_s'] / figures['greedy_s']:.2f}")
    print(f"greedy_wer_minus_beam5_retries_points: {figures['greedy_wer_pct'] - figures['beam5_retries_wer_pct']:.2f}")


if __name__ == "__main__":
    main()
