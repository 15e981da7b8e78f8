"""Inventory: every monitored model the user may see with owner, purpose, risk tier, status,
versions, validation state, last review and the next one due (overdue rows highlighted), a CSV
download, and for admins an edit form. governance.inventory checks the permissions (``model.view``
to read, ``inventory.edit`` to change) and audits edits and exports itself."""

from datetime import UTC, datetime
from typing import get_args

import streamlit as st

from core.config import ModelStatus, RiskTier, ValidationState
from governance import inventory as service
from ui import inventory as inv
from ui.auth import actor_for, require_user
from ui.components import ask_confirmation, confirm, degraded, esc, show_outcome
from ui.context import get_context
from ui.nav import permitted_models, user_can

ctx = get_context()
user = require_user()
actor = actor_for(user)

st.title("Inventory")
show_outcome(inv.INVENTORY_RESULT, inv.INVENTORY_ERROR, success=lambda message: message)
loaded = inv.load(ctx, user.username)
if loaded.error:
    degraded("Inventory", loaded.error)
    st.stop()
rows = loaded.value
if not rows:
    st.info("No monitored model is visible to you. Ask an administrator for a grant.")
    st.stop()

overdue = [r for r in rows if r.overdue]
st.caption(f"{len(rows)} model{'s' if len(rows) != 1 else ''}; "
           f"{len(overdue)} review{'s' if len(overdue) != 1 else ''} overdue (highlighted). Fields come "
           "from the models file; an administrator's edit here overrides a field.")
st.dataframe(inv.styled(inv.frame(rows)), hide_index=True, key="inventory.table")
for row in rows:
    if row.versions_error:
        degraded(f"MLflow (versions of {esc(row.model)})", row.versions_error)

export_format = st.radio("Export format", ["csv", "yaml"], horizontal=True, key="inventory.export_format")
if st.button("Prepare export", key="inventory.export", icon=":material/table_view:"):
    try:
        data = service.export_inventory(ctx, actor, export_format)
    except Exception as exc:  # refused or failed: one line, never a traceback
        st.error(f"Cannot export the inventory: {esc(exc)}")
    else:
        st.session_state[inv.INVENTORY_CSV] = (
            f"model-inventory-{datetime.now(UTC):%Y%m%d}.{export_format}", data, export_format)
if inv.INVENTORY_CSV in st.session_state:
    name, data, kind = st.session_state[inv.INVENTORY_CSV]
    st.download_button(f"Download {name}", data=data, file_name=name,
                       mime="text/csv" if kind == "csv" else "application/yaml",
                       key="inventory.download", icon=":material/file_download:")

editable = [m for m in permitted_models(ctx, user.username) if user_can(ctx, user.username, "inventory.edit", m)]
if not editable:
    st.stop()

st.subheader("Edit an entry")
by_model = {r.model: r for r in rows}
model = st.selectbox("Model", [m for m in editable if m in by_model], key="inventory.edit.model")
row = by_model[model]
tiers = ["not assessed", *get_args(RiskTier)]
statuses, validations = list(get_args(ModelStatus)), list(get_args(ValidationState))
with st.form(f"inventory.form.{model}"):
    owner = st.text_input("Owner", value=row.owner, key=f"inventory.owner.{model}")
    purpose = st.text_area("Purpose", value=row.purpose, key=f"inventory.purpose.{model}")
    left, middle, right = st.columns(3)
    tier = left.selectbox("Risk tier", tiers, index=tiers.index(row.risk_tier or "not assessed"),
                          key=f"inventory.tier.{model}")
    status = middle.selectbox("Status", statuses, index=statuses.index(row.status), key=f"inventory.status.{model}")
    validation = right.selectbox("Validation", validations, index=validations.index(row.validation),
                                 key=f"inventory.validation.{model}")
    last_review = left.date_input("Last review", value=row.last_review, max_value=datetime.now(UTC).date(),
                                  key=f"inventory.last_review.{model}")
    every = middle.number_input("Review every (days)", min_value=1, max_value=3650,
                                value=row.review_every_days, key=f"inventory.every.{model}")
    reason = st.text_input("Reason (optional)", key=f"inventory.reason.{model}")
    if st.form_submit_button("Save...", type="primary"):
        ask_confirmation("inventory.edit")

changes = {name: value for name, value, old in (
    ("owner", owner, row.owner), ("purpose", purpose, row.purpose),
    ("risk_tier", None if tier == "not assessed" else tier, row.risk_tier), ("status", status, row.status),
    ("validation", validation, row.validation), ("last_review", last_review, row.last_review),
    ("review_every_days", int(every), row.review_every_days)) if value != old}


def _save() -> str:
    saved = service.edit(ctx, actor, model, reason=reason, **changes)
    inv.forget()
    return f"Saved the inventory of {saved.model}: {saved.review_text}."


summary = "; ".join(f"{name}: {value}" for name, value in changes.items()) or "nothing changed"
confirm("inventory.edit", f"Change the inventory of **{esc(model)}**?\n\n{esc(summary)}", _save,
        result_key=inv.INVENTORY_RESULT, error_key=inv.INVENTORY_ERROR, confirm_label="Save")
