"""The YAML file that lists the monitored models, validated into typed objects.

A bad file stops start-up with a ConfigError naming the file and the key path, e.g.
``config/models.yaml: models[0].slos[1].objective: Input should be less than 1``.
"""

from __future__ import annotations

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


class ApprovalPolicy(_Strict):
    required_approvals: int = Field(default=1, ge=1)
    four_eyes: bool = True
    gates: dict[str, float] = Field(default_factory=dict)


class RetrainSpec(_Strict):
    command: str = ""
    timeout_minutes: int = Field(default=60, ge=1)


class ModelSpec(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    registered_model: str = Field(min_length=1)
    task: Literal["classification", "regression"] = "classification"
    description: str = ""
    features: list[FeatureSpec] = Field(min_length=1)
    logs: str = Field(min_length=1, description="directory or fsspec URL of the inference logs")
    slos: list[SLOSpec] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)

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


def load_models_config(path: Path | str) -> ModelsConfig:
    """Read and validate the models YAML; raise ConfigError naming the file and key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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
