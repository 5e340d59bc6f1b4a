"""The speech experts (audio, text), their speech recognition and text-emotion heads.

Real speech comes from espeak-ng (Debian package), so transcripts are known. The offline
profile's packaged models (Silero VAD, Whisper tiny.en via faster-whisper, MiniLM zero-shot)
must give meaningful results; the tiny profile's random-weight models must load through the
same code as the default profile's and give well-formed outputs.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest

from cer.core.config import load_profile
from cer.core.labels import BASIC
from cer.core.types import AUDIO_RATE, Chunk, VideoInfo, Window
from cer.modalities.asr import SpeechRecognizer, Word, transcript, words_in_windows
from cer.modalities.audio import NO_EMOTION_MODEL, AudioExpert, ProsodyTrack
from cer.modalities.speech_emotion import SpeechEmotionModel, Wav2Vec2MeanPoolClassifier, build_tiny_speech_emotion
from cer.modalities.text import ChunkSpeech, TextExpert, WindowSpan, heard_through
from cer.modalities.tiny import TINY_BUILDERS
from cer.modalities.vad import speech_extent, speech_seconds
from cer.pipeline.demo import demo_speech

FPS = 25.0
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install -y espeak-ng)")

ANGRY = "I am furious with you. Get out of my house right now!"
HAPPY = "This is the best day of my life, I am so happy!"


def speak(text: str, folder: Path) -> np.ndarray:
    """espeak-ng speech for `text`, resampled to 16 kHz mono float32."""
    import librosa

    wav = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    audio, _ = librosa.load(wav, sr=AUDIO_RATE, mono=True)  # espeak writes 22.05 kHz
    return audio.astype(np.float32)


def window(index: int, start_s: float, end_s: float) -> Window:
    return Window(index, start_s, end_s, int(start_s * FPS), int(end_s * FPS))


def chunk_of(audio: np.ndarray, windows: list[Window] | None = None, has_audio: bool = True) -> Chunk:
    """A chunk holding `audio` from time 0, by default as one window covering all of it."""
    duration = max(audio.size / AUDIO_RATE, 1.0)
    video = VideoInfo(
        path="synthetic.mp4",
        duration_s=duration,
        fps=FPS,
        width=64,
        height=64,
        has_audio=has_audio,
        n_frames=int(duration * FPS),
    )
    return Chunk(video=video, windows=windows or [window(0, 0.0, duration)], frames=[], audio=audio)


def silence(seconds: float) -> np.ndarray:
    """Faint noise rather than digital zeros, as a quiet room records."""
    return (np.random.default_rng(0).standard_normal(int(seconds * AUDIO_RATE)) * 1e-3).astype(np.float32)


def assert_distribution(probs: list[float] | np.ndarray) -> None:
    probs = np.asarray(probs)
    assert probs.shape == (len(BASIC),)
    assert np.all(probs >= 0)
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)


# --- words and windows ---------------------------------------------------------------------


def test_a_word_belongs_to_every_window_its_midpoint_falls_in() -> None:
    windows = [window(0, 0.0, 4.0), window(1, 2.0, 6.0)]
    words = [
        Word(" only", 0.5, 1.0),  # midpoint 0.75: first window only
        Word(" both", 2.5, 3.0),  # 2.75: in the overlap, so in both
        Word(" straddles", 1.6, 2.6),  # 2.1: in the overlap although it starts before it
        Word(" second", 3.8, 4.6),  # 4.2: past the first window's end
        Word(" after", 5.9, 6.3),  # 6.1: in no window
    ]
    first, second = words_in_windows(words, windows)
    assert [w.text.strip() for w in first] == ["only", "both", "straddles"]
    assert [w.text.strip() for w in second] == ["both", "straddles", "second"]


def test_words_shift_to_video_time_and_join_as_whisper_spaced_them() -> None:
    words = [Word(" at", 0.0, 0.2), Word(" three", 0.2, 0.5), Word(" o", 0.5, 0.6), Word("'clock.", 0.6, 0.9)]
    assert transcript(words) == "at three o'clock."
    assert words[1].shifted(10.0) == Word(" three", 10.2, 10.5)


def test_speech_spans_measure_windows() -> None:
    spans = [(0.5, 1.5), (3.0, 5.0)]
    assert speech_seconds(spans, 0.0, 4.0) == pytest.approx(2.0)
    assert speech_extent(spans, 1.0, 4.0) == (1.0, 4.0)
    assert speech_extent(spans, 1.6, 2.9) is None


# --- the stages: what preprocessing sends to the models --------------------------------------


def test_pitch_is_tracked_over_speech_only() -> None:
    """A steady tone is pitched, but it is a voice only where the VAD heard speech."""
    times = np.arange(3 * AUDIO_RATE) / AUDIO_RATE
    tone = (0.3 * np.sin(2 * np.pi * 200.0 * times)).astype(np.float32)
    track = ProsodyTrack.of(tone, [(1.0, 2.0)])
    speech = (track.times_s >= 1.0) & (track.times_s < 2.0)
    assert not track.voiced[~speech].any() and np.isnan(track.f0_hz[~speech]).all()
    assert track.voiced[speech].mean() > 0.9
    assert np.nanmedian(track.f0_hz[speech]) == pytest.approx(200.0, rel=0.02)
    before = track.summary(0.0, 1.0)
    assert before["pitch_mean_hz"] is None and before["voiced_ratio"] == 0 and before["rms"] > 0  # energy is measured everywhere
    assert not ProsodyTrack.of(tone, []).voiced.any()


@pytest.mark.offline
def test_windows_that_hear_the_same_speech_send_it_once(tmp_path: Path) -> None:
    speech = np.concatenate([silence(1.0), demo_speech(), silence(1.5)])  # speech from 1.0 s to 5.5 s
    chunk = chunk_of(speech, [window(0, 0.0, 6.0), window(1, 0.5, 7.0)])
    expert = AudioExpert(load_profile("tiny").experts["audio"], tmp_path, load_models=False)  # preprocessing needs only the VAD
    prepared = pickle.loads(pickle.dumps(expert.preprocess(chunk)))  # what travels to the process with the models
    [stretch] = prepared.items
    assert stretch.dtype == np.float32 and 4.0 < stretch.size / AUDIO_RATE < 5.0
    assert [(window.index, window.item) for window in prepared.plan] == [(0, 0), (1, 0)]
    assert all(0 < window.evidence["speech_ratio"] < 1 for window in prepared.plan)


@pytest.mark.offline
def test_the_text_expert_sends_a_chunk_to_recognition_only_when_it_has_speech(tmp_path: Path) -> None:
    expert = TextExpert(load_profile("offline").experts["text"], tmp_path, load_models=False)
    windows = [window(0, 10.0, 14.0), window(1, 12.0, 16.0)]
    assert expert.preprocess(chunk_of(silence(6.0), windows)).items == []
    speech = np.concatenate([silence(0.5), demo_speech()])
    audible = chunk_of(speech, windows)
    audible.audio_start_s = 10.0
    [item] = pickle.loads(pickle.dumps(expert.preprocess(audible))).items
    assert item.audio_start_s == 10.0 and np.array_equal(item.audio, speech)
    assert item.windows == (WindowSpan(0, 10.0, 14.0), WindowSpan(1, 12.0, 16.0))


@pytest.mark.parametrize(("norm", "mask", "batched"), [("layer", True, True), ("group", True, False), ("layer", False, False)])
def test_speech_is_batched_only_where_padding_changes_nothing(tmp_path: Path, norm: str, mask: bool, batched: bool) -> None:
    """Padding stretches of different lengths into one batch gives what one at a time gives, for
    the models it is used with (layer-norm wav2vec2 with an attention mask); the others go one by one."""
    import torch
    from transformers import Wav2Vec2Config

    build_tiny_speech_emotion(tmp_path)
    for name, key, value in (("config.json", "feat_extract_norm", norm), ("preprocessor_config.json", "return_attention_mask", mask)):
        settings = json.loads((tmp_path / name).read_text())
        (tmp_path / name).write_text(json.dumps({**settings, key: value}))
    # weights that fit the changed encoder (group norm has other parameters), in the same head layout
    (tmp_path / "pytorch_model.bin").unlink()
    torch.manual_seed(0)
    Wav2Vec2MeanPoolClassifier(Wav2Vec2Config.from_pretrained(str(tmp_path))).save_pretrained(str(tmp_path))
    model = SpeechEmotionModel(tmp_path, "cpu")
    assert model.pads_batches == batched
    speech = demo_speech()
    stretches = [speech[: AUDIO_RATE // 4], speech[: 2 * AUDIO_RATE], speech]  # the first is shorter than the classifier reads
    with torch.inference_mode():
        together = model.probs(stretches)
        alone = np.concatenate([model.probs([stretch]) for stretch in stretches])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    for row in together:
        assert_distribution(row)


# --- offline profile: packaged models, real results ----------------------------------------


@pytest.fixture(scope="module")
def offline_text(tmp_path_factory: pytest.TempPathFactory) -> TextExpert:
    return TextExpert(load_profile("offline").experts["text"], tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def offline_audio(tmp_path_factory: pytest.TempPathFactory) -> AudioExpert:
    return AudioExpert(load_profile("offline").experts["audio"], tmp_path_factory.mktemp("cache"))


@pytest.mark.offline
@needs_espeak
@pytest.mark.parametrize(("sentence", "emotion", "keyword"), [(ANGRY, "Anger", "furious"), (HAPPY, "Happiness", "happy")])
def test_offline_text_expert_hears_the_emotion(offline_text: TextExpert, tmp_path: Path, sentence: str, emotion: str, keyword: str) -> None:
    [output] = offline_text.predict(chunk_of(speak(sentence, tmp_path)))
    assert output.present
    assert_distribution(output.probs)
    assert BASIC[int(np.argmax(output.probs))] == emotion
    assert keyword in output.evidence["transcript"].lower()
    words = output.evidence["words"]
    assert words and all(0.0 <= w["start_s"] <= w["end_s"] for w in words)


@pytest.mark.offline
def test_offline_zero_shot_scores_text_lines(offline_text: TextExpert) -> None:
    lines = {
        "You lied to me again and I am really angry about it.": "Anger",
        "Stop shouting at me, I hate this, it makes me so mad.": "Anger",
        "This is unacceptable, I am absolutely livid!": "Anger",
        "We won the game and I feel wonderful, thank you all.": "Happiness",
        "I love this beautiful present, it makes me so glad.": "Happiness",
        "What a beautiful day, I feel great.": "Happiness",
        "Please send me the invoice by the end of the week.": "Neutral",
    }
    probs = offline_text.score_texts(list(lines))
    assert probs.shape == (len(lines), len(BASIC))
    for row in probs:
        assert_distribution(row)
    assert [BASIC[i] for i in probs.argmax(axis=1)] == list(lines.values())
    assert np.all(probs[:, BASIC.index("Other")] == 0)  # no description of "Other" exists
    assert offline_text.score_texts([]).shape == (0, len(BASIC))


@pytest.mark.offline
@needs_espeak
def test_recordings_transcribed_in_one_batch_give_the_words_of_one_at_a_time(offline_text: TextExpert, tmp_path: Path) -> None:
    recordings = [speak(ANGRY, tmp_path), np.concatenate([silence(1.5), speak(HAPPY, tmp_path)])]
    recognizer = offline_text.recognizer
    one_at_a_time = [recognizer.transcribe(audio) for audio in recordings]
    batched = recognizer.transcribe_many(recordings)
    assert [[word.text for word in words] for words in batched] == [[word.text for word in words] for words in one_at_a_time]
    for words, reference in zip(batched, one_at_a_time, strict=True):  # times within one of Whisper's 20 ms steps
        assert [word.start_s for word in words] == pytest.approx([word.start_s for word in reference], abs=0.021)
        assert [word.end_s for word in words] == pytest.approx([word.end_s for word in reference], abs=0.021)
    assert "furious" in transcript(one_at_a_time[0]).lower() and "happy" in transcript(one_at_a_time[1]).lower()
    assert one_at_a_time[1][0].start_s >= 1.0  # times stay the recording's own, past its silence


SENTENCES = [
    "I honestly did not expect the results to come back this quickly.",
    "We walked along the river until the lights came on in the town.",
    "Please put the boxes by the door before you leave tomorrow.",
    "She laughed so hard at the joke that she nearly dropped her coffee.",
    "The meeting moved to Thursday, so we have two more days to prepare.",
]


@pytest.fixture(scope="module")
def half_minutes(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """Two chunks' audio of 30 s, speech from start to end, each cut off mid-sentence."""
    folder = tmp_path_factory.mktemp("speech")
    pause = np.zeros(int(0.4 * AUDIO_RATE), dtype=np.float32)
    talk = np.concatenate([piece for sentence in SENTENCES * 3 for piece in (speak(sentence, folder), pause)])
    second = 30 * AUDIO_RATE
    return [talk[:second], talk[second // 2 : second // 2 + second]]


@pytest.mark.offline
@needs_espeak
def test_a_batch_hears_each_recording_to_its_end(offline_text: TextExpert, half_minutes: list[np.ndarray]) -> None:
    """Decoded with timestamp tokens, a batch lost the last seconds of speech of each 30 s
    recording (the segment still open there); decoded as one segment, it keeps them."""
    for audio, words in zip(half_minutes, offline_text.recognizer.transcribe_many(half_minutes), strict=True):
        last_speech_s = offline_text.vad.speech_spans(audio)[-1][1]
        assert words[-1].end_s > last_speech_s - 1.5, transcript(words)


class StopsEarlyInBatches:
    """The offline recognizer, but its batches keep only each recording's last word: what
    Whisper sometimes does after a word cut off at a recording's start."""

    def __init__(self, recognizer: SpeechRecognizer) -> None:
        self.recognizer = recognizer
        self.alone = 0

    def transcribe(self, audio16k: np.ndarray) -> list[Word]:
        self.alone += 1
        return self.recognizer.transcribe(audio16k)

    def transcribe_many(self, recordings: Sequence[np.ndarray]) -> list[list[Word]]:
        return [words[-1:] for words in self.recognizer.transcribe_many(recordings)]


@pytest.mark.offline
@needs_espeak
def test_a_recording_the_batch_cut_short_is_heard_again_alone(
    offline_text: TextExpert, half_minutes: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [ChunkSpeech(audio, 0.0, (WindowSpan(0, 0.0, 30.0),), tuple(offline_text.vad.speech_spans(audio))) for audio in half_minutes]
    alone = [transcript(offline_text.recognizer.transcribe(audio)) for audio in half_minutes]
    stops_early = StopsEarlyInBatches(offline_text.recognizer)
    monkeypatch.setattr(offline_text, "recognizer", stops_early)
    assert [windows[0].transcript for windows in offline_text.forward(items)] == alone
    assert stops_early.alone == 2 and all(len(text.split()) > 40 for text in alone)


def test_words_that_span_half_the_speech_count_as_heard_through() -> None:
    speech = [(0.5, 10.0), (12.0, 20.5)]  # 20 s from the first speech to the last
    assert heard_through([Word("a", 0.6, 1.0), Word("b", 10.0, 10.7)], speech)
    assert not heard_through([Word("me.", 19.0, 20.0)], speech)
    assert heard_through([], speech)  # nothing heard: music or noise the VAD took for speech
    assert heard_through([Word("a", 0.0, 0.1)], [])


@pytest.mark.offline
def test_offline_text_expert_reads_transcripts_and_says_so(offline_text: TextExpert) -> None:
    assert offline_text.options.text_kind == "transcript"
    note = offline_text.status().note
    assert note is not None and note.startswith("zero-shot head for transcripts")


@pytest.mark.offline
def test_silence_has_no_speech_for_text_and_audio(offline_text: TextExpert, offline_audio: AudioExpert) -> None:
    chunk = chunk_of(silence(6.0), [window(0, 0.0, 4.0), window(1, 2.0, 6.0)])
    for expert in (offline_text, offline_audio):
        outputs = expert.predict(chunk)
        assert [o.window_index for o in outputs] == [0, 1]
        assert all(not o.present and o.reason == "no speech in window" for o in outputs)
    assert all(o.evidence["speech_ratio"] == 0 for o in offline_audio.predict(chunk))


@pytest.mark.offline
def test_the_audio_and_text_experts_find_a_chunk_s_speech_once(
    offline_text: TextExpert, offline_audio: AudioExpert, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[np.ndarray] = []
    for vad in (offline_audio.vad, offline_text.vad):
        monkeypatch.setattr(vad, "_find", lambda audio, find=vad._find: heard.append(audio) or find(audio))
    audio = demo_speech().copy()  # an array no earlier test handed in
    spans = offline_audio.vad.speech_spans(audio)
    assert spans and offline_text.vad.speech_spans(audio) == spans
    assert len(heard) == 1  # the text expert got the audio expert's spans
    assert offline_text.vad.speech_spans(audio.copy()) == spans and len(heard) == 2  # another array is heard anew


@pytest.mark.offline
def test_voice_activity_finds_the_spans_of_the_silero_package_s_own_loop(offline_audio: AudioExpert) -> None:
    import torch
    from silero_vad import get_speech_timestamps
    from silero_vad.utils_vad import OnnxWrapper

    reference = OnnxWrapper(str(offline_audio.model_path("vad")), force_onnx_cpu=True)
    noise = np.random.default_rng(0).normal(0, 0.05, 3 * AUDIO_RATE).astype(np.float32)
    speech = demo_speech()
    # speech, speech in noise and a length that ends inside a frame
    for audio in (speech, np.concatenate([silence(1.3), speech[: 5 * AUDIO_RATE + 100] + noise.mean(), noise])):
        expected = get_speech_timestamps(torch.from_numpy(audio.copy()), reference, threshold=0.5, sampling_rate=AUDIO_RATE)
        spans = offline_audio.vad.speech_spans(audio.copy())
        assert spans and spans == [(stamp["start"] / AUDIO_RATE, stamp["end"] / AUDIO_RATE) for stamp in expected]


@pytest.mark.offline
def test_a_video_without_audio_is_absent_with_the_reason(offline_text: TextExpert, offline_audio: AudioExpert) -> None:
    chunk = chunk_of(np.zeros(0, dtype=np.float32), [window(0, 0.0, 4.0)], has_audio=False)
    for expert in (offline_text, offline_audio):
        [output] = expert.predict(chunk)
        assert not output.present and output.reason == "no audio track"


@pytest.mark.offline
@needs_espeak
def test_offline_audio_expert_reports_speech_but_no_emotion_model(offline_audio: AudioExpert, tmp_path: Path) -> None:
    status = offline_audio.status()
    assert status.status == "unavailable" and status.reason == NO_EMOTION_MODEL
    assert "silero-vad" in status.model_id

    speech = np.concatenate([silence(1.0), speak(ANGRY, tmp_path), silence(1.0)])
    [output] = offline_audio.predict(chunk_of(speech))
    assert not output.present and output.reason == NO_EMOTION_MODEL
    evidence = output.evidence
    assert 0 < evidence["speech_ratio"] < 1  # the padding silence is not speech
    assert 0 < evidence["voiced_ratio"] <= 1
    assert 65 <= evidence["pitch_mean_hz"] <= 400 and evidence["pitch_std_hz"] >= 0
    assert evidence["rms"] > 0


# --- tiny profile: random-weight models through the default profile's loading code ---------


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    for name in ("speech_emotion", "whisper", "text_emotion"):
        module_name, function_name = TINY_BUILDERS[name].split(":")
        folder = cache / "tiny" / name
        folder.mkdir(parents=True)
        getattr(import_module(module_name), function_name)(folder)
    return cache


@pytest.mark.slow
@needs_espeak
def test_tiny_models_run_through_the_experts(tiny_cache: Path, tmp_path: Path) -> None:
    profile = load_profile("tiny")
    speech = speak(ANGRY, tmp_path)
    duration = speech.size / AUDIO_RATE
    chunk = chunk_of(speech, [window(0, 0.0, min(4.0, duration)), window(1, 2.0, duration)])

    audio = AudioExpert(profile.experts["audio"], tiny_cache)
    assert audio.status().status == "ok"
    for output in audio.predict(chunk):
        assert output.present
        assert_distribution(output.probs)
        assert output.probs[BASIC.index("Other")] == 0  # RAVDESS labels have no "other"

    text = TextExpert(profile.experts["text"], tiny_cache)
    outputs = text.predict(chunk)
    assert len(outputs) == 2
    spoken = [o for o in outputs if o.present]
    assert spoken, f"no words in windows: VAD {text.vad.speech_spans(speech)}, words {text.recognizer.transcribe(speech)[:5]}"
    for output in spoken:
        assert_distribution(output.probs)
        assert output.evidence["transcript"]
    for row in text.score_texts(["anything at all", "another line"]):
        assert_distribution(row)


def test_the_tiny_whisper_is_the_same_on_every_build(tmp_path: Path) -> None:
    import torch

    from cer.modalities.asr import build_tiny_whisper

    states = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        build_tiny_whisper(tmp_path / name)
        states.append(torch.load(tmp_path / name / "checkpoint.pt")["model_state_dict"])
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])


# --- loud failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "message"),
    [
        ("cer.modalities.text_emotion:ClassifierHead", "text-emotion classifier"),
        ("cer.modalities.speech_emotion:SpeechEmotionModel", "speech-emotion model"),
    ],
)
def test_a_model_that_cannot_load_fails_loudly(tmp_path: Path, loader: str, message: str) -> None:
    module_name, class_name = loader.split(":")
    with pytest.raises(RuntimeError, match=message):
        getattr(import_module(module_name), class_name)(tmp_path, "cpu")


def test_a_voice_activity_model_that_is_not_silero_onnx_fails_loudly(tmp_path: Path) -> None:
    from cer.modalities.vad import VoiceActivity

    with pytest.raises(RuntimeError, match=r"silero_vad.onnx"):
        VoiceActivity(tmp_path / "silero_vad.jit")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match=r"could not load the Silero VAD model from .*broken.onnx"):
        VoiceActivity(tmp_path / "broken.onnx")


def test_an_onnx_model_that_is_not_silero_s_fails_loudly(tmp_path: Path) -> None:
    from onnxruntime.datasets import get_example

    from cer.modalities.vad import VoiceActivity

    other = shutil.copy(get_example("sigmoid.onnx"), tmp_path / "silero_vad.onnx")  # onnxruntime's own example model
    with pytest.raises(RuntimeError, match=r"silero_vad.onnx is not a Silero VAD model: its inputs are \['x'\]"):
        VoiceActivity(Path(other))


def test_a_folder_without_a_whisper_model_fails_loudly(tmp_path: Path) -> None:
    from cer.modalities.asr import load_recognizer

    with pytest.raises(RuntimeError, match=r"model.bin"):
        load_recognizer("faster-whisper", tmp_path, "cpu")
    with pytest.raises(RuntimeError, match="checkpoint"):
        load_recognizer("openai-whisper", tmp_path, "cpu")
