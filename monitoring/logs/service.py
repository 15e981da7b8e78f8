"""The logs domain's read service: what ingestion quarantined, as a person may see it.

Owns the permission rules of quarantine reads: every read takes the ``viewer`` and checks
``model.view`` itself (``viewer=None`` is a trusted internal caller); raw quarantined lines
show the values of PII-tagged features only when asked for and the viewer holds
``model.view_pii`` (masked otherwise, see monitoring.logs.quarantine.mask_raw). Pages call this,
never the quarantine store, the ledger or a directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.errors import PermissionDenied
from governance.rbac import Action, can, require_view
from monitoring.logs.quarantine import QuarantineSummary, quarantine_rows, quarantine_summary

SAMPLE_ROWS = 200


@dataclass(frozen=True)
class QuarantineView:
    """Counts by reason (from the ingest ledger) and the newest quarantined rows."""

    summary: QuarantineSummary
    rows: pd.DataFrame  # ingested_at, source_file, line, reason, raw
    pii_masked: bool  # True when values of PII-tagged features in ``raw`` are masked


def may_view_pii(ctx: Any, viewer: str | None, model: str) -> bool:
    """Whether ``viewer`` may see raw values of ``model``'s PII-tagged features."""
    return viewer is None or can(ctx, viewer, Action.MODEL_VIEW_PII, model)


def quarantine(ctx: Any, model: str, *, viewer: str | None, reveal_pii: bool = False,
               limit: int = SAMPLE_ROWS) -> QuarantineView:
    """``model``'s quarantine summary and newest rows; needs ``model.view``, and
    ``model.view_pii`` for ``reveal_pii`` (refused otherwise, never silently revealed)."""
    require_view(ctx, viewer, model)
    pii = list(ctx.models.get(model).pii_features)
    if reveal_pii and pii and not may_view_pii(ctx, viewer, model):
        raise PermissionDenied(f"{viewer} may not view PII of model {model!r}")
    summary = quarantine_summary(ctx.engine, model)
    rows = quarantine_rows(ctx.settings, model, limit=limit, pii_features=pii,
                           reveal_pii=reveal_pii)
    return QuarantineView(summary, rows, pii_masked=bool(pii) and not reveal_pii)
