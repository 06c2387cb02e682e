"""The one settings object, read from ``GOLDENTIME_*`` environment variables.

Built in each entry point (``goldentime.cli``) and passed down; nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository checkout (or, when installed elsewhere, the working directory).
_HERE = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """The data bundle shipped with the project (``data/`` of the checkout), else ``./data``.

    ``GOLDENTIME_DATA_DIR`` points elsewhere (a fuller data folder, or one ``goldentime data fetch``
    refreshed)."""
    bundled = _HERE / "data"
    return bundled if bundled.is_dir() else Path("data").resolve()


class Settings(BaseSettings):
    """Every setting a GoldenTime process reads. Environment prefix ``GOLDENTIME_``."""

    model_config = SettingsConfigDict(env_prefix="GOLDENTIME_", extra="ignore")

    mqtt_url: str | None = Field(
        default=None,
        description="Broker URL, mqtt://[user:pass@]host:port or mqtts://...; unset = embedded broker.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset = SQLite file var/goldentime.sqlite3.",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Where the data sets live.")
    var_dir: Path = Field(default=Path("var"), description="Local state: SQLite file, caches, logs.")

    scenario: str | None = Field(default=None, description="Scenario name; unset = the first whose data is complete.")

    recorder_batch_size: int = Field(default=500, ge=1, le=100_000)
    recorder_flush_interval_s: float = Field(default=0.2, gt=0, le=60)
    recorder_client_id: str = Field(default="goldentime-recorder", min_length=1, max_length=64)
    recorder_spool_mb: float = Field(
        default=256.0,
        ge=0,
        le=1_000_000,
        description="While the database is unavailable the recorder keeps batches on disk "
        "(var/recorder-spool.sqlite3) up to this size, then holds messages unacknowledged; 0 = no spool.",
    )

    mqtt_protocol: Literal["3.1.1", "5"] | None = Field(
        default=None,
        description="MQTT protocol version, spoken with no fallback; unset = 3.1.1 for the embedded broker a command "
        "starts itself, and for a broker URL negotiated: MQTT 5, else 3.1.1 when the broker refuses it (as "
        "`goldentime broker` does). Commands say which one they use (docs/brokers.md).",
    )
    mqtt_password_file: Path | None = Field(
        default=None,
        description="Mosquitto password file (goldentime mqtt users create): the embedded broker then lets in only "
        "those accounts and holds each to telemetry/access.py; unset = open to everyone (the demo).",
    )
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=3600)
    mqtt_max_inflight: int = Field(default=1000, ge=1, le=65535)

    retention_days: float = Field(
        default=365.0, gt=0, le=36_500, description="Stored telemetry (and refused messages) older than this is purged."
    )
    position_retention_days: float = Field(
        default=30.0, gt=0, le=36_500, description="GPS positions, the bulk of the record, are purged sooner."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Web origins allowed to call the capacity API from a browser (JSON list); empty = CORS closed.",
    )
    capacity_api_url: str = Field(
        default="http://127.0.0.1:8000", description="Where the dashboard's emergency centre page sends updates."
    )
    clock_speed: float = Field(
        default=1.0,
        gt=0,
        le=1000,
        description="City seconds per wall-clock second, for durations the dashboard measures between messages: "
        "1 in service; the demo's simulated city runs faster.",
    )
    egen_service_key: str | None = Field(
        default=None,
        description="data.go.kr service key of the E-Gen OpenAPI (`data fetch egen`, `hospitals poll-egen`).",
    )
    demo_tokens: Path | None = Field(
        default=None, description="The demo's file of centre tokens (JSON), pre-filled on the emergency centre page."
    )

    @field_validator("mqtt_url", "database_url", "egen_service_key")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("mqtt_password_file", mode="before")
    @classmethod
    def _blank_path_is_unset(cls, value: object) -> object:
        return value or None

    @property
    def model_dir(self) -> Path:
        """Trained models (the severity model), built locally from the data directory."""
        return self.var_dir / "models"

    @property
    def cache_dir(self) -> Path:
        """Prepared road graphs and travel-time indexes."""
        return self.var_dir / "cache"

    @property
    def recorder_spool_path(self) -> Path:
        return self.var_dir / "recorder-spool.sqlite3"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'goldentime.sqlite3').resolve()}"
