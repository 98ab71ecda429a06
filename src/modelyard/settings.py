"""The one settings object: environment variables prefixed ``MODELYARD_``.

Nothing else in modelyard reads ``os.environ``; build a :class:`Settings` at the edge
(CLI, server, SDK) and pass it down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where modelyard keeps its state and how the server behaves."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore")

    home: Path = Field(default=Path(".modelyard"), description="Directory for local state.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is a SQLite file in home."
    )
    artifacts_url: str | None = Field(
        default=None, description="Artifact store location; default is home/artifacts."
    )
    max_body_bytes: int = Field(default=1_048_576, gt=0, description="Largest request body.")
    max_rows_per_request: int = Field(default=10_000, gt=0)
    refresh_interval_s: float = Field(
        default=0.5, gt=0, description="How often the server checks for endpoint changes."
    )
    log_level: str = "info"

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use (the SQLite default lives in ``home``)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'modelyard.db'}"

    @property
    def resolved_artifacts_url(self) -> str:
        """The artifact store location in use."""
        return self.artifacts_url or str(self.home / "artifacts")
