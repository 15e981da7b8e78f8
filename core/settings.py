"""One typed settings object, read from environment variables.

Every variable is optional; the defaults run the embedded demo (SQLite, local MLflow, no
Prometheus) with all state under one data directory, ``./data`` unless ``VIGIL_DATA_DIR``
says otherwise. A malformed value stops start-up with a ConfigError naming the variable.

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
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
AUTH_MODES = ("local", "oidc", "proxy")


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{key}: expected true or false, got {raw!r} (environment)")


def _int(env: Mapping[str, str], key: str, default: int, minimum: int = 1) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}: expected an integer, got {raw!r} (environment)") from None
    if value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {value} (environment)")
    return value


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
    extra: dict[str, str] = field(default_factory=dict)

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
        env = os.environ if env is None else env
        data_dir = Path(env.get("VIGIL_DATA_DIR") or "data").expanduser().resolve()
        config_file = Path(env.get("VIGIL_CONFIG") or "config/models.yaml").expanduser()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'vigil.db'}"
        mlflow_uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{data_dir / 'mlflow' / 'mlflow.db'}"
        auth_mode = (env.get("VIGIL_AUTH_MODE") or "local").strip().lower()
        if auth_mode not in AUTH_MODES:
            raise ConfigError(
                f"VIGIL_AUTH_MODE: expected one of {', '.join(AUTH_MODES)}, got {auth_mode!r} (environment)"
            )
        return cls(
            data_dir=data_dir,
            config_file=config_file,
            database_url=database_url,
            mlflow_tracking_uri=mlflow_uri,
            prometheus_url=(env.get("PROMETHEUS_URL") or None),
            auth_mode=auth_mode,
            proxy_user_header=env.get("VIGIL_PROXY_USER_HEADER") or "X-Forwarded-User",
            oidc_provider=env.get("VIGIL_OIDC_PROVIDER") or None,
            session_ttl_minutes=_int(env, "VIGIL_SESSION_TTL_MINUTES", 480),
            lockout_threshold=_int(env, "VIGIL_LOCKOUT_THRESHOLD", 5),
            lockout_minutes=_int(env, "VIGIL_LOCKOUT_MINUTES", 15),
            demo_mode=_bool(env, "VIGIL_DEMO", False),
            job_user=env.get("VIGIL_JOB_USER") or "scheduler",
            webhook_url=env.get("VIGIL_WEBHOOK_URL") or None,
            db_connect_timeout_seconds=_int(env, "VIGIL_DB_CONNECT_TIMEOUT_SECONDS", 10),
            db_statement_timeout_seconds=_int(env, "VIGIL_DB_STATEMENT_TIMEOUT_SECONDS", 300, minimum=0),
            db_busy_timeout_seconds=_int(env, "VIGIL_DB_BUSY_TIMEOUT_SECONDS", 30),
            artifact_url=(env.get("VIGIL_ARTIFACT_URL") or "").strip() or None,
            logstore_url=(env.get("VIGIL_LOGSTORE_URL") or "").strip() or None,
        )

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.artifacts_dir, self.logstore_dir, self.quarantine_dir,
                     self.mlflow_artifacts_dir):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"VIGIL_DATA_DIR: cannot create {path} ({exc.strerror or exc}); "
                                  "choose a writable directory (environment)") from None
