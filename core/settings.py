"""Owns the configuration read from environment variables: every variable Vigil reads, its type,
default and validation, parsed in this one place by pydantic-settings into one typed object.

Every variable is optional; the defaults run the embedded demo (SQLite, local MLflow, no
Prometheus) with all state under one data directory, ``./data`` unless ``VIGIL_DATA_DIR``
says otherwise. An empty value counts as unset. A malformed value stops start-up with a
ConfigError naming the variable.

| variable | meaning | default |
|---|---|---|
| VIGIL_DATA_DIR | directory holding all state | ./data |
| VIGIL_CONFIG | YAML file listing the monitored models | config/models.yaml |
| DATABASE_URL | SQLAlchemy URL (sqlite:///..., postgresql+psycopg://...) | sqlite:///<data>/vigil.db |
| MLFLOW_TRACKING_URI | MLflow tracking/registry URI | sqlite:///<data>/mlflow/mlflow.db |
| PROMETHEUS_URL | Prometheus base URL; empty means "use the logs" | (none) |
| VIGIL_AUTH_MODE | local, oidc or proxy | local |
| VIGIL_PROXY_USER_HEADER | header set by a trusted reverse proxy (proxy mode only) | X-Forwarded-User |
| VIGIL_OIDC_PROVIDER | provider name in .streamlit/secrets.toml [auth] (oidc mode) | (default provider) |
| VIGIL_SESSION_TTL_MINUTES | sign-in session lifetime | 480 |
| VIGIL_LOCKOUT_THRESHOLD | failed sign-ins before lockout | 5 |
| VIGIL_LOCKOUT_MINUTES | lockout duration | 15 |
| VIGIL_DEMO | 1/true enables demo accounts with published passwords | false |
| VIGIL_JOB_USER | account that cron jobs act as | scheduler |
| VIGIL_WEBHOOK_URL | Slack-compatible webhook for health notifications | (none) |
| VIGIL_DB_CONNECT_TIMEOUT_SECONDS | PostgreSQL: give up connecting after this long (exit 5) | 10 |
| VIGIL_DB_STATEMENT_TIMEOUT_SECONDS | PostgreSQL: cancel a statement after this long; 0 = never | 300 |
| VIGIL_DB_BUSY_TIMEOUT_SECONDS | SQLite: wait this long for another writer's lock, then exit 5 | 30 |
| VIGIL_ARTIFACT_URL | artifact store: a directory or fsspec URL (s3://bucket/prefix); see core.storage | <data>/artifacts |
| VIGIL_LOGSTORE_URL | log store (quarantine in its _quarantine/): directory or fsspec URL | <data>/logstore |
| VIGIL_AUDIT_RETENTION_DAYS | audit entries younger than this many days are never purged (>= 1) | 400 |

Read here too, documented where they are used: ``VIGIL_HEALTH_WEIGHTS`` and
``VIGIL_HEALTH_TEXTFILE`` (jobs.health), ``VIGIL_PROMETHEUS_PRESETS`` and ``PROMETHEUS_TIMEOUT``,
``PROMETHEUS_BEARER_TOKEN``, ``PROMETHEUS_USERNAME``, ``PROMETHEUS_PASSWORD``,
``PROMETHEUS_CA_FILE``, ``PROMETHEUS_INSECURE`` (monitoring.slo), ``VIGIL_TOKEN_MAX_DAYS``
(governance.tokens), ``VIGIL_ALIBI_PYTHON`` (monitoring.drift.filemode), ``VIGIL_METRICS_PORT``,
``VIGIL_METRICS_HOST``, ``VIGIL_SCHEDULER_LEASE_TTL`` (jobs.scheduler), ``VIGIL_PORT``
(jobs.demo), ``VIGIL_AUDIT_CHECKPOINT_*`` (governance.audit_anchor), ``VIGIL_TOKEN``
(jobs._identity), ``VIGIL_EXPORT_SIGNING_KEY_FILE`` (governance.audit_export). Secrets among them are kept out of ``repr``; core.redact masks them in any text.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
AUTH_MODES = ("local", "oidc", "proxy")
_MAPPING_ONLY: ContextVar[bool] = ContextVar("settings_mapping_only", default=False)


def _bool(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _whole(minimum: int) -> BeforeValidator:
    def parse(raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        return value

    return BeforeValidator(parse)


def _seconds(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {raw!r}")
    return value


Bool = Annotated[bool, BeforeValidator(_bool)]
Seconds = Annotated[float, BeforeValidator(_seconds)]


class EnvironmentSettings(BaseSettings):
    """The environment as pydantic-settings reads it: one field per variable, by its exact name."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore",
                                      frozen=True, populate_by_name=False)

    data_dir: str = Field("data", validation_alias="VIGIL_DATA_DIR")
    config_file: str = Field("config/models.yaml", validation_alias="VIGIL_CONFIG")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    mlflow_tracking_uri: str | None = Field(None, validation_alias="MLFLOW_TRACKING_URI")
    prometheus_url: str | None = Field(None, validation_alias="PROMETHEUS_URL")
    auth_mode: str = Field("local", validation_alias="VIGIL_AUTH_MODE")
    proxy_user_header: str = Field("X-Forwarded-User", validation_alias="VIGIL_PROXY_USER_HEADER")
    oidc_provider: str | None = Field(None, validation_alias="VIGIL_OIDC_PROVIDER")
    session_ttl_minutes: Annotated[int, _whole(1)] = Field(480, validation_alias="VIGIL_SESSION_TTL_MINUTES")
    lockout_threshold: Annotated[int, _whole(1)] = Field(5, validation_alias="VIGIL_LOCKOUT_THRESHOLD")
    lockout_minutes: Annotated[int, _whole(1)] = Field(15, validation_alias="VIGIL_LOCKOUT_MINUTES")
    demo_mode: Bool = Field(False, validation_alias="VIGIL_DEMO")
    job_user: str = Field("scheduler", validation_alias="VIGIL_JOB_USER")
    webhook_url: str | None = Field(None, validation_alias="VIGIL_WEBHOOK_URL")
    db_connect_timeout_seconds: Annotated[int, _whole(1)] = Field(
        10, validation_alias="VIGIL_DB_CONNECT_TIMEOUT_SECONDS")
    db_statement_timeout_seconds: Annotated[int, _whole(0)] = Field(
        300, validation_alias="VIGIL_DB_STATEMENT_TIMEOUT_SECONDS")
    db_busy_timeout_seconds: Annotated[int, _whole(1)] = Field(
        30, validation_alias="VIGIL_DB_BUSY_TIMEOUT_SECONDS")
    artifact_url: str | None = Field(None, validation_alias="VIGIL_ARTIFACT_URL")
    logstore_url: str | None = Field(None, validation_alias="VIGIL_LOGSTORE_URL")
    # read by one module each (see the module docstring)
    health_weights: str = Field("", validation_alias="VIGIL_HEALTH_WEIGHTS")
    health_textfile: str | None = Field(None, validation_alias="VIGIL_HEALTH_TEXTFILE")
    prometheus_presets: str = Field("", validation_alias="VIGIL_PROMETHEUS_PRESETS")
    prometheus_timeout_seconds: Seconds = Field(10.0, validation_alias="PROMETHEUS_TIMEOUT")
    prometheus_bearer_token: str | None = Field(None, validation_alias="PROMETHEUS_BEARER_TOKEN")
    prometheus_username: str | None = Field(None, validation_alias="PROMETHEUS_USERNAME")
    prometheus_password: str | None = Field(None, validation_alias="PROMETHEUS_PASSWORD")
    prometheus_ca_file: str | None = Field(None, validation_alias="PROMETHEUS_CA_FILE")
    prometheus_insecure: Bool = Field(False, validation_alias="PROMETHEUS_INSECURE")
    token_max_days: Annotated[int, _whole(1)] = Field(365, validation_alias="VIGIL_TOKEN_MAX_DAYS")
    alibi_python: str | None = Field(None, validation_alias="VIGIL_ALIBI_PYTHON")
    metrics_port: Annotated[int, _whole(0)] = Field(9108, validation_alias="VIGIL_METRICS_PORT")
    metrics_host: str = Field("0.0.0.0", validation_alias="VIGIL_METRICS_HOST")
    scheduler_lease_ttl_seconds: Seconds = Field(30.0, validation_alias="VIGIL_SCHEDULER_LEASE_TTL")
    dashboard_port: str = Field("8501", validation_alias="VIGIL_PORT")
    audit_checkpoint_url: str | None = Field(None, validation_alias="VIGIL_AUDIT_CHECKPOINT_URL")
    audit_checkpoint_key: str | None = Field(None, validation_alias="VIGIL_AUDIT_CHECKPOINT_KEY")
    audit_checkpoint_key_file: str | None = Field(None, validation_alias="VIGIL_AUDIT_CHECKPOINT_KEY_FILE")
    audit_checkpoint_public_key: str | None = Field(
        None, validation_alias="VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY")
    audit_checkpoint_public_key_file: str | None = Field(
        None, validation_alias="VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE")
    job_token: str | None = Field(None, validation_alias="VIGIL_TOKEN")
    audit_retention_days: Annotated[int, _whole(1)] = Field(400, validation_alias="VIGIL_AUDIT_RETENTION_DAYS")
    export_signing_key_file: str | None = Field(None, validation_alias="VIGIL_EXPORT_SIGNING_KEY_FILE")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any,
                                   env_settings: Any, dotenv_settings: Any,
                                   file_secret_settings: Any) -> tuple[Any, ...]:
        # the process environment only (no .env file, no secrets directory); none when an
        # explicit mapping is being read
        return (init_settings,) if _MAPPING_ONLY.get() else (init_settings, env_settings)

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _auth_mode(cls, raw: Any) -> Any:
        value = str(raw).strip().lower()
        if value not in AUTH_MODES:
            raise ValueError(f"expected one of {', '.join(AUTH_MODES)}, got {value!r}")
        return value


