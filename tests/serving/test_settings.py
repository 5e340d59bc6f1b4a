"""Settings come from CER_* variables, refuse a token that protects nothing (and never show
it), and refuse limits that could not work."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cer.serving.settings import LOOPBACK_HOSTS, Settings, SettingsError


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CER_CONCURRENCY", "3")
    monkeypatch.setenv("CER_MAX_QUEUE", "7")
    monkeypatch.setenv("CER_API_TOKEN", "a-long-enough-token-123")
    settings = Settings(profile="tiny")
    assert (settings.concurrency, settings.max_queue, settings.profile) == (3, 7, "tiny")
    assert settings.token == "a-long-enough-token-123"
    assert "a-long-enough-token-123" not in repr(settings)


def test_cer_device_puts_every_job_s_experts_there(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {cfg.device for cfg in Settings(profile="tiny").job_profile().experts.values()} == {"auto"}  # the profile's
    monkeypatch.setenv("CER_DEVICE", "cpu")
    assert {cfg.device for cfg in Settings(profile="tiny").job_profile().experts.values()} == {"cpu"}
    monkeypatch.setenv("CER_DEVICE", "gpu")
    with pytest.raises(SettingsError, match="CER_DEVICE"):
        Settings.load(profile="tiny")


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


def test_a_refused_token_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CER_API_TOKEN", "short-secret")
    with pytest.raises(SettingsError) as refused:
        Settings.load()
    assert str(refused.value) == "CER_API_TOKEN: must be at least 16 characters"
    with pytest.raises(ValidationError) as raw:
        Settings()
    assert "short-secret" not in str(raw.value)


def test_allowed_hosts_are_loopback_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().allowed_hosts == LOOPBACK_HOSTS
    monkeypatch.setenv("CER_ALLOWED_HOSTS", "cer.example, [::1],Other.Example")
    settings = Settings()
    assert settings.allowed_hosts == ("cer.example", "::1", "other.example")
    assert settings.allows_host("OTHER.example") and not settings.allows_host("localhost")
    monkeypatch.setenv("CER_ALLOWED_HOSTS", "*")
    assert Settings().allows_host("anything.example")
    monkeypatch.setenv("CER_ALLOWED_HOSTS", " , ")
    with pytest.raises(SettingsError, match="CER_ALLOWED_HOSTS: names no host"):
        Settings.load()


def test_upload_limits_must_fit_one_upload() -> None:
    assert Settings(max_queue=0).max_queue == 0  # no waiting line: a job only when a worker is free
    with pytest.raises(SettingsError, match="CER_MAX_UPLOAD_BYTES_IN_FLIGHT is smaller than CER_MAX_UPLOAD_BYTES"):
        Settings.load(max_upload_bytes=2**20, max_upload_bytes_in_flight=2**19)


def test_every_setting_is_documented_with_its_default() -> None:
    """docs/service.md's table names each CER_* variable the settings read, with its default."""
    table = (Path(__file__).resolve().parents[2] / "docs" / "service.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        variable = f"CER_{name.upper()}"
        assert f"`{variable}`" in table, variable
        if isinstance(field.default, (int, float)) and not isinstance(field.default, bool):
            assert f"| `{variable}` | {field.default!s} |" in table or f"| `{variable}` | {field.default:g} |" in table, variable
