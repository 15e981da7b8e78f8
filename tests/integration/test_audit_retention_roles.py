"""Audit retention with the PostgreSQL role split (deploy/postgres/roles.sql): the runtime role
cannot purge (nothing deleted, refusal audited); the owner role can, and the runtime role's
`verify` then proves the rest of the chain."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from core.db import session_scope
from core.settings import Settings
from governance.audit import AuditLog
from governance.audit_anchor import AnchorConfig
from governance.audit_retention import PurgeRefused, purge
from governance.identity import insert_user
from governance.rbac import insert_grant
from tests.integration.test_audit_roles import roles  # noqa: F401  (the fixture)
from tests.unit.governance.test_audit_retention import NOW, ROOT, _old_entries, _recent

pytestmark = pytest.mark.integration


def _ctx(engine):  # type: ignore[no-untyped-def]
    return SimpleNamespace(engine=engine, audit=AuditLog(engine), settings=Settings.from_env({}))


def test_only_the_owner_role_purges(roles) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    owner_engine, app_engine = roles
    app, owner = _ctx(app_engine), _ctx(owner_engine)
    with session_scope(app_engine) as session:
        insert_user(session, "root", None, is_service=True)
        insert_grant(session, "root", "admin", "*", granted_by="test", reason="retention test")
    _old_entries(app, [500, 499, 498])
    _recent(app, 2)
    with pytest.raises(PurgeRefused, match="permission denied.*owner role"):
        purge(app, ROOT, before=NOW - timedelta(days=450), anchor=AnchorConfig())
    assert [r.seq for r in app.audit.query()] == [1, 2, 3, 4, 5, 6]  # seq 6: the audited refusal
    assert app.audit.head().outcome == "failed"

    assert purge(owner, ROOT, before=NOW - timedelta(days=450), anchor=AnchorConfig()).purged == 3
    report = app.audit.verify(anchor=AnchorConfig())
    assert report.ok and report.line().startswith("OK 4 entries (purged before seq 4 on "), report.line()
