"""The web page in Debian's chromium, driven by Playwright: give the token when asked, upload
a two-person clip, wait for the result, find one timeline band per window, pick a person and
find their bands and their box on the video; an HEVC upload (which
chromium cannot play) plays from its H.264 preview; the heading counts the experts that ran,
and a legend explains the grey heatmap rows.

What the page should say is computed from result.json by `experts_ran` and `grey_rows`,
which are tested here without a browser (chromium is installed by CI, not everywhere)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cer.core.result import load_result
from cer.pipeline.outputs.files import FILE_NAMES
from cer.serving.client import Client
from tests.serving.browser import chromium_page
from tests.serving.live import TOKEN, RunningServer

RESULT_TIMEOUT_MS = 600_000
PLAY_TIMEOUT_MS = 30_000
# The player has decoded a frame (HAVE_CURRENT_DATA) of a video with a size and a duration:
# what a codec the browser cannot play never reaches (it shows black, or fails).
SHOWS_A_FRAME = """() => {
  const video = document.getElementById("player");
  return video.readyState >= 2 && video.videoWidth > 0 && Number.isFinite(video.duration) && video.duration > 0;
}"""


def experts_ran(result: dict[str, Any]) -> str:
    """What the page's heading says of the experts: "4 of 6 experts ran"."""
    ran = sum(expert["status"] == "ok" for expert in result["experts"].values())
    return f"{ran} of {len(result['experts'])} experts ran"


def grey_rows(result: dict[str, Any]) -> dict[str, str | None]:
    """The experts whose heatmap row has grey in it, each with the reason the legend gives for
    an expert that did not run (None for one that ran but was absent from some windows)."""
    rows: dict[str, str | None] = {}
    for name, expert in result["experts"].items():
        if expert["status"] != "ok":
            rows[name] = expert["reason"]
        elif any(window["experts"].get(name, {}).get("probs") is None for window in result["windows"]):
            rows[name] = None
    return rows


def test_what_the_page_should_say_follows_result_json() -> None:
    absent = {"probs": None, "reason": "no face in this window", "evidence": {}}
    present = {"probs": [0.125] * 8, "reason": None, "evidence": {}}
    result = {
        "experts": {
            "static_face": {"status": "ok", "reason": None},
            "text": {"status": "ok", "reason": None},
            "scene": {"status": "unavailable", "reason": "the offline profile has no scene model"},
        },
        "windows": [{"experts": {"static_face": present, "text": present}}, {"experts": {"static_face": absent, "text": present}}],
    }
    assert experts_ran(result) == "2 of 3 experts ran"
    assert grey_rows(result) == {"static_face": None, "scene": "the offline profile has no scene model"}


@pytest.fixture
def page(server: RunningServer) -> Iterator[Any]:
    with chromium_page(server.url, TOKEN) as page:
        yield page


def upload(page: Any, server: RunningServer, video: Path) -> dict[str, Any]:
    """Upload through the page and wait for the result on screen: the job, and its result."""
    page.set_input_files("#file-input", str(video))
    page.wait_for_selector("#viewer", state="visible", timeout=RESULT_TIMEOUT_MS)
    job_id = re.fullmatch(r".*#job=([0-9a-f-]{36})", page.url).group(1)
    with Client(server.url, TOKEN) as api:
        return {"job": api.job(job_id), "result": api.http.get(f"/v1/jobs/{job_id}/result").json()}


@pytest.mark.slow
def test_upload_through_the_page(page: Any, server: RunningServer, tmp_path: Path) -> None:
    """Two persons (silent: a quicker job): the whole video's bands, then a person picked,
    their bands, and their box on the video."""
    from bench.people_clips import faces_clip

    result = load_result(upload(page, server, faces_clip(tmp_path / "two.mp4", [420, 360], speaker=None, duration_s=4.0))["result"])
    windows = result.window_results
    # the bands and the heading name the decisions every other view names
    assert page.locator(".band").all_text_contents() == [w.decision.text.replace("_", " ", 1) for w in windows]
    assert len(windows) >= 1
    assert result.decision.text in page.locator("#result-heading").text_content()
    assert page.locator(".heatmap").count() >= 1
    assert page.locator("#downloads a").all_text_contents() == [*FILE_NAMES, "video"]

    last = page.locator(".band").last
    last.click()  # seeks the video to that window
    assert page.locator(".band.current").count() == 1
    assert page.locator("#evidence-window").text_content().startswith(f"{windows[-1].index}:")
    page.wait_for_function(SHOWS_A_FRAME, timeout=PLAY_TIMEOUT_MS)
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert (tmp_path / "page.png").stat().st_size > 0

    assert len(result.persons) == 2 and page.locator("#person-choice").is_visible()
    options = page.locator("#person-picker option").all_text_contents()
    assert options == ["the whole video", *(f"person {p.id}: {p.summary.decision.text}" for p in result.persons)]
    person = result.persons[1]
    page.select_option("#person-picker", str(person.id))
    own = {window.index: window for window in person.windows}
    expected = [own[w.index].decision.text.replace("_", " ", 1) if w.index in own else "" for w in windows]
    assert page.locator(".band").all_text_contents() == expected
    page.evaluate("() => { const v = document.getElementById('player'); v.currentTime = 1.0; }")
    page.wait_for_selector("#person-box", state="visible", timeout=PLAY_TIMEOUT_MS)
    assert page.locator("#person-box").text_content() == f"person {person.id}"
    box = page.locator("#person-box").bounding_box()
    video = page.locator("#player").bounding_box()
    x0 = person.boxes[0].box[0]
    assert box is not None and video is not None and box["x"] > video["x"] + (0.5 if x0 > 0.5 else 0.0) * video["width"] - 1


@pytest.mark.slow
def test_an_hevc_upload_plays_its_preview(page: Any, server: RunningServer, hevc_clip: Path) -> None:
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    shown = upload(page, server, hevc_clip)
    job, result = shown["job"], shown["result"]
    assert job["player"]["url"].endswith("/preview")
    page.wait_for_function("() => document.getElementById('player').src !== ''")
    assert f"{server.url}{job['player']['url']}" in fetched  # with a token, the page fetches it and plays a blob: URL
    page.wait_for_function(SHOWS_A_FRAME, timeout=PLAY_TIMEOUT_MS)
    assert page.locator("#player-warning").is_hidden()

    assert experts_ran(result) in page.locator("#result-heading").text_content()
    rows = grey_rows(result)
    assert rows, "the clip has no face: the face experts' rows are grey"  # so the legend has lines
    legend = page.locator("#absent-legend")
    assert legend.is_visible() and "grey" in legend.text_content()
    for name, reason in rows.items():
        assert name in legend.text_content()
        if reason:
            assert reason in legend.text_content()
