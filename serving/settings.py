"""The service's settings: one pydantic object read from `CER_*` environment variables (and
the `cer serve` flags, which win), validated before anything starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_TOKEN_CHARS = 16  # a shorter bearer token is guessable; refusing it beats a false sense of safety


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CER_", frozen=True, extra="forbid")

    data_dir: Path = Path("cer-serve")  # the job store (jobs.sqlite3) and one folder per job
    profile: str = "default"  # profile name or YAML file that every job runs with
    concurrency: int = Field(default=2, ge=1, le=32)  # jobs running at once, each on a Pipeline loaded at start-up
    max_queue: int = Field(default=16, ge=0)  # jobs waiting for a worker; one more is answered 429
    max_upload_bytes: int = Field(default=512 * 2**20, ge=1)  # bytes of one uploaded video
    max_duration_s: float = Field(default=1800.0, gt=0)  # longest video accepted (seconds)
    # CER_API_TOKEN: when set, every /v1 route wants `Authorization: Bearer <token>`.
    api_token: SecretStr | None = None

    @field_validator("api_token")
    @classmethod
    def _token_strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if not token.strip():
            # An empty variable most likely means a secret that failed to load: running open
            # would silently drop the protection the operator asked for.
            raise ValueError("CER_API_TOKEN is set but empty; unset it to run without a token")
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"CER_API_TOKEN must be at least {MIN_TOKEN_CHARS} characters")
        return value

    @property
    def token(self) -> str | None:
        return self.api_token.get_secret_value() if self.api_token else None
