"""The service's settings: one pydantic object read from `CER_*` environment variables (and
the `cer serve` flags, which win), validated before anything starts."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cer.core.config import Profile, load_profile, with_device
from cer.core.devices import DEVICE_PATTERN

MIN_TOKEN_CHARS = 16  # a shorter bearer token is guessable; refusing it beats a false sense of safety
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class SettingsError(ValueError):
    """Settings that cannot be used, in one line that names each bad variable and never shows
    a value (one of them may be the token)."""


class Settings(BaseSettings):
    # hide_input_in_errors: a refused CER_API_TOKEN must not be printed in the error
    model_config = SettingsConfigDict(env_prefix="CER_", frozen=True, extra="forbid", hide_input_in_errors=True)

    data_dir: Path = Path("cer-serve")  # the job store (jobs.sqlite3) and one folder per job
    profile: str = "default"  # profile name or YAML file that every job runs with
    device: str | None = Field(default=None, pattern=DEVICE_PATTERN)  # every expert's device (auto, cpu, cuda, cuda:N); None: the profile's
    concurrency: int = Field(default=2, ge=1, le=32)  # jobs running at once, each on a Pipeline loaded at start-up
    # Jobs waiting for a worker beyond those the workers are running; 0: no waiting line, a job
    # is accepted only when a worker is free to start it. One more is answered 429.
    max_queue: int = Field(default=16, ge=0)
    max_upload_bytes: int = Field(default=512 * 2**20, ge=1)  # bytes of one uploaded video
    max_duration_s: float = Field(default=1800.0, gt=0)  # longest video accepted (seconds)
    # Uploads being received at once, and the bytes they announce together (a body without a
    # Content-Length counts as max_upload_bytes): one more is answered 429. They bound the
    # disk and connections that slow or stalled clients can hold.
    max_uploads: int = Field(default=4, ge=1)
    max_upload_bytes_in_flight: int = Field(default=2 * 2**30, ge=1)
    # Space the data folder's disk keeps free: at or below it uploads are refused (507) and
    # /readyz says 503, before a job's outputs or the job store run out of room halfway.
    min_free_bytes: int = Field(default=256 * 2**20, ge=0)
    upload_timeout_s: float = Field(default=30.0, gt=0)  # an upload whose body sends nothing this long is dropped (408)
    # After its first upload_timeout_s, an upload must average this many bytes a second (0: no
    # floor), so that a few clients trickling a byte now and then cannot hold every upload slot:
    # 16 KiB/s brings the largest upload (512 MiB) in within 9 hours.
    upload_min_bytes_per_s: float = Field(default=16 * 1024, ge=0)
    # Host names the server answers for (the Host header; `*`: any). Loopback only by default,
    # so that a web page on another site cannot reach a local server by DNS rebinding.
    # CER_ALLOWED_HOSTS takes a comma-separated list.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = LOOPBACK_HOSTS
    # CER_API_TOKEN: when set, every /v1 route wants `Authorization: Bearer <token>` (the live
    # WebSocket also takes it in its first message, as browsers cannot set the header there).
    api_token: SecretStr | None = None
    # Live sessions (/v1/live) at once, each an analysis process loading the profile's models
    # (0: none); one more is closed with 1013, try again later.
    live_sessions: int = Field(default=1, ge=0, le=32)
    # Verdicts of a live session waiting to be sent; when they stay full for a second the client
    # is not reading them and the session is closed (4000), rather than holding them without end.
    live_max_pending: int = Field(default=16, ge=1)
    # The largest message (media chunk) a live session takes; a larger one is closed with 1009.
    # A browser's MediaRecorder sends a few hundred kilobytes a second. `cer serve` gives it to
    # the web server too, which then holds no larger message in memory.
    live_max_message_bytes: int = Field(default=4 * 2**20, ge=1024)

    def job_profile(self) -> Profile:
        """The profile every job runs with: `profile`, with `device` applied when set."""
        return with_device(load_profile(self.profile), self.device)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """The settings from the environment, with `overrides` (the command line's) winning;
        SettingsError when they cannot be used."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError("; ".join(map(_problem, exc.errors()))) from None

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = [name for name in value.split(",") if name.strip()]
        if isinstance(value, (list, tuple)):
            value = tuple(str(name).strip().lower().strip("[]") for name in value)  # [::1] is ::1
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _some_host(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("names no host, so the server would answer no request; use * for any")
        return value

    @field_validator("api_token")
    @classmethod
    def _token_strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if not token.strip():
            # An empty variable most likely means a secret that failed to load: running open
            # would silently drop the protection the operator asked for.
            raise ValueError("is set but empty; unset it to run without a token")
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _one_upload_fits_in_flight(self) -> Settings:
        if self.max_upload_bytes_in_flight < self.max_upload_bytes:
            problem = "is smaller than CER_MAX_UPLOAD_BYTES: no upload of the largest size could ever start"
            raise ValueError(f"CER_MAX_UPLOAD_BYTES_IN_FLIGHT {problem}")
        return self

    @property
    def token(self) -> str | None:
        return self.api_token.get_secret_value() if self.api_token else None

    def token_matches(self, given: str) -> bool:
        """Whether `given` is the token (true of anything when the server has none)."""
        expected = self.token
        # compare_digest takes as long whatever the first wrong character: the token cannot be
        # found one character at a time by timing the answers
        return expected is None or secrets.compare_digest(given.encode(), expected.encode())

    def allows_host(self, host: str) -> bool:
        return "*" in self.allowed_hosts or host.lower() in self.allowed_hosts


def variable_names() -> list[str]:
    """The CER_* variables the settings are read from."""
    return [f"CER_{name.upper()}" for name in Settings.model_fields]


def _problem(error: ErrorDetails) -> str:
    """One refused setting, by its variable's name: `CER_MAX_QUEUE: ...`."""
    message = error["msg"].removeprefix("Value error, ")
    name = "_".join(map(str, error["loc"])).upper()
    return f"CER_{name}: {message}" if name else message
