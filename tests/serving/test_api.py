"""The API of a live server: a job from upload to every result file, uploads refused with the
right 4xx and nothing left behind, unknown jobs, and the bearer token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from cer.core.result import SCHEMA_ID
from cer.pipeline.demo import write_clip
from cer.pipeline.outputs.files import FILE_NAMES, OUTPUT_FILES
from cer.serving.client import Client
from cer.serving.data_dir import DataDirInUse
from cer.serving.service import Service
from cer.serving.uploads import FIELDS_MAX
from tests.bad_media import faststart_truncated, frame_rate_bomb, frame_size_bomb
from tests.serving.live import TOKEN, RunningServer


def test_health_needs_no_token(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_job_from_upload_to_every_result_file(server: RunningServer, client: Client, silent_clip: Path) -> None:
    response = client.submit(silent_clip, compound="pfsa")
    assert response.status_code == 202, response.text
    accepted = response.json()
    urls = accepted["urls"]
    assert accepted["status"] == "queued" and response.headers["location"] == urls["job"]
    early = client.http.get(urls["result"])
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_done"

    job = client.wait(accepted["id"])
    assert job["status"] == "done", job["error"]
    assert job["filename"] == "silent.mp4" and job["attempts"] == 1 and job["compound"] == "pfsa"
    assert job["progress"]["windows_done"] == job["progress"]["windows_total"] >= 1

    result = client.http.get(urls["result"]).json()
    assert result["schema"] == SCHEMA_ID and result["profile"] == "tiny"
    assert result["video"]["path"] == "silent.mp4"  # the upload's name, not where the server keeps it
    assert str(server.settings.data_dir) not in client.http.get(urls["files"]["report.html"]).text
    assert len(result["windows"]) == job["progress"]["windows_total"]
    assert {w["compound"]["method"] for w in result["windows"]} == {"pfsa"}
    # every file of the one table of outputs, with its media type
    assert list(urls["files"]) == list(FILE_NAMES)
    for output in OUTPUT_FILES:
        file = client.http.get(urls["files"][output.name])
        assert file.status_code == 200 and file.headers["content-type"] == output.media_type, output.name
        assert file.content, output.name
    assert client.http.get(urls["files"]["result.json"]).json() == result
    video = client.http.get(urls["video"])
    assert video.headers["content-type"].startswith("video/mp4") and video.content == silent_clip.read_bytes()
    _ranges_are_served_and_bad_ones_refused_in_json(client, urls["video"], silent_clip.read_bytes())
    assert "sandbox" in client.http.get(urls["files"]["report.html"]).headers["content-security-policy"]

    listed = client.http.get("/v1/jobs", params={"limit": 100}).json()
    assert accepted["id"] in [item["id"] for item in listed["items"]]
    assert client.wait_ready()["workers_loaded"] == server.settings.concurrency  # the other worker may still load

    assert client.http.delete(urls["job"]).status_code == 204
    assert client.http.get(urls["job"]).status_code == 404
    assert accepted["id"] not in server.job_folders()


def _ranges_are_served_and_bad_ones_refused_in_json(client: Client, url: str, content: bytes) -> None:
    """The player seeks with Range requests; a bad one gets the API's JSON error, not plain text."""
    part = client.http.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == content[10:20]
    beyond = client.http.get(url, headers={"Range": f"bytes={len(content)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(content)}"
    assert beyond.json()["error"]["code"] == "range_not_satisfiable"
    malformed = client.http.get(url, headers={"Range": "pages=1-2"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_range"
    static = client.http.get("/static/app.js", headers={"Range": "bytes=99999999-"})
    assert static.status_code == 416 and static.json()["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize("route", ["", "/result", "/video", "/timeline.png"])
def test_an_unknown_job_is_404(client: Client, route: str) -> None:
    response = client.http.get(f"/v1/jobs/{uuid.uuid4()}{route}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_deleting_an_unknown_job_is_404(client: Client) -> None:
    assert client.http.delete(f"/v1/jobs/{uuid.uuid4()}").status_code == 404


def test_only_job_ids_reach_the_file_routes(client: Client) -> None:
    assert client.http.get("/v1/jobs/..%2F..%2Fjobs.sqlite3/result").status_code in (404, 422)
    assert client.http.get(f"/v1/jobs/{uuid.uuid4()}/jobs.sqlite3").status_code == 422


# --- refused uploads ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, silent_clip: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.mp4"
    text.write_text("not a video at all\n" * 100)
    truncated = folder / "truncated.mp4"  # the index is at the end, which is cut off
    truncated.write_bytes(silent_clip.read_bytes()[: silent_clip.stat().st_size // 2])
    long_clip = write_clip(folder / "long.mp4", lambda t: np.zeros((32, 32, 3), np.uint8), duration_s=25.0, fps=2)
    audio_only = Path(__file__).resolve().parents[2] / "pipeline" / "assets" / "demo_speech.wav"
    return {
        "text": text,
        "truncated": truncated,
        "faststart_truncated": faststart_truncated(silent_clip, folder / "cut.mp4"),
        "long": long_clip,
        "audio_only": audio_only,
        "frame_rate_bomb": frame_rate_bomb(folder / "bomb.mp4"),
        "frame_size_bomb": frame_size_bomb(folder / "huge.mkv"),
    }


@pytest.fixture
def leaves_nothing(server: RunningServer, client: Client) -> Iterator[None]:
    """The test's uploads must leave no job and no folder behind."""
    before_jobs = client.http.get("/v1/jobs").json()["total"]
    before_folders = server.job_folders()
    yield
    assert client.http.get("/v1/jobs").json()["total"] == before_jobs
    assert server.job_folders() == before_folders


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("text", 415, "not_a_video"),
        ("truncated", 415, "not_a_video"),
        ("faststart_truncated", 415, "truncated"),
        ("long", 422, "too_long"),
        ("audio_only", 415, "no_video_stream"),
        ("frame_rate_bomb", 415, "frame_rate"),
        ("frame_size_bomb", 415, "frame_size"),
    ],
)
def test_a_bad_video_is_refused_at_once(client: Client, bad_files: dict[str, Path], name: str, status: int, code: str) -> None:
    response = client.submit(bad_files[name])
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert bad_files[name].name in error["message"] or code == "too_long"  # the client's name, not the server's


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("excess", [1, 2**20], ids=["found-while-streaming", "refused-by-content-length"])
def test_an_upload_over_the_size_limit_is_refused(server: RunningServer, client: Client, tmp_path: Path, excess: int) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (server.settings.max_upload_bytes + excess))
    response = client.submit(big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


@pytest.mark.usefixtures("leaves_nothing")
def test_the_size_limit_holds_without_a_content_length(server: RunningServer, client: Client) -> None:
    """A chunked body announces no size: the limit is enforced while the bytes arrive."""
    boundary = "cer-test-boundary"

    def body() -> Iterator[bytes]:
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
               "Content-Type: video/mp4\r\n\r\n").encode()  # fmt: skip
        chunk = b"\0" * 2**16
        for _ in range(server.settings.max_upload_bytes // len(chunk) + 2):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.http.post("/v1/jobs", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"data": {"profile": "tiny"}, "files": {"other": ("x.txt", b"x")}}, 422, "missing_file"),
        ({"json": {"file": "clip.mp4"}}, 415, "not_multipart"),
    ],
)
def test_a_malformed_form_is_refused(client: Client, request_kwargs: dict, status: int, code: str) -> None:
    response = client.http.post("/v1/jobs", **request_kwargs)
    assert response.status_code == status and response.json()["error"]["code"] == code


@pytest.mark.usefixtures("leaves_nothing")
def test_text_fields_cannot_add_up_to_a_large_body(client: Client) -> None:
    """Each text field is bounded, and so is their number: a form of many small fields is
    refused as it arrives, before it is held in memory."""
    boundary = "many-fields"
    field = f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n{"x" * 1000}\r\n'
    body = (field * (FIELDS_MAX + 1) + f"--{boundary}--\r\n").encode()
    response = client.http.post("/v1/jobs", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_form"
    assert f"more than {FIELDS_MAX} text fields" in response.json()["error"]["message"]


@pytest.mark.usefixtures("leaves_nothing")
def test_a_video_in_another_field_is_told_the_field_to_use(client: Client) -> None:
    """`curl -F video=@clip.mp4`: the answer names the field the service reads and the one it got."""
    response = client.http.post("/v1/jobs", files={"video": ("clip.mp4", b"\0" * 4096, "video/mp4")})
    error = response.json()["error"]
    assert response.status_code == 422 and error["code"] == "missing_file"
    assert "`file`" in error["message"] and "`video`" in error["message"]


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize(("fields", "code"), [({"profile": "paper"}, "wrong_profile"), ({"compound": "vote"}, "bad_form")])
def test_bad_job_options_are_refused(client: Client, silent_clip: Path, fields: dict[str, str], code: str) -> None:
    response = client.submit(silent_clip, **fields)
    assert response.status_code == 422 and response.json()["error"]["code"] == code


# --- the token -----------------------------------------------------------------------------


# a job id of its own, the same in every collection (pytest-xdist's workers must collect alike)
UNKNOWN_JOB = "/v1/jobs/5d1c2a9e-0000-4000-8000-000000000000"


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789abcdef"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/jobs"), ("GET", UNKNOWN_JOB), ("POST", "/v1/jobs")])
def test_v1_routes_want_the_token(server: RunningServer, token: str | None, method: str, path: str) -> None:
    with server.client(token) as api:
        response = api.http.request(method, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_the_right_token_is_let_in(server: RunningServer) -> None:
    with server.client(TOKEN) as api:
        assert api.http.get("/v1/jobs").status_code == 200


def test_a_second_server_on_the_same_data_is_refused(server: RunningServer) -> None:
    # two servers would each take the other's running jobs for leftovers of a crash
    with pytest.raises(DataDirInUse):
        Service.open(server.settings)
