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
    max_upload_bytes: int = Field(
        default=64 * 1_048_576, gt=0, description="Largest control-plane body (dataset uploads)."
    )
    refresh_interval_s: float = Field(
        default=0.5, gt=0, description="How often the server checks for endpoint changes."
    )
    log_level: str = "info"
    batch_max_rows: int = Field(
        default=64, ge=1, description="Largest adaptive batch (rows) per model version."
    )
    batch_max_wait_ms: float = Field(
        default=0.0, ge=0, description="Wait to fill a batch; 0 adds no latency when idle."
    )
    predict_timeout_s: float = Field(
        default=30.0, gt=0, description="A prediction taking longer answers 504."
    )
    breaker_enabled: bool = Field(
        default=True,
        description="A circuit breaker per served version sends traffic to the endpoint's "
        "fallback (or answers 503) while the version keeps failing.",
    )
    cache_ttl_s: float = Field(
        default=0.0, ge=0, description="Response cache lifetime; 0 disables the cache."
    )
    cache_max_entries: int = Field(default=10_000, ge=1, description="In-process cache size.")
    cache_storage: str = Field(
        default="memory",
        description="Where cached predictions live: memory (per process), or a redis:// "
        "URL shared by every worker and server using it.",
    )
    low_confidence_threshold: float = Field(
        default=0.6, ge=0, le=1, description="Classifier answers below it are flagged."
    )
    drift_interval_s: float = Field(
        default=300.0, ge=0, description="How often the server scores drift; 0 disables."
    )
    drift_window_s: float = Field(default=86_400.0, gt=0, description="Drift window length.")
    use_compiled: bool = Field(
        default=True, description="Serve a version's verified ONNX artifact when it has one."
    )
    prediction_log: bool = Field(default=True, description="Record every prediction.")
    spool_dir: Path | None = Field(
        default=None, description="Local spool for prediction records; default home/spool."
    )
    ship_in_process: bool = Field(
        default=False,
        description=(
            "Ship spooled records from a thread of the server instead of a low-priority "
            "child process (an in-memory SQLite store always ships in process)."
        ),
    )
    ship_interval_s: float = Field(
        default=0.1,
        gt=0,
        description=(
            "How often spooled records move to the store (small, frequent batches keep "
            "the shipper from stalling the event loop)."
        ),
    )
    ship_idle_priority: bool = Field(
        default=True,
        description=(
            "Run the shipper child at idle CPU priority (SCHED_IDLE, where the OS has "
            "it): it uses only CPU that serving leaves over, so logging costs no "
            "throughput; a saturated server defers shipping up to ship_max_lag_s."
        ),
    )
    ship_max_lag_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "A spooled segment waiting longer than this is shipped by a catch-up child "
            "at low (nice +10) rather than idle priority, so a server that stays "
            "saturated still delivers its records."
        ),
    )

    # Security (on by default; see README "Security").
    auth_enabled: bool = Field(default=True, description="Require an API key on every route.")
    secret_key: str | None = Field(
        default=None,
        description="Server secret for artifact signatures; default: a 0600 file in home.",
        repr=False,
    )
    metrics_public: bool = Field(default=False, description="Serve /metrics without a key.")
    allowed_hosts: list[str] | None = Field(
        default=None, description="Host header allowlist; default: loopback names + bind host."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Peers whose X-Forwarded-For is believed."
    )
    rate_limit_per_key: str = Field(
        default="200/second;5000/minute", description="Per API key (limits syntax)."
    )
    rate_limit_per_endpoint: str = Field(
        default="2000/second", description="Per endpoint, across callers (limits syntax)."
    )
    rate_limit_failed_auth: str = Field(
        default="20/second;300/minute",
        description="Failed authentications per client address before 429.",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="limits storage URI; e.g. redis://host:6379 to share across workers.",
    )
    max_json_depth: int = Field(default=32, gt=0)
    outbound_allowlist: list[str] = Field(
        default_factory=list,
        description="Hosts/CIDRs webhooks may reach even if private (e.g. 10.0.0.0/8).",
    )
    outbound_allow_private: bool = Field(
        default=False, description="Allow private destinations for webhooks (not metadata)."
    )
    webhook_interval_s: float = Field(default=1.0, gt=0, description="Outbox poll interval.")
    pii_key: str | None = Field(
        default=None,
        repr=False,
        description="Fernet key: PII columns are encrypted in the log (else redacted).",
    )

    # Monitoring: alert rules, cost models and spec webhooks come from the project spec.
    spec_file: Path | None = Field(
        default=None,
        description="Project spec (modelyard.yaml) whose monitoring section the server uses.",
    )
    alert_interval_s: float = Field(
        default=15.0, ge=0, description="How often alert rules are evaluated; 0 disables."
    )
    quality_min_labels: int = Field(
        default=100, ge=1, description="Labelled rows before live quality is the realized metric."
    )
    outcome_ring_size: int = Field(
        default=10_000,
        ge=10,
        description="Request outcomes kept per endpoint (in process) for error and request rates.",
    )

    # Background jobs (train, compile, batch_predict, drift_report; see README "Jobs").
    jobs_enabled: bool = Field(
        default=True, description="The server runs queued jobs (in child processes)."
    )
    jobs_concurrency: int = Field(
        default=1, ge=1, le=64, description="Jobs one server (or `jobs work`) runs at once."
    )
    jobs_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often the runner looks for queued jobs."
    )
    jobs_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="A running job's lease, renewed while its worker lives; once it expires "
        "the job is queued again (or failed after its last attempt).",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("cache_storage")
    @classmethod
    def _known_cache_storage(cls, value: str) -> str:
        if value != "memory" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must be 'memory' or a redis:// URL, not {value!r}")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use (the SQLite default lives in ``home``)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'modelyard.db'}"

    @property
    def credentials_path(self) -> Path:
        """Where the bootstrap admin key is kept for the CLI and SDK (mode 0600)."""
        return self.home / "credentials.json"

    @property
    def resolved_spool_dir(self) -> Path:
        return self.spool_dir or self.home / "spool"

    @property
    def secret_path(self) -> Path:
        return self.home / "secret.key"

    @property
    def resolved_artifacts_url(self) -> str:
        """The artifact store location in use."""
        return self.artifacts_url or str(self.home / "artifacts")
