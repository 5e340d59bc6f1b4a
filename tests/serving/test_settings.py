"""Settings come from CER_* variables and refuse a token that protects nothing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cer.serving.settings import Settings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CER_CONCURRENCY", "3")
    monkeypatch.setenv("CER_MAX_QUEUE", "7")
    monkeypatch.setenv("CER_API_TOKEN", "a-long-enough-token-123")
    settings = Settings(profile="tiny")
    assert (settings.concurrency, settings.max_queue, settings.profile) == (3, 7, "tiny")
    assert settings.token == "a-long-enough-token-123"
    assert "a-long-enough-token-123" not in repr(settings)


def test_no_token_means_an_open_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CER_API_TOKEN", raising=False)
    assert Settings().token is None


@pytest.mark.parametrize(("token", "problem"), [("", "empty"), ("   ", "empty"), ("short", "at least 16")])
def test_a_useless_token_is_refused(monkeypatch: pytest.MonkeyPatch, token: str, problem: str) -> None:
    monkeypatch.setenv("CER_API_TOKEN", token)
    with pytest.raises(ValidationError, match=problem):
        Settings()


def test_limits_are_checked() -> None:
    with pytest.raises(ValidationError, match="concurrency"):
        Settings(concurrency=0)
