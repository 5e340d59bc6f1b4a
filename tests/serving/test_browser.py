"""The web page in Debian's chromium, driven by Playwright: give the token when asked, upload
a clip, wait for the result, and find one timeline band per window."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.serving.live import TOKEN, RunningServer

CHROMIUM = Path("/usr/bin/chromium")  # Debian's (.ci/run installs it); Playwright's own download is not used
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
SINGLE_FACE = Path(__file__).resolve().parents[3] / "shared" / "data" / "single_face.mp4"
RESULT_TIMEOUT_MS = 600_000


@pytest.fixture
def clip(request: pytest.FixtureRequest) -> Path:
    return SINGLE_FACE if SINGLE_FACE.is_file() else request.getfixturevalue("demo_clip")


@pytest.mark.slow
def test_upload_through_the_page(server: RunningServer, clip: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url)
            page.wait_for_selector("#token-form", state="visible")  # the API answered 401
            page.fill("#token-input", TOKEN)
            page.click("#token-form button")
            page.set_input_files("#file-input", str(clip))
            page.wait_for_selector("#viewer", state="visible", timeout=RESULT_TIMEOUT_MS)

            job_id = re.fullmatch(r".*#job=([0-9a-f-]{36})", page.url).group(1)
            with server.client() as api:
                windows = api.http.get(f"/v1/jobs/{job_id}/result").json()["windows"]
            assert page.locator(".band").count() == len(windows) >= 1
            assert page.locator(".heatmap").count() >= 1
            assert page.locator("#downloads a").count() == 6

            last = page.locator(".band").last
            last.click()  # seeks the video to that window
            assert page.locator(".band.current").count() == 1
            assert page.locator("#evidence-window").text_content().startswith(f"{windows[-1]['index']}:")
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert (tmp_path / "page.png").stat().st_size > 0
