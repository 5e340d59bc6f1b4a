import itertools
import os
import struct
import wave
from fractions import Fraction

import av
import numpy as np
import pytest

from cer.core.chunks import iter_chunks
from cer.core.config import MediaConfig
from cer.core.media import MediaError, iter_audio_blocks, iter_sampled_frames, probe
from cer.core.types import VideoInfo
from cer.core.windows import make_windows


def test_probe_real_videos(shared_data):
    info = probe(shared_data / "single_face.mp4")
    assert (info.width, info.height, info.n_frames) == (640, 360, 72)
    assert info.duration_s == pytest.approx(2.4, abs=0.05) and info.fps == pytest.approx(30.0)
    assert info.has_audio
    mov = probe(shared_data / "face_noface.mov")
    assert mov.duration_s == pytest.approx(6.4, abs=0.1) and (mov.width, mov.height) == (960, 540)


def test_frames_are_sampled_at_the_requested_rate(shared_data):
    info = probe(shared_data / "face_noface.mov")
    frames = list(iter_sampled_frames(info, sample_fps=5, max_side=480))
    assert len(frames) == pytest.approx(info.duration_s * 5, abs=2)
    times = [f.t_s for f in frames]
    assert times == sorted(times) and all(b - a > 0.15 for a, b in itertools.pairwise(times))
    assert frames[0].image.shape == (270, 480, 3) and frames[0].image.dtype == np.uint8


def test_audio_is_16k_mono(shared_data):
    info = probe(shared_data / "single_face.mp4")
    audio = np.concatenate(list(iter_audio_blocks(info)))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / 16000 == pytest.approx(info.duration_s, abs=0.1)


def test_video_without_audio(silent_clip):
    info = probe(silent_clip)
    assert not info.has_audio
    assert list(iter_audio_blocks(info)) == []


def test_chunks_cover_every_window_once_and_share_overlap_frames(shared_data):
    info = probe(shared_data / "face_noface.mov")
    windows = make_windows(info.duration_s, info.fps, info.n_frames)
    works = list(iter_chunks(info, windows, MediaConfig(chunk_windows=2, max_side=320)))
    assert [w.index for work in works for w in work.chunk.windows] == [w.index for w in windows]
    for work in works:
        for window in work.chunk.windows:
            inside = work.chunk.frames_in(window)
            assert inside and all(window.start_s <= f.t_s < window.end_s for f in inside)
    # every sampled frame is new in exactly one chunk: decoding happens once
    all_new = [f.t_s for work in works for f in work.new_frames]
    assert len(all_new) == len(set(all_new)) == len(list(iter_sampled_frames(info, 5, 320)))


def _rotate_mp4_90_clockwise(path):
    """Set the track header's display matrix to a 90 degree clockwise rotation, as phones do."""
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    matrix = tkhd + 4 + 40  # version/flags and the version-0 fields before the matrix
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(data)


def test_rotated_phone_video_is_made_upright(tmp_path):
    from cer.pipeline.demo import write_clip

    def red_top(t):
        image = np.zeros((96, 160, 3), np.uint8)
        image[:20, :, 0] = 255
        return image

    clip = write_clip(tmp_path / "phone.mp4", red_top, duration_s=1.0, fps=10)
    _rotate_mp4_90_clockwise(clip)
    info = probe(clip)
    assert info.rotation == 90 and (info.width, info.height) == (96, 160)
    image = next(iter_sampled_frames(info, 5, 720)).image
    assert image.shape == (160, 96, 3)
    assert image[:, -20:, 0].mean() > 200 and image[:, :20, 0].mean() < 30  # the top band is now on the right


def test_variable_frame_rate_follows_timestamps(tmp_path):
    path = tmp_path / "vfr.mp4"
    stamps_ms = [0, 40, 80, 500, 520, 1400, 1450, 1500, 2600, 2900]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for ms in stamps_ms:
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), ms % 255, np.uint8), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    info = probe(path)
    times = [f.t_s for f in iter_sampled_frames(info, sample_fps=5, max_side=64)]
    # one frame per 0.2 s sampling instant that has a frame at or after it, taken at its real time
    assert times == pytest.approx([0.0, 0.5, 1.4, 2.6, 2.9], abs=0.002)


def test_bad_inputs_give_one_clear_message(tmp_path, shared_data):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((shared_data / "single_face.mp4").read_bytes()[:60_000])
    empty = tmp_path / "empty.mp4"
    empty.touch()
    for path, words in [
        (text, "not a readable video"),
        (truncated, "not a readable video"),
        (empty, "empty file"),
        (tmp_path / "missing.mp4", "not found"),
        (tmp_path, "a folder, not a video file"),
    ]:
        with pytest.raises(MediaError, match=words):
            probe(path)


def test_a_pipe_is_told_to_be_saved_to_a_file_first():
    """`cer run /dev/stdin`: videos are read with seeks, which a pipe cannot do."""
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(MediaError, match=r"not a regular file .* save the video to a file"):
            probe(f"/proc/self/fd/{read_end}")
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_corrupt_audio_file_is_named_as_one(tmp_path):
    corrupt = tmp_path / "speech.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    info = VideoInfo(path=str(corrupt), duration_s=0.0, fps=1.0, width=0, height=0, has_audio=True, n_frames=0)
    with pytest.raises(MediaError, match=r"speech\.wav: not a readable audio file"):
        list(iter_audio_blocks(info, kind="audio file"))


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(16000, np.int16).tobytes())
    with pytest.raises(MediaError, match="no video stream"):
        probe(path)