_ALIASES = {name: str(info.validation_alias) for name, info in EnvironmentSettings.model_fields.items()}
ENV_VARIABLES = tuple(_ALIASES.values())  # every variable Vigil reads


def read_environment(env: Mapping[str, str] | None = None) -> EnvironmentSettings:
    """Parse the process environment (or ``env``); a bad value is a ConfigError naming it."""
    try:
        if env is None:
            return EnvironmentSettings()
        # an explicit mapping: the same fields and validators, without the process environment
        token = _MAPPING_ONLY.set(True)
        try:
            return EnvironmentSettings(**{alias: env[alias] for alias in _ALIASES.values() if env.get(alias)})
        finally:
            _MAPPING_ONLY.reset(token)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = str(error["loc"][0]) if error.get("loc") else "environment"
        cause = error.get("ctx", {}).get("error")
        message = str(cause) if cause is not None else error["msg"]
        raise ConfigError(f"{variable}: {message} (environment)") from None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    config_file: Path
    database_url: str
    mlflow_tracking_uri: str
    prometheus_url: str | None = None
    auth_mode: str = "local"
    proxy_user_header: str = "X-Forwarded-User"
    oidc_provider: str | None = None
    session_ttl_minutes: int = 480
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    demo_mode: bool = False
    job_user: str = "scheduler"
    webhook_url: str | None = None
    db_connect_timeout_seconds: int = 10
    db_statement_timeout_seconds: int = 300
    db_busy_timeout_seconds: int = 30
    artifact_url: str | None = None
    logstore_url: str | None = None
    health_weights: str = ""
    health_textfile: str | None = None
    prometheus_presets: str = ""
    prometheus_timeout_seconds: float = 10.0
    prometheus_bearer_token: str | None = field(default=None, repr=False)
    prometheus_username: str | None = None
    prometheus_password: str | None = field(default=None, repr=False)
    prometheus_ca_file: str | None = None
    prometheus_insecure: bool = False
    token_max_days: int = 365
    alibi_python: str | None = None
    metrics_port: int = 9108
    metrics_host: str = "0.0.0.0"
    scheduler_lease_ttl_seconds: float = 30.0
    dashboard_port: str = "8501"
    audit_checkpoint_url: str | None = None
    audit_checkpoint_key: str | None = field(default=None, repr=False)
    audit_checkpoint_key_file: str | None = None
    audit_checkpoint_public_key: str | None = None
    audit_checkpoint_public_key_file: str | None = None
    job_token: str | None = field(default=None, repr=False)
    extra: dict[str, str] = field(default_factory=dict)
    audit_retention_days: int = 400  # audit entries younger than this are never purged
    export_signing_key_file: str | None = None

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def logstore_dir(self) -> Path:
        return self.data_dir / "logstore"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.data_dir / "mlflow" / "artifacts"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from the process environment (or from ``env``, e.g. in a test)."""
        values = read_environment(env).model_dump()
        data_dir = Path(values.pop("data_dir")).expanduser().resolve()
        values["config_file"] = Path(values["config_file"]).expanduser()
        values["database_url"] = values["database_url"] or f"sqlite:///{data_dir / 'vigil.db'}"
        values["mlflow_tracking_uri"] = (values["mlflow_tracking_uri"]
                                         or f"sqlite:///{data_dir / 'mlflow' / 'mlflow.db'}")
        for key in ("artifact_url", "logstore_url"):  # a blank URL means the default directory
            values[key] = (values[key] or "").strip() or None
        return cls(data_dir=data_dir, **values)

    def ensure_dirs(self) -> None:
        stores = [] if self.artifact_url else [self.artifacts_dir]  # a store at a URL needs no directory
        stores += [] if self.logstore_url else [self.logstore_dir, self.quarantine_dir]
        for path in (self.data_dir, *stores, self.mlflow_artifacts_dir):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"VIGIL_DATA_DIR: cannot create {path} ({exc.strerror or exc}); "
                                  "choose a writable directory (environment)") from None
