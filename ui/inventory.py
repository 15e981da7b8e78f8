"""The Inventory page's loader, table and session keys, and the Overview's overdue-review reminder.

Reads go through governance.inventory (which checks ``model.view``); nothing is computed here
beyond laying the rows out. The MLflow part of the inventory is cached for 30 s; an edit clears
the cache so the editor sees it at once.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.context import AppContext
from ui.loaders import Loaded, _registry, guarded

# Session-state keys of the Inventory page
INVENTORY_RESULT = "inventory.result"  # message of the last confirmed edit
INVENTORY_ERROR = "inventory.error"  # the service's refusal of the last confirmed edit
INVENTORY_CSV = "inventory.export_file"  # (file name, bytes, format) of the last prepared export

OVERDUE_STYLE = "background-color: rgba(255, 75, 75, 0.18)"


@st.cache_data(ttl=30, show_spinner="Reading the inventory...")
def _inventory(_ctx: AppContext, tracking_uri: str, viewer: str) -> Loaded:
    from governance.inventory import inventory

    return guarded(lambda: inventory(_ctx, viewer, registry=_registry(tracking_uri)))


def load(ctx: AppContext, viewer: str) -> Loaded:
    """The inventory rows ``viewer`` may see (governance.inventory.inventory), or the error."""
    return _inventory(ctx, ctx.settings.mlflow_tracking_uri, viewer)


def forget() -> None:
    """Drop the cached inventory (after an edit)."""
    _inventory.clear()


def frame(rows: list[Any]) -> pd.DataFrame:
    """One row per model, in the inventory's words."""
    return pd.DataFrame([
        {"model": r.model, "owner": r.owner, "purpose": r.purpose, "risk tier": r.risk_tier or "not assessed",
         "status": r.status, "versions": r.versions_text, "champion": f"v{r.champion}" if r.champion else "none",
         "validation": r.validation, "last review": r.last_review.isoformat() if r.last_review else "never",
         "review every (days)": r.review_every_days,
         "next review due": r.next_review_due.isoformat() if r.next_review_due else "",
         "review": r.review_text, "overdue": r.overdue}
        for r in rows
    ])


def styled(table: pd.DataFrame) -> Any:
    """The table with overdue rows highlighted."""
    if table.empty:
        return table
    return table.style.apply(lambda row: [OVERDUE_STYLE if row["overdue"] else ""] * len(row), axis=1)


def overdue_reminder(ctx: AppContext, viewer: str) -> None:
    """One warning on the Overview naming the visible models whose inventory review is overdue."""
    from governance.inventory import overdue_reviews
    from ui.components import esc

    loaded = guarded(lambda: overdue_reviews(ctx, viewer))
    if loaded.error or not loaded.value:
        return  # the Inventory page shows a failed read; the Overview stays quiet about it
    items = "; ".join(f"{r.model} ({r.review_text})" for r in loaded.value)
    st.warning(f"Model review overdue: {esc(items)}. See the Inventory page.",
               icon=":material/event_busy:")
