"""The page in Debian's chromium, driven by Playwright (chromium is installed by CI, not
everywhere: the tests that need it are skipped without it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # Debian's (.ci/run installs it); Playwright's own download is not used
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
# A camera and a microphone of chromium's own, granted without asking
FAKE_MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@contextmanager
def chromium_page(url: str, token: str, args: Sequence[str] = ()) -> Iterator[Any]:
    """The page at `url` in chromium (started with `args` too), given the token it asks for;
    no script error may happen on it."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *args])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            page.wait_for_selector("#token-form", state="visible")  # the API answered 401
            page.fill("#token-input", token)
            page.click("#token-form button")
            yield page
        finally:
            browser.close()
    assert not errors, errors
