"""The output models of the MCP tools: each tool returns one of these, and the server publishes
its JSON schema as the tool's output schema. They carry what the console's pages show, as the
services return it; nothing here computes a figure.

Times are ISO-8601 strings in UTC. Lists that can grow (audit entries, release requests, alias
moves, health history) are paged: ``next_offset`` is the ``offset`` of the next page, None on
the last one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Paged(BaseModel):
    offset: int = 0
    limit: int = 50
    total: int | None = Field(0, description="how many items match; null where counting them all would be costly")
    next_offset: int | None = Field(None, description="offset of the next page; null on the last one")


# -- list_models / model_health ----------------------------------------------------------------
class ModelSummary(BaseModel):
    name: str
    registered_model: str
    task: str
    champion_version: str | None = None
    versions: int | None = None
    health_score: float | None = None
    health_status: str | None = Field(None, description="ok | warning | critical (none before the first check)")
    health_at: str | None = None
    note: str | None = Field(None, description="why a figure is missing (e.g. MLflow did not answer)")


class ModelList(BaseModel):
    models: list[ModelSummary]
    note: str | None = None


class HealthComponent(BaseModel):
    name: str
    score: float | None = Field(None, description="0-100; null: no data")
    weight: float
    detail: str


class ModelHealth(BaseModel):
    model: str
    at: str | None = Field(None, description="when the snapshot was taken (UTC)")
    asked_at: str | None = Field(None, description="the 'at' asked for: the newest snapshot taken then or before")
    version: str | None = None
    score: float | None = None
    status: str | None = None
    reasons: list[str] = Field(default_factory=list, description="the components pulling the score down, worst first")
    components: list[HealthComponent] = Field(default_factory=list)
    note: str | None = None


class HealthPoint(BaseModel):
    at: str
    score: float | None
    status: str
    version: str | None = None


class HealthHistory(Paged):
    model: str
    points: list[HealthPoint]


# -- drift ----------------------------------------------------------------------------------------
class DriftMethod(BaseModel):
    method: str
    statistic: float | None
    p_value: float | None
    p_value_adjusted: float | None
    threshold: float
    threshold_on: str
    drifted: bool
    severity: str


class DriftFeature(BaseModel):
    feature: str
    kind: str
    pii: bool = False
    drifted: bool
    severity: str
    missing_share_current: float | None = None
    methods: list[DriftMethod] = Field(default_factory=list)


class DriftRun(BaseModel):
    run_id: int
    version: str
    window: str
    window_start: str
    window_end: str
    checked_at: str
    status: str
    rows: int
    features_tested: int
    drifted_features: int
    share_drifted: float
    max_severity: str
    dataset_drift: bool
    drifted_feature_names: list[str]
    note: str = ""


class MattersFeature(BaseModel):
    feature: str
    severity: float = Field(description="the feature's drift severity (PSI scale; 0 = none)")
    importance_share: float = Field(description="its share of the model's mean |SHAP|")
    impact: float = Field(description="severity x importance_share")
    drifted: bool


class DriftSummary(Paged):
    model: str
    multiple_testing: str = Field(description="the multiple-testing correction the model's checks use (bh | bonferroni)")
    alpha: float | None = None
    latest: DriftRun | None = Field(None, description="the run with the newest window end (in the window asked for)")
    features: list[DriftFeature] = Field(default_factory=list, description="the latest run's features, most severe first")
    runs: list[DriftRun] = Field(default_factory=list, description="runs whose window ends in [start, end), oldest first; paged (total, next_offset)")
    drift_that_matters: list[MattersFeature] = Field(
        default_factory=list, description="drifted features ranked by severity x SHAP importance")
    drift_that_matters_flag: bool = Field(False, description="true when a drifted feature carries SHAP importance")
    note: str | None = None


# -- SLOs -----------------------------------------------------------------------------------------
class BurnAlert(BaseModel):
    severity: str = Field(description="page | ticket")
    long_window: str
    short_window: str
    factor: float = Field(description="burn-rate threshold of both windows")
    long_burn: float | None = None
    short_burn: float | None = None
    firing: bool
    held: bool = Field(False, description="burning but held back by too few requests")


class SLOState(BaseModel):
    slo: str
    sli: str | None = None
    objective: float
    period: str
    at: str = Field(description="when these figures were computed (UTC)")
    availability: float | None = None
    error_budget_remaining: float | None = None
    burn_rates: dict[str, float | None] = Field(default_factory=dict)
    page: bool = False
    ticket: bool = False
    firing: list[str] = Field(default_factory=list, description="burn-rate alerts firing: page and/or ticket")
    alert_rules: list[BurnAlert] = Field(default_factory=list)


class SLOStatus(BaseModel):
    model: str
    asked_at: str | None = None
    source: str | None = None
    slos: list[SLOState] = Field(default_factory=list)
    latency: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None


# -- explanations ---------------------------------------------------------------------------------
class FeatureImportance(BaseModel):
    feature: str
    mean_abs_shap: float
    reference_mean_abs_shap: float | None = None


class AttributionDrift(BaseModel):
    report_id: int
    version: str
    created_at: str
    distance: float
    threshold: float
    drifted: bool


class Explanations(BaseModel):
    model: str
    report_id: int | None = None
    version: str | None = None
    created_at: str | None = None
    window: str | None = None
    explainer: str | None = None
    explained_rows: int | None = None
    additivity_ok: bool | None = None
    top_features: list[FeatureImportance] = Field(default_factory=list)
    attribution_drift: AttributionDrift | None = Field(None, description="the newest report's attribution drift")
    note: str | None = None


# -- audit ----------------------------------------------------------------------------------------
class AuditEntry(BaseModel):
    seq: int
    ts: str
    actor: str
    action: str
    resource: str
    outcome: str
    reason: str
    source: str
    client: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditPage(Paged):
    entries: list[AuditEntry]


# -- releases -------------------------------------------------------------------------------------
class Gate(BaseModel):
    name: str
    kind: str
    mode: str = Field(description="blocking | advisory")
    status: str
    value: float | None = None
    threshold: float
    source: str = ""


class ReleaseRequest(BaseModel):
    id: int
    model: str
    version: str
    state: str
    requested_by: str
    reason: str
    opened_at: str
    expires_at: str
    closed_at: str | None = None
    outcome: str | None = None
    current_stage: str | None = None
    gates: list[Gate] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    you_may_decide: bool = False


class AliasMove(BaseModel):
    id: int
    alias: str
    from_version: str | None
    to_version: str | None
    kind: str
    actor: str
    reason: str
    request_id: int | None = None
    moved_at: str


class Releases(Paged):
    model: str | None = Field(None, description="null: every model you may view")
    champion_version: str | None = None
    requests: list[ReleaseRequest] = Field(default_factory=list)
    awaiting_your_decision: list[int] = Field(default_factory=list,
                                              description="ids of open requests the caller may approve or reject now")
    alias_history: list[AliasMove] = Field(default_factory=list)
    note: str | None = None


# -- governed actions -----------------------------------------------------------------------------
class ActionResult(BaseModel):
    action: str
    model: str | None = None
    done: bool = Field(description="true when the change was made; false when it was only filed or refused")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
