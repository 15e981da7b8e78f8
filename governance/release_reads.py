"""Read-only history of a model's releases that governance.releases does not offer: the moves of
its MLflow aliases (governance.release_tables.AliasMove: promotions, rollbacks, restores and
changes made outside the console), newest first, for a viewer who may view the model.

Only reads; the services that move an alias write these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.db import session_scope
from core.timeutil import aware
from governance.rbac import require_view
from governance.release_tables import AliasMove


@dataclass(frozen=True)
class AliasMoveView:
    id: int
    model: str
    alias: str
    from_version: str | None
    to_version: str | None
    kind: str  # promotion | rollback | restore | external
    actor: str
    reason: str
    request_id: int | None
    moved_at: datetime


def move_view(row: AliasMove) -> AliasMoveView:
    """The view of one stored ``alias_moves`` row."""
    return AliasMoveView(row.id, row.model, row.alias, row.from_version, row.to_version, row.kind, row.actor,
                         row.reason or "", row.request_id, aware(row.moved_at))  # type: ignore[arg-type]


def alias_moves(ctx: Any, viewer: str | None, model: str, *, limit: int = 200) -> list[AliasMoveView]:
    """The last ``limit`` alias moves of ``model``, newest first; ``viewer`` needs model.view on it."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(AliasMove).where(AliasMove.model == model)
                               .order_by(AliasMove.moved_at.desc(), AliasMove.id.desc()).limit(limit))
        return [move_view(r) for r in rows]
