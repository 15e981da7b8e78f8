"""One champion rule (governance.registry): the version the ``champion`` alias points at, for the
registry's own lookup and for callers that already hold the version list (the Overview)."""

from __future__ import annotations

from datetime import UTC, datetime

from governance.registry import CHAMPION, ModelVersionInfo, champion_of

T = datetime(2026, 11, 30, tzinfo=UTC)


def _v(version: str, *aliases: str) -> ModelVersionInfo:
    return ModelVersionInfo(version=version, run_id=None, created_at=T, aliases=tuple(aliases))


def test_the_champion_is_the_aliased_version_not_the_newest() -> None:
    versions = [_v("3", "challenger"), _v("2", CHAMPION, "stable"), _v("1")]
    assert champion_of(versions) is versions[1]
    assert champion_of([_v("3"), _v("2", "champion-candidate")]) is None  # no alias, no guess
    assert champion_of([]) is None



def test_the_versions_read_service_checks_the_viewer(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from core.actor import Actor
    from core.errors import PermissionDenied
    from governance import access, identity
    from governance.rbac import grant
    from governance.registry import model_versions

    admin = Actor("root", "cli")
    access.bootstrap_admin(sqlite_ctx, "root", "root-password")
    for name in ("vera", "stan"):
        identity.create_user(sqlite_ctx, admin, name, f"{name}-password")
    model = sqlite_ctx.models.names[0]
    grant(sqlite_ctx, admin, "vera", "viewer", model, reason="dashboard")

    class Registry:  # the MLflow adapter's one method this read uses
        asked: list[str] = []

        def list_versions(self, registered_model: str) -> list[ModelVersionInfo]:
            self.asked.append(registered_model)
            return [_v("2", CHAMPION), _v("1")]

    registry = Registry()
    with pytest.raises(PermissionDenied):
        model_versions(sqlite_ctx, model, viewer="stan", registry=registry)  # type: ignore[arg-type]
    assert registry.asked == []  # refused before MLflow is asked
    found = model_versions(sqlite_ctx, model, viewer="vera", registry=registry)  # type: ignore[arg-type]
    assert [v.version for v in found] == ["2", "1"]
    assert registry.asked == [sqlite_ctx.models.get(model).registered_model]
