"""The Releases page (read only for now): a model's release requests and the history of its alias
moves, for a viewer of that model; the alias-history read refuses one who may not view the model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.actor import Actor
from core.errors import PermissionDenied
from tests.app.conftest import BY_ROLE, new_app, sign_in_as, texts
from tests.unit.governance.release_fixtures import FakeVersions, facts


def _record_move(ctx, **values) -> None:  # type: ignore[no-untyped-def]
    """An alias move as the promotion/rollback services will write it (they are not built yet)."""
    from core.db import session_scope
    from governance.release_tables import AliasMove

    with session_scope(ctx.engine) as session:
        session.add(AliasMove(**values))


def test_a_viewer_sees_the_requests_and_the_alias_history_without_buttons(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance import releases

    ctx = vigil_env.ctx
    # breast-cancer (the Approvals tests use diabetes), closed at once so no open request lingers
    request = releases.request_release(ctx, Actor(BY_ROLE["operator"], "cli"), "breast-cancer", "301",
                                       reason="monthly retrain",
                                       versions=FakeVersions(facts("301", accuracy=0.8, roc_auc=0.9)))
    releases.reject(ctx, Actor(BY_ROLE["reviewer"], "cli"), request.id, comment="accuracy 0.8 under the gate")
    _record_move(ctx, model="breast-cancer", alias="champion", from_version="3", to_version="2", kind="rollback",
                 actor="otto", reason="p99 <b>spike</b>", request_id=None,
                 moved_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    at = sign_in_as(new_app(), vigil_env, BY_ROLE["viewer"]).run()
    at.switch_page("pages/releases.py").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Releases"]
    at.selectbox(key="releases.model").select("breast-cancer").run()
    [requests] = [df.value for df in at.dataframe if "request" in df.value.columns and "state" in df.value.columns]
    row = requests[requests["request"] == request.id].iloc[0]
    assert (row["version"], row["state"], row["requested by"], row["outcome"], row["decisions"]) == \
        ("301", "rejected", "otto", "accuracy 0.8 under the gate", "rita rejected review")
    [moves] = [df.value for df in at.dataframe if "alias" in df.value.columns]
    assert moves.iloc[0][["alias", "from", "to", "kind", "by", "why", "at"]].tolist() == \
        ["champion", "3", "2", "rollback", "otto", "p99 <b>spike</b>", "2026-11-20 09:30 UTC"]
    assert [b.key for b in at.button] == ["auth.sign_out"]
    assert "Decide open requests on the Approvals page." in texts(at)


def test_the_alias_history_is_refused_outside_the_viewers_scope(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance.release_reads import alias_moves

    assert alias_moves(vigil_env.ctx, viewer="dora", model="diabetes") is not None  # her model
    with pytest.raises(PermissionDenied, match="dora may not view model 'breast-cancer'"):
        alias_moves(vigil_env.ctx, viewer="dora", model="breast-cancer")
