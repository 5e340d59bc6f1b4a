"""A clip with a face and speech most of the time, as the benchmarks' "60 s video with a face and
speech": the packaged smiling face drifting across a grey frame, and sentences spoken one after
another with short pauses; and the same face without speech (`quiet_face_clip`).

The sentences are synthesised by espeak-ng when it is installed (`apt-get install espeak-ng`),
each a different one, so that speech recognition meets varied speech: Whisper retries a
segment that repeats itself at higher temperatures, which one sentence looped would provoke.
Without espeak-ng, the packaged sentence is repeated, and the figures say so.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from common import FRAME_SHAPE  # bench/, the script's folder

from cer.core.types import AUDIO_RATE
from cer.pipeline.demo import demo_photo, demo_speech, write_clip

PAUSE_S = 0.6  # silence after each sentence

# Our own sentences, of everyday speech with some feeling in it
SENTENCES = (
    "I honestly did not expect the results to come back this quickly.",
    "We walked along the river until the lights came on in the town.",
    "That was the best news I have heard all week, thank you for telling me.",
    "Please put the boxes by the door, the van arrives at nine tomorrow.",
    "I am worried that the bridge will close before we get there.",
    "She laughed so hard at the joke that she nearly dropped her coffee.",
    "Why would anyone leave the gate open on a night like this?",
    "The meeting moved to Thursday, so we have two more days to prepare.",
    "It is quiet here in the morning, and the air smells of rain.",
    "He could not believe that the old car still started after all these years.",
    "Let us try the other road, this one looks flooded.",
    "I miss the summers when we used to swim in the lake every afternoon.",
)


def spoken(text: str) -> np.ndarray:
    """espeak-ng's rendering of `text`, 16 kHz mono float32."""
    import librosa
    import soundfile

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
        samples, rate = soundfile.read(wav, dtype="float32")
    return librosa.resample(samples, orig_sr=rate, target_sr=AUDIO_RATE) if rate != AUDIO_RATE else samples


def speech_track(duration_s: float) -> tuple[np.ndarray, str, list[str] | None]:
    """Sentences one after another with pauses, for `duration_s`; where they came from; and
    the text of the sentences heard whole, in order (None for the packaged sentence, whose text
    is not known here)."""
    if shutil.which("espeak-ng"):
        sentences, source, texts = [spoken(text) for text in SENTENCES], "espeak-ng, 12 different sentences", list(SENTENCES)
    else:
        sentences, source, texts = [demo_speech()], "the packaged sentence, repeated (espeak-ng is not installed)", None
    audio = np.zeros(int(duration_s * AUDIO_RATE), dtype=np.float32)
    heard: list[str] = []
    at, k = 0, 0
    while at < len(audio):
        whole = sentences[k % len(sentences)]
        piece = whole[: len(audio) - at]
        audio[at : at + len(piece)] = piece
        if texts is not None and len(piece) == len(whole):
            heard.append(texts[k % len(texts)])
        at += len(piece) + int(PAUSE_S * AUDIO_RATE)
        k += 1
    return audio, source, heard if texts is not None else None


def talking_face_clip(path: Path, duration_s: float) -> tuple[Path, str]:
    """The clip, written to `path` (H.264 / AAC, 25 fps, 960 x 540); and where its speech came from."""
    audio, source, _ = speech_track(duration_s)
    return drifting_face_clip(path, duration_s, audio), source


def quiet_face_clip(path: Path, duration_s: float) -> Path:
    """The same face without speech: its sound is a quiet room's faint noise (so the voice
    activity detector listens and hears nobody)."""
    noise = np.random.default_rng(0).standard_normal(int(duration_s * AUDIO_RATE)) * 1e-3
    return drifting_face_clip(path, duration_s, noise.astype(np.float32))


def drifting_face_clip(path: Path, duration_s: float, audio: np.ndarray) -> Path:
    """The packaged face drifting across a grey 960 x 540 frame, with `audio` (16 kHz mono)."""
    import cv2

    height, width = FRAME_SHAPE[:2]
    side = 480  # the photo this large: OpenCV's Haar cascade (the tiny profile's detector) misses it at 420 px and below
    face = cv2.resize(demo_photo(), (side, side), interpolation=cv2.INTER_AREA)
    top = (height - side) // 2

    def frame(t: float) -> np.ndarray:
        canvas = np.full((height, width, 3), 96, dtype=np.uint8)
        x = int((width - side) * (0.5 + 0.4 * np.sin(t / 5)))
        canvas[top : top + side, x : x + side] = face
        return canvas

    return write_clip(path, frame, duration_s, fps=25, audio=audio)
