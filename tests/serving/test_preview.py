"""The browser's copy of an upload it cannot play: HEVC `.mov` gets an H.264 mp4 preview,
made by the worker, that decodes and is what the page's player is given; a video browsers
play has none; and a preview that cannot be made costs the page its player, not the job."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from cer.serving import worker
from cer.serving.client import Client
from cer.serving.preview import MAX_SHORT_SIDE, preview_size, unplayable_codecs, write_preview
from tests.serving.hevc import write_hevc_mov


def decoded(path: Path) -> dict[str, object]:
    """What a player finds in the file: container, codecs, size, turn, and frames it decodes."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = list(container.decode(video=0))
        return {
            "format": container.format.name,
            "codecs": [stream.codec_context.name for stream in container.streams],
            "size": (video.codec_context.width, video.codec_context.height),
            "rotation": frames[0].rotation,
            "frames": len(frames),
        }


def test_browsers_play_h264_mp4_and_not_hevc_mov(silent_clip: Path, hevc_clip: Path) -> None:
    assert unplayable_codecs(silent_clip) is None
    assert unplayable_codecs(hevc_clip) == "hevc in QuickTime / MOV"


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1920, 1080), (1280, 720)), ((1080, 1920), (720, 1280)), ((640, 480), (640, 480)), ((1281, 721), (1280, 720))],
)
def test_the_preview_is_at_most_720p(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert preview_size(*size) == expected


def test_a_real_phone_hevc_mov_gets_a_preview_with_every_frame(shared_data: Path, tmp_path: Path) -> None:
    """A real iPhone-style clip (HEVC, variable rate: filmed at 30 fps, 26.4 on average), whose
    frames an encoder counting in average-rate steps would stamp twice."""
    upload = shared_data / "face_noface.mov"
    write_preview(upload, tmp_path / "preview.mp4", check=lambda: None)
    found = decoded(tmp_path / "preview.mp4")
    assert found["codecs"] == ["h264", "aac"] and found["frames"] == decoded(upload)["frames"]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(audio=0) if packet.size]


def test_sound_browsers_play_is_copied_as_it_is_and_other_sound_becomes_aac(tmp_path: Path, hevc_clip: Path) -> None:
    """A phone's AAC is not decoded and encoded again (a needless loss, and time); PCM is."""
    write_preview(hevc_clip, tmp_path / "aac.mp4", check=lambda: None)
    assert audio_packets(tmp_path / "aac.mp4") == audio_packets(hevc_clip)
    pcm = write_hevc_mov(tmp_path / "pcm.mov", 160, 90, duration_s=1.0, sound_codec="pcm_s16le")
    write_preview(pcm, tmp_path / "pcm.mp4", check=lambda: None)
    assert decoded(tmp_path / "pcm.mp4")["codecs"] == ["h264", "aac"]


def test_a_phone_video_filmed_sideways_stays_upright(tmp_path: Path) -> None:
    upload = write_hevc_mov(tmp_path / "portrait.mov", 320, 180, duration_s=1.0, rotation=90)
    write_preview(upload, tmp_path / "preview.mp4", check=lambda: None)
    found = decoded(tmp_path / "preview.mp4")
    assert found["codecs"] == ["h264", "aac"] and found["rotation"] == 90 and found["frames"] == 10


def test_a_stopped_preview_leaves_no_file(tmp_path: Path, hevc_clip: Path) -> None:
    def stop() -> None:
        raise InterruptedError

    with pytest.raises(InterruptedError):
        write_preview(hevc_clip, tmp_path / "preview.mp4", check=stop)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_an_hevc_upload_gets_an_h264_preview_that_plays(client: Client, hevc_clip: Path, tmp_path: Path) -> None:
    response = client.submit(hevc_clip)
    assert response.status_code == 202, response.text
    job = client.wait(response.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["player"] == {"url": f"{job['urls']['job']}/preview", "warning": None}

    preview = client.http.get(job["player"]["url"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "video/mp4"
    (tmp_path / "preview.mp4").write_bytes(preview.content)
    found = decoded(tmp_path / "preview.mp4")
    assert found["format"].startswith("mov,mp4") and found["codecs"] == ["h264", "aac"]
    assert min(found["size"]) == MAX_SHORT_SIDE and found["size"] == (960, 720)
    assert found["frames"] == 30  # every frame of the 3 s at 10 fps
    assert client.http.get(job["urls"]["video"]).content == hevc_clip.read_bytes()  # the download stays the upload


@pytest.mark.slow
def test_a_video_browsers_play_has_no_preview(client: Client, silent_clip: Path) -> None:
    job = client.wait(client.submit(silent_clip).json()["id"])
    assert job["player"] == {"url": job["urls"]["video"], "warning": None}
    response = client.http.get(f"{job['urls']['job']}/preview")
    assert response.status_code == 404 and response.json()["error"]["code"] == "no_preview"


@pytest.mark.slow
def test_a_preview_that_fails_leaves_the_job_done_with_a_warning(client: Client, hevc_clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(video: Path, target: Path, check: object) -> None:
        raise av.FFmpegError(1, f"cannot encode {video}")

    monkeypatch.setattr(worker, "write_preview", broken)  # the test server's workers run in this process
    job = client.wait(client.submit(hevc_clip).json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["player"] == {"url": job["urls"]["video"], "warning": worker.NO_PREVIEW}
