"""The System page's reads, permission-checked here: whether each dependency answers, and the
audit chain's verification.

Owns the dependency checks (database, MLflow registry, Prometheus) and who may see them:
``system.view`` for the checks, ``audit.read`` for the chain verification. ``viewer`` is a
username, ``None`` for a trusted internal caller. A dependency that does not answer is a
``degraded`` check naming the error (secrets masked by core.redact), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import PermissionDenied
from core.redact import redact_text, redact_url
from governance.rbac import Action, can


@dataclass(frozen=True)
class ServiceCheck:
    name: str
    status: str  # ok | degraded | not configured
    detail: str = ""
    target: str = ""  # where, with any password masked


def _require(ctx: Any, viewer: str | None, action: str) -> None:
    if viewer is not None and not can(ctx, viewer, action, "*"):
        raise PermissionDenied(f"{viewer} may not {action}")


def _describe(exc: BaseException) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__


def check_database(ctx: Any, *, viewer: str | None) -> ServiceCheck:
    """Whether the database answers a trivial query; needs ``system.view``."""
    from core.db import ping

    _require(ctx, viewer, Action.SYSTEM_VIEW)
    target = redact_url(ctx.settings.database_url)
    try:
        ping(ctx.engine)
    except Exception as exc:  # noqa: BLE001  (degraded, not a traceback)
        return ServiceCheck("Database", "degraded", _describe(exc), target)
    return ServiceCheck("Database", "ok", f"{ctx.engine.dialect.name} answers", target)


def check_mlflow(ctx: Any, *, viewer: str | None) -> ServiceCheck:
    """Whether the MLflow registry answers (within seconds); needs ``system.view``."""
    from governance.registry import ModelRegistry

    _require(ctx, viewer, Action.SYSTEM_VIEW)
    uri = ctx.settings.mlflow_tracking_uri
    try:
        ModelRegistry(uri).ping()
    except Exception as exc:  # noqa: BLE001
        return ServiceCheck("MLflow", "degraded", _describe(exc), redact_url(uri))
    return ServiceCheck("MLflow", "ok", "registry answers", redact_url(uri))


def check_prometheus(ctx: Any, *, viewer: str | None, timeout_s: float = 2.0) -> ServiceCheck:
    """Whether Prometheus answers ``/-/ready``; needs ``system.view``."""
    _require(ctx, viewer, Action.SYSTEM_VIEW)
    url = ctx.settings.prometheus_url
    if not url:
        return ServiceCheck("Prometheus", "not configured",
                            "PROMETHEUS_URL is unset: SLOs are computed from the inference logs")
    import requests

    try:
        response = requests.get(url.rstrip("/") + "/-/ready", timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001
        return ServiceCheck("Prometheus", "degraded", _describe(exc), redact_url(url))
    if response.status_code != 200:
        return ServiceCheck("Prometheus", "degraded", f"/-/ready answered HTTP {response.status_code}",
                            redact_url(url))
    return ServiceCheck("Prometheus", "ok", "/-/ready answers", redact_url(url))


def verify_audit(ctx: Any, *, viewer: str | None) -> Any:
    """governance.audit's chain verification (as ``python -m jobs.audit verify``); needs ``audit.read``."""
    _require(ctx, viewer, Action.AUDIT_READ)
    return ctx.audit.verify()
