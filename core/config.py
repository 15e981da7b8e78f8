"""The YAML file that lists the monitored models, validated into typed objects.

A bad file stops start-up with a ConfigError naming the file and the key path, e.g.
``config/models.yaml: models[0].slos[1].objective: Input should be less than 1``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(_Strict):
    name: str = Field(min_length=1)
    type: Literal["numeric", "categorical"] = "numeric"
    pii: bool = False
    description: str = ""


class SLOSpec(_Strict):
    name: str = Field(min_length=1)
    sli: Literal["availability", "latency"]
    objective: float = Field(gt=0, lt=1)
    period: Literal["28d", "30d"] = "30d"
    threshold_ms: float | None = Field(default=None, gt=0)
    description: str = ""

    @model_validator(mode="after")
    def _latency_needs_threshold(self) -> SLOSpec:
        if self.sli == "latency" and self.threshold_ms is None:
            raise ValueError("a latency SLO needs threshold_ms")
        return self


class Thresholds(_Strict):
    drift_alpha: float = Field(default=0.05, gt=0, lt=1)
    multiple_testing: Literal["bh", "bonferroni"] = "bh"
    psi_bins: int = Field(default=10, ge=2, le=1000)
    min_effect_ks: float = Field(default=0.02, ge=0, le=1)  # = monitoring.drift.compare default
    min_effect_psi: float = Field(default=0.1, ge=0)
    exact_sample_cap: int = Field(default=100_000, ge=100)
    max_missing_share: float = Field(default=0.05, ge=0, le=1)
    latency_target_ms: float = Field(default=250.0, gt=0)
    apdex_t_ms: float = Field(default=100.0, gt=0)
    min_requests_for_alert: int = Field(default=100, ge=0)
    attribution_drift: float = Field(default=0.2, ge=0)


class DriftSpec(_Strict):
    """Which drift methods run for the model (names from monitoring.drift.methods; None: the
    engine's defaults, KS, PSI and chi-square) and thresholds for distance methods by name."""

    methods: list[str] | None = Field(default=None, min_length=1)
    thresholds: dict[str, float] = Field(default_factory=dict)


GateKind = Literal["min_metric", "max_metric", "max_drift_share", "max_psi", "max_latency_p95_ms",
                   "min_completeness_pct"]
_SPECIAL_GATES: dict[str, GateKind] = {
    "max_drift_share": "max_drift_share", "max_psi": "max_psi",
    "max_latency_p95_ms": "max_latency_p95_ms", "min_completeness_pct": "min_completeness_pct",
}


class GateSpec(_Strict):
    """One quality gate of a release: ``kind`` compared with ``threshold``.

    ``min_metric``/``max_metric`` read the metric ``metric`` logged with the version; the others
    read the share of drifted features (0..1), the largest PSI, the latency p95 in milliseconds
    or the completeness in percent. A ``blocking`` gate that fails (or has no evidence) stops the
    approval; an ``advisory`` one is shown but does not block.
    """

    kind: GateKind
    threshold: float
    metric: str | None = None
    mode: Literal["blocking", "advisory"] = "blocking"

    @model_validator(mode="after")
    def _metric_named(self) -> GateSpec:
        if self.kind in ("min_metric", "max_metric") and not self.metric:
            raise ValueError(f"a {self.kind} gate needs 'metric' (the MLflow metric name)")
        if self.kind not in ("min_metric", "max_metric") and self.metric:
            raise ValueError(f"a {self.kind} gate takes no 'metric'")
        if self.kind in ("max_drift_share",) and not 0 <= self.threshold <= 1:
            raise ValueError("max_drift_share is a share between 0 and 1")
        if self.kind == "min_completeness_pct" and not 0 <= self.threshold <= 100:
            raise ValueError("min_completeness_pct is a percentage between 0 and 100")
        if self.kind in ("max_psi", "max_latency_p95_ms") and self.threshold < 0:
            raise ValueError(f"{self.kind} must not be negative")
        return self


def _gate_from_name(name: str, value: object) -> object:
    """The short forms: ``min_accuracy: 0.9``, ``max_rmse: {threshold: 65, mode: advisory}``,
    ``max_psi: 0.2``; the full form names ``kind`` (and ``metric``) itself."""
    if isinstance(value, dict) and "kind" in value:
        return value
    body = dict(value) if isinstance(value, dict) else {"threshold": value}
    if name in _SPECIAL_GATES:
        return {"kind": _SPECIAL_GATES[name], **body}
    for prefix, kind in (("min_", "min_metric"), ("max_", "max_metric")):
        if name.startswith(prefix) and len(name) > len(prefix):
            return {"kind": kind, "metric": name[len(prefix):], **body}
    raise ValueError(f"gate {name!r}: name it min_<metric>, max_<metric>, max_drift_share, max_psi, "
                     "max_latency_p95_ms or min_completeness_pct, or give 'kind' explicitly")


class DeployHookSpec(_Strict):
    """The deployment hook governance.promotion calls after the ``champion`` alias of the model
    moves (promotion, rollback): a webhook ``url`` (POST of a JSON body) or a ``command`` (run
    without a shell; the versions come in its environment), within ``timeout_seconds``. A hook
    that fails, times out or answers non-2xx puts the alias back."""

    url: str | None = Field(default=None, pattern=r"^https?://")
    command: str | None = Field(default=None, min_length=1)
    timeout_seconds: float = Field(default=30, gt=0, le=3600)

    @model_validator(mode="after")
    def _one_target(self) -> DeployHookSpec:
        if (self.url is None) == (self.command is None):
            raise ValueError("deploy_hook needs exactly one of 'url' or 'command'")
        return self


class ApprovalStage(_Strict):
    """One stage of the approval chain: ``approvals`` distinct people holding ``role`` on the
    model (or on ``*``) approve it; the stages are decided in the order listed."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    role: str = Field(default="reviewer", min_length=1)
    approvals: int = Field(default=1, ge=1, le=20)


class ApprovalPolicy(_Strict):
    """How a new version of a model is released (see governance.releases).

    Without ``stages`` the chain is one ``review`` stage of ``required_approvals`` reviewers, the
    form older models files use; ``gates`` takes the old ``{name: threshold}`` form too.
    """

    required_approvals: int = Field(default=1, ge=1)
    four_eyes: bool = True
    gates: dict[str, GateSpec] = Field(default_factory=dict)
    stages: list[ApprovalStage] = Field(default_factory=list)
    request_expiry_days: float = Field(default=14, gt=0, le=3650)

    @field_validator("gates", mode="before")
    @classmethod
    def _gate_forms(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        return {str(name): _gate_from_name(str(name), spec) for name, spec in value.items()}

    @field_validator("stages")
    @classmethod
    def _unique_stages(cls, value: list[ApprovalStage]) -> list[ApprovalStage]:
        names = [s.name for s in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"approval stage names must be unique: {', '.join(dupes)}")
        return value

    @property
    def chain(self) -> list[ApprovalStage]:
        """The stages in order: as configured, else one ``review`` stage of reviewers."""
        return list(self.stages) or [ApprovalStage(name="review", role="reviewer",
                                                   approvals=self.required_approvals)]


class RetrainPolicy(_Strict):
    """When the retrain policy (governance.retrain.evaluate_policy) enqueues a retrain by itself, as
    actor ``system``; off unless ``enabled``. Either trigger suffices: the last
    ``drift_consecutive`` drift runs all found dataset drift, or at least ``new_labels`` labelled
    rows arrived since the last training (the last succeeded retrain, else never: all rows count)."""

    enabled: bool = False
    drift_consecutive: int | None = Field(default=3, ge=1)
    new_labels: int | None = Field(default=1000, ge=1)


class RetrainSpec(_Strict):
    """How a model is retrained by ``python -m jobs.worker``: ``command`` (split like a shell
    would, run without one) with a timeout of ``timeout_s`` seconds, or ``timeout_minutes`` (the
    older form) when ``timeout_s`` is absent."""

    command: str = ""
    timeout_minutes: int = Field(default=60, ge=1)
    timeout_s: int | None = Field(default=None, ge=1)
    policy: RetrainPolicy = Field(default_factory=RetrainPolicy)

    @property
    def timeout_seconds(self) -> int:
        return self.timeout_s if self.timeout_s is not None else self.timeout_minutes * 60


class AutoRollbackPolicy(_Strict):
    """When the watcher (governance.auto_rollback, run by ``python -m jobs.scheduler`` on the
    leader or ``python -m jobs.watch``) rolls a newly promoted champion back by itself, as actor
    ``system``; off unless ``enabled``.

    For ``probation_hours`` after a promotion the champion's error ratio and p99 latency over the
    last ``window_seconds`` are checked every ``check_seconds``; a check breaches when the error
    ratio exceeds ``max_error_ratio`` or the p99 exceeds ``max_p99_ms`` (at least one of the two
    must be set). After a breach the next check comes ``confirm_seconds`` later, and after
    ``consecutive`` breaching checks in a row the champion goes back to the version it replaced.
    A window with fewer than ``min_requests`` requests, or a check whose data source does not
    answer, is "no evidence": neither a breach nor a pass. The worst time from a breach visible
    in the data to the rollback is about ``check_seconds + (consecutive - 1) * confirm_seconds``
    (21 s with the defaults) plus the move itself, inside the 30 s the issue asks for.
    """

    enabled: bool = False
    probation_hours: float = Field(default=2.0, gt=0, le=24 * 30)
    check_seconds: float = Field(default=15.0, ge=1, le=3600)
    confirm_seconds: float | None = Field(default=3.0, ge=1, le=3600)
    consecutive: int = Field(default=3, ge=1, le=100)
    window_seconds: int = Field(default=60, ge=10, le=24 * 3600)
    min_requests: int = Field(default=20, ge=1)
    max_error_ratio: float | None = Field(default=None, ge=0, lt=1)
    max_p99_ms: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _thresholds(self) -> AutoRollbackPolicy:
        if self.enabled and self.max_error_ratio is None and self.max_p99_ms is None:
            raise ValueError("an enabled auto_rollback needs max_error_ratio or max_p99_ms (or both)")
        if self.confirm_seconds is not None and self.confirm_seconds > self.check_seconds:
            raise ValueError("confirm_seconds must not exceed check_seconds (it re-checks a breach sooner)")
        return self

    @property
    def confirm_interval(self) -> float:
        """Seconds from a breaching check to the next one."""
        return self.confirm_seconds if self.confirm_seconds is not None else self.check_seconds


RiskTier = Literal["low", "medium", "high", "critical"]
ModelStatus = Literal["development", "staging", "production", "retired"]
ValidationState = Literal["validated", "pending", "expired"]
# Days between reviews when ``review_every_days`` is not given: the riskier, the more often.
REVIEW_DAYS_BY_TIER: dict[str, int] = {"low": 365, "medium": 365, "high": 180, "critical": 90}
DEFAULT_REVIEW_DAYS = 365  # no tier assessed yet


class InventoryFields(_Strict):
    """A model's entry in the model inventory (governance.inventory), all optional so that older
    models files still load. An admin's edits on the Inventory page override them field by field.

    ``risk_tier``: ``low`` (no effect on people), ``medium`` (informs a decision a person takes),
    ``high`` (shapes a decision about a person: health, credit, employment), ``critical`` (acts
    on people with no person in the loop); None: not assessed yet. ``review_every_days`` defaults
    by tier (``REVIEW_DAYS_BY_TIER``: 365, 365, 180, 90; 365 unassessed). ``last_review`` is the
    date of the last model review (not in the future); the next one is due that many days later.
    """

    owner: str = Field(default="", max_length=200)
    purpose: str = Field(default="", max_length=2000)
    risk_tier: RiskTier | None = None
    status: ModelStatus = "production"
    last_review: date | None = None
    review_every_days: int | None = Field(default=None, ge=1, le=3650)
    validation: ValidationState = "pending"

    @field_validator("last_review")
    @classmethod
    def _not_in_future(cls, value: date | None) -> date | None:
        from datetime import UTC, datetime, timedelta

        # one day of slack: a review done today in a timezone ahead of UTC is not "in the future"
        if value is not None and value > datetime.now(UTC).date() + timedelta(days=1):
            raise ValueError(f"last_review {value.isoformat()} is in the future")
        return value

    @property
    def review_interval_days(self) -> int:
        """Days between reviews: ``review_every_days``, else the tier's default."""
        if self.review_every_days is not None:
            return self.review_every_days
        return REVIEW_DAYS_BY_TIER.get(self.risk_tier or "", DEFAULT_REVIEW_DAYS)


class ModelSpec(InventoryFields):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    registered_model: str = Field(min_length=1)
    task: Literal["classification", "regression"] = "classification"
    description: str = ""
    features: list[FeatureSpec] = Field(min_length=1)
    logs: str = Field(min_length=1, description="directory or fsspec URL of the inference logs")
    slos: list[SLOSpec] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    deploy_hook: DeployHookSpec | None = None
    drift: DriftSpec = Field(default_factory=DriftSpec)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)
    auto_rollback: AutoRollbackPolicy = Field(default_factory=AutoRollbackPolicy)

    @field_validator("features")
    @classmethod
    def _unique_features(cls, value: list[FeatureSpec]) -> list[FeatureSpec]:
        seen: set[str] = set()
        for feature in value:
            if feature.name in seen:
                raise ValueError(f"feature {feature.name!r} is listed twice")
            seen.add(feature.name)
        return value

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if f.type == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.type == "categorical"]

    @property
    def pii_features(self) -> list[str]:
        return [f.name for f in self.features if f.pii]


class ModelsConfig(_Strict):
    models: list[ModelSpec] = Field(default_factory=list)
    schedules: dict[str, str] = Field(default_factory=dict, description="job name -> cron expression")

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: list[ModelSpec]) -> list[ModelSpec]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique: {', '.join(dupes)}")
        return value

    def get(self, name: str) -> ModelSpec:
        for model in self.models:
            if model.name == name:
                return model
        from core.errors import NotFound

        known = ", ".join(m.name for m in self.models) or "none"
        raise NotFound(f"model {name!r} is not configured (configured: {known})")

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]


def _loc(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so pydantic validates them and names the key
    (PyYAML's own date parsing raises a bare ValueError for ``2026-13-01``)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_models_config(path: Path | str) -> ModelsConfig:
    """Read and validate the models YAML; raise ConfigError naming the file and key."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (set VIGIL_CONFIG to the models YAML)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start} cannot be decoded); "
                          "set VIGIL_CONFIG to the models YAML") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}); "
                          "set VIGIL_CONFIG to a readable models YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping with a 'models' list")
    try:
        return ModelsConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{path}: {_loc(first['loc'])}: {first['msg']}{suffix}") from None
