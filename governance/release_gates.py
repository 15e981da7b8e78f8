"""Quality gates of a release and the evidence they are judged on.

Owns two things:

- :func:`evaluate_gates`, a pure function of the gate configuration (core.config.GateSpec) and an
  evidence mapping: each gate gets its value, threshold, where the value came from and a status
  ``pass``, ``fail`` or ``no evidence``. A missing value is never a pass; an ``advisory`` gate
  that fails or lacks evidence is shown but does not block.
- :class:`MlflowVersions`, the read of a version's facts (logged metrics, author) from the MLflow
  registry through governance.registry's adapter, read only. Drift, PSI, latency and
  completeness evidence is measured by governance.release_evidence (the drift engine against the
  champion's reference profile, the SLO service's log reads); a value it cannot measure comes
  with its reason as the source and the gate reports ``no evidence``.

Evidence keys: ``metric:<name>`` for a metric logged with the version, and ``drift_share``,
``psi``, ``latency_p95_ms``, ``completeness_pct`` for the other kinds (see :func:`evidence_key`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from core.config import GateSpec
from core.errors import NotFound, ServiceUnavailable

GateStatus = Literal["pass", "fail", "no evidence"]
_KEY_OF_KIND = {"max_drift_share": "drift_share", "max_psi": "psi", "max_latency_p95_ms": "latency_p95_ms",
                "min_completeness_pct": "completeness_pct"}
AUTHOR_TAG = "author"  # a version tag that names its author explicitly (wins over MLflow's user)


@dataclass(frozen=True)
class Evidence:
    """A measured value and where it came from (e.g. ``mlflow run 3f2a… metric accuracy``)."""

    value: float | None
    source: str


@dataclass(frozen=True)
class GateResult:
    name: str
    kind: str
    metric: str | None
    threshold: float
    mode: str  # blocking | advisory
    value: float | None
    source: str
    status: GateStatus

    @property
    def blocks(self) -> bool:
        """True when this gate stops an approval: blocking and not passed."""
        return self.mode == "blocking" and self.status != "pass"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        return cls(**{k: data[k] for k in ("name", "kind", "metric", "threshold", "mode", "value", "source",
                                           "status")})


def evidence_key(gate: GateSpec) -> str:
    """The evidence mapping's key that ``gate`` reads."""
    if gate.kind in ("min_metric", "max_metric"):
        return f"metric:{gate.metric}"
    return _KEY_OF_KIND[gate.kind]


def _passes(kind: str, value: float, threshold: float) -> bool:
    if kind.startswith("min_"):
        return value >= threshold
    return value <= threshold


def evaluate_gates(gates: Mapping[str, GateSpec], evidence: Mapping[str, Evidence]) -> list[GateResult]:
    """Judge every gate against ``evidence``, in the configured order (pure)."""
    results = []
    for name, gate in gates.items():
        found = evidence.get(evidence_key(gate))
        value = None if found is None else found.value
        if value is not None and (isinstance(value, bool) or not math.isfinite(float(value))):
            value = None  # NaN/inf logged by a broken run is no evidence, not a pass
        if value is None:
            status: GateStatus = "no evidence"
            source = found.source if found is not None else "no evidence"
        else:
            value = float(value)
            status = "pass" if _passes(gate.kind, value, gate.threshold) else "fail"
            source = found.source  # type: ignore[union-attr]
        results.append(GateResult(name, gate.kind, gate.metric, gate.threshold, gate.mode, value, source,
                                  status))
    return results


def blocking_failures(results: list[GateResult]) -> list[GateResult]:
    return [r for r in results if r.blocks]


# -- evidence from the MLflow registry -----------------------------------------------------------
@dataclass(frozen=True)
class VersionFacts:
    """What the release workflow needs to know about one registered version."""

    registered_model: str
    version: str
    run_id: str | None
    created_at: datetime
    author: str | None
    metrics: dict[str, float]

    def evidence(self) -> dict[str, Evidence]:
        where = f"mlflow run {self.run_id}" if self.run_id else "mlflow"
        return {f"metric:{k}": Evidence(v, f"{where} metric {k}") for k, v in sorted(self.metrics.items())}


class VersionSource(Protocol):
    def facts(self, registered_model: str, version: str) -> VersionFacts: ...

    def newest_version(self, registered_model: str) -> str | None: ...


class MlflowVersions:
    """Version facts from the MLflow registry, read only, through governance.registry.

    The author is the version's ``author`` tag when set, else the MLflow user that registered the
    version, else the user of the run that produced it (``mlflow.user``); None when none is known.
    """

    def __init__(self, registry: Any):
        self.registry = registry

    @classmethod
    def from_ctx(cls, ctx: Any) -> MlflowVersions:
        from governance.registry import ModelRegistry

        return cls(ModelRegistry(ctx.settings.mlflow_tracking_uri))

    def facts(self, registered_model: str, version: str) -> VersionFacts:
        info = self.registry.get_version(registered_model, version)
        author = info.tags.get(AUTHOR_TAG) or self._recorded_user(registered_model, version, info.run_id)
        return VersionFacts(info.registered_model or registered_model, info.version, info.run_id,
                            info.created_at, author or None, dict(info.metrics))

    def newest_version(self, registered_model: str) -> str | None:
        versions = self.registry.list_versions(registered_model)
        return versions[0].version if versions else None

    def _recorded_user(self, registered_model: str, version: str, run_id: str | None) -> str | None:
        """MLflow's own record of who registered the version or ran its run (the adapter does not
        offer this read, so it goes through a client on the adapter's tracking URI)."""
        try:
            from mlflow import MlflowClient

            uri = self.registry.tracking_uri
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            user = client.get_model_version(registered_model, str(version)).user_id
            if not user and run_id:
                user = client.get_run(run_id).data.tags.get("mlflow.user")
        except Exception as exc:  # noqa: BLE001  every MLflow/transport failure is translated
            raise ServiceUnavailable(f"MLflow registry {self.registry.where}: cannot read who created "
                                     f"{registered_model!r} version {version}: "
                                     f"{type(exc).__name__}") from None
        return str(user) if user else None


def require_version(source: VersionSource, registered_model: str, version: str) -> VersionFacts:
    """``facts`` with a message that names the model and version when it does not exist."""
    try:
        return source.facts(registered_model, version)
    except NotFound as exc:
        raise NotFound(f"{exc} (is version {version} registered in MLflow?)") from None
