"""Shared set-up of the release tests: accounts with their grants, a models file with a
two-stage chain for breast-cancer, and an in-memory version source standing in for MLflow
(tests/unit/governance/test_release_gates.py reads a real MLflow registry)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.actor import Actor
from core.config import ModelsConfig
from core.errors import NotFound
from governance import access, identity
from governance.rbac import grant
from governance.release_gates import VersionFacts

BC, DIA = "breast-cancer", "diabetes"
ADMIN = Actor("root", "cli")

# username -> [(role, scope)]
ACCOUNTS = {
    "opal": [("operator", BC), ("operator", DIA)],  # requests releases
    "rex": [("operator", BC), ("reviewer", BC)],  # requests and reviews: four eyes
    "rita": [("reviewer", BC), ("reviewer", DIA)],
    "rob": [("reviewer", BC), ("reviewer", DIA)],
    "ruth": [("reviewer", BC), ("reviewer", DIA)],
    "ada": [("reviewer", BC), ("admin", "*")],  # could decide both stages: must not
    "dora": [("reviewer", DIA)],  # reviewer of the other model only
    "vic": [("viewer", BC)],
}


def two_stage_models(models_config: ModelsConfig) -> ModelsConfig:
    """breast-cancer: gates (accuracy, ROC AUC blocking; latency advisory) and the chain
    review (2 reviewers) -> signoff (1 admin); diabetes keeps the shipped one-stage policy."""
    raw = models_config.model_dump()
    for m in raw["models"]:
        if m["name"] == BC:
            m["approval"] = {
                "four_eyes": True,
                "gates": {"min_accuracy": 0.90, "min_roc_auc": 0.95,
                          "max_latency_p95_ms": {"threshold": 250, "mode": "advisory"}},
                "stages": [{"name": "review", "role": "reviewer", "approvals": 2},
                           {"name": "signoff", "role": "admin", "approvals": 1}],
                "request_expiry_days": 14,
            }
    return ModelsConfig.model_validate(raw)


def create_accounts(ctx) -> None:  # type: ignore[no-untyped-def]
    access.bootstrap_admin(ctx, "root", "root-password")
    for name, grants in ACCOUNTS.items():
        identity.create_user(ctx, ADMIN, name, f"{name}-password")
        for role, scope in grants:
            grant(ctx, ADMIN, name, role, scope, reason="release tests")


def facts(version: str, author: str | None = "ml-engineer", **metrics: float) -> VersionFacts:
    return VersionFacts("registered", version, f"run{version}", datetime(2026, 11, 1, tzinfo=UTC), author,
                        dict(metrics))


class FakeVersions:
    """The VersionSource protocol over a dict: version -> facts."""

    def __init__(self, *versions: VersionFacts):
        self.versions = {v.version: v for v in versions}

    def facts(self, registered_model: str, version: str) -> VersionFacts:
        if version not in self.versions:
            raise NotFound(f"registered model {registered_model!r} has no version {version}")
        return self.versions[version]

    def newest_version(self, registered_model: str) -> str | None:
        return max(self.versions, key=int) if self.versions else None
