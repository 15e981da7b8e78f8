"""The System page's reads (governance.system): refused without ``system.view`` / ``audit.read``,
and a dependency that does not answer is a degraded check with a masked target, not an error."""

from __future__ import annotations

import pytest

from core.context import AppContext
from core.errors import PermissionDenied
from core.settings import Settings
from governance import system
from tests.unit.logs.loghelpers import add_user


def test_checks_need_system_view_and_verification_needs_audit_read(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sqlite_ctx
    add_user(ctx, "vera", "viewer")
    add_user(ctx, "otto", "operator")
    add_user(ctx, "aldo", "auditor")
    for check in (system.check_database, system.check_mlflow, system.check_prometheus, system.verify_audit):
        with pytest.raises(PermissionDenied):
            check(ctx, viewer="vera")
    assert system.check_database(ctx, viewer="otto") == system.ServiceCheck(
        "Database", "ok", "sqlite answers", ctx.settings.database_url)
    with pytest.raises(PermissionDenied, match="audit.read"):
        system.verify_audit(ctx, viewer="otto")  # operators may see the checks, not the audit chain
    assert system.verify_audit(ctx, viewer="aldo").ok


def test_dependencies_that_do_not_answer_are_degraded_with_masked_targets(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sqlite_ctx
    add_user(ctx, "otto", "operator")
    assert system.check_prometheus(ctx, viewer="otto").status == "not configured"
    env = {"VIGIL_DATA_DIR": str(ctx.settings.data_dir), "VIGIL_CONFIG": str(ctx.settings.config_file),
           "PROMETHEUS_URL": "http://scraper:s3cret@127.0.0.1:9"}  # same database, Prometheus down
    ctx_down = AppContext.create(Settings.from_env(env), models=ctx.models)
    check = system.check_prometheus(ctx_down, viewer="otto", timeout_s=1.0)
    assert check.status == "degraded" and check.target == "http://scraper:***@127.0.0.1:9"
    assert "s3cret" not in check.detail
    mlflow = system.check_mlflow(ctx, viewer="otto")  # the registry was never built here
    assert mlflow.status == "degraded" and "does not exist" in mlflow.detail
