"""Audit log: filter the entries, check the chain, export what you see (the export is audited).

governance.audit's read_audit, governance.audit_export's export_signed (CSV, JSONL or PDF with a
signed manifest, downloaded as one zip) and governance.system.verify_audit check the permission
themselves."""

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from core.redact import redact_obj, redact_text
from governance.audit import OUTCOMES, read_audit
from governance.audit_export import export_signed
from ui import loaders, state
from ui.auth import actor_for, require_user
from ui.components import ask_confirmation, confirm, esc, show_outcome
from ui.context import get_context
from ui.nav import permitted_models, user_can

ctx = get_context()
user = require_user()
actor = actor_for(user)

st.title("Audit log")

verification = loaders.audit_verification(ctx, user.username)
if verification.error:
    st.warning(f"Audit chain could not be verified: {esc(verification.error)}")
elif verification.value.ok:
    st.success(f"Chain intact: {esc(verification.value.line())}", icon=":material/verified:")
else:
    st.error(f"Chain broken: {esc(verification.value.line())}", icon=":material/gpp_bad:")
if not verification.error and verification.value.warning:  # e.g. no signed checkpoint to check against
    st.warning(f"Not anchored: {esc(verification.value.warning)}", icon=":material/anchor:")

today = datetime.now(UTC).date()
with st.expander("Filters", expanded=True):
    c1, c2, c3 = st.columns(3)
    days = c1.date_input("Time range (UTC)", value=(today - timedelta(days=7), today), key="audit.range")
    actor_filter = c2.text_input("Actor", key="audit.actor", placeholder="any")
    action_filter = c3.text_input("Action", key="audit.action", placeholder="any, or a prefix like access.*")
    c4, c5, c6 = st.columns(3)
    outcome_filter = c4.selectbox("Outcome", ["any", *OUTCOMES], key="audit.outcome")
    resource_filter = c5.text_input("Resource", key="audit.resource", placeholder="any")
    limit = c6.number_input("Show at most", min_value=10, max_value=10_000, value=500, step=100,
                            key="audit.limit")

filters: dict = {}
if isinstance(days, tuple | list) and len(days) == 2:
    filters["since"] = datetime.combine(days[0], time.min, tzinfo=UTC)
    filters["until"] = datetime.combine(days[1] + timedelta(days=1), time.min, tzinfo=UTC)
elif isinstance(days, tuple | list) and len(days) == 1:
    filters["since"] = datetime.combine(days[0], time.min, tzinfo=UTC)
for key, value in (("actor", actor_filter), ("action", action_filter), ("resource", resource_filter)):
    if value.strip():
        filters[key] = value.strip()
if outcome_filter != "any":
    filters["outcome"] = outcome_filter

try:
    entries = read_audit(ctx, actor, **filters, limit=int(limit), newest_first=True)
except Exception as exc:  # refused (audited by the service) or the database is down
    st.error(f"Cannot read the audit log: {esc(exc)}")
    st.stop()

st.caption(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, newest first")
if entries:
    st.dataframe(
        [
            {"seq": e.seq, "time (UTC)": e.ts, "actor": e.actor, "action": e.action,
             "resource": redact_text(e.resource), "outcome": e.outcome, "reason": redact_text(e.reason),
             "source": e.source, "client": e.client_addr or "",
             "details": str(redact_obj(e.details)) if e.details else "",  # entries older than core.redact
             "hash": e.hash[:12]}
            for e in entries
        ],
        hide_index=True,
        key="audit.table",
    )
else:
    st.info("No audit entries match these filters.")

if user_can(ctx, user.username, "audit.export"):
    st.subheader("Export")
    fmt = st.radio("Format", ["csv", "jsonl", "pdf"], horizontal=True, key="audit.export_format",
                   format_func=lambda f: {"csv": "CSV", "jsonl": "JSON lines", "pdf": "PDF report"}[f])
    st.caption("The export contains every entry matching the filters (no row limit) and is itself "
               "recorded in the audit log. It downloads as one zip: the file, its manifest "
               "(FILE.manifest.json) and the console's Ed25519 signature of the manifest (FILE.sig); "
               "check it anywhere with `python -m jobs.audit verify-export FILE --public-key KEY.pem`. "
               "Values of PII-tagged features are masked unless you may view them.")
    if st.button("Export...", icon=":material/download:", key="audit.export"):
        st.session_state.pop(state.AUDIT_EXPORT_RESULT, None)
        ask_confirmation("audit.export")

    def _export() -> tuple[str, str, bytes]:
        signed = export_signed(ctx, actor, fmt, **filters)
        return signed.name, "application/zip", signed.zip_bytes()

    shown = ", ".join(f"{k}={v}" for k, v in filters.items()) or "none"
    confirm("audit.export",
            f"Export the audit entries matching the filters ({esc(shown)}) as **{fmt.upper()}**? "
            "The export is recorded in the audit log under your name.",
            _export, result_key=state.AUDIT_EXPORT_RESULT, error_key=state.AUDIT_EXPORT_ERROR,
            confirm_label="Export")
    show_outcome(state.AUDIT_EXPORT_RESULT, state.AUDIT_EXPORT_ERROR, keep_result=True,
                 success=lambda r: f"Signed export ready: {r[0]} with its manifest and signature "
                                   f"({len(r[2]):,} bytes zipped)")
    if state.AUDIT_EXPORT_RESULT in st.session_state:
        name, mime, data = st.session_state[state.AUDIT_EXPORT_RESULT]
        st.download_button(f"Download {name}", data=data, file_name=f"{name}.zip", mime=mime,
                           key="audit.download", icon=":material/file_download:",
                           help=f"{name}.zip holds {name}, {name}.manifest.json and {name}.sig")

    st.subheader("Evidence pack of a model")
    st.caption("One signed zip for one model and period: the model card, its versions and metrics "
               "from MLflow, release requests with gates and decisions, drift and SLO summaries, the "
               "SHAP report hashes and the audit entries about the model. A part whose service does "
               "not answer says so inside the pack. Recorded in the audit log.")
    models = permitted_models(ctx, user.username)
    if not models:
        st.caption("No model is visible to you.")
    else:
        p1, p2 = st.columns(2)
        pack_model = p1.selectbox("Model", models, key="audit.pack_model")
        pack_days = p2.number_input("Last days", min_value=1, max_value=3660, value=30, step=1,
                                    key="audit.pack_days")
        if st.button("Build evidence pack...", icon=":material/inventory_2:", key="audit.pack"):
            st.session_state.pop(state.AUDIT_PACK_RESULT, None)
            ask_confirmation("audit.pack")

        def _pack() -> tuple[str, str, bytes]:
            from governance.evidence_pack import build_pack

            until = datetime.now(UTC)
            pack = build_pack(ctx, actor, pack_model, until - timedelta(days=int(pack_days)), until,
                              file_name=f"vigil-evidence-{pack_model}-{until:%Y%m%d}.zip")
            return pack.name, "application/zip", pack.zip_bytes()

        confirm("audit.pack",
                f"Build the evidence pack of **{esc(pack_model)}** for the last {int(pack_days)} days? "
                "It is recorded in the audit log under your name.",
                _pack, result_key=state.AUDIT_PACK_RESULT, error_key=state.AUDIT_PACK_ERROR,
                confirm_label="Build")
        show_outcome(state.AUDIT_PACK_RESULT, state.AUDIT_PACK_ERROR, keep_result=True,
                     success=lambda r: f"Signed evidence pack ready: {r[0]} ({len(r[2]):,} bytes with "
                                       "its manifest and signature)")
        if state.AUDIT_PACK_RESULT in st.session_state:
            name, mime, data = st.session_state[state.AUDIT_PACK_RESULT]
            st.download_button(f"Download {name} (signed)", data=data, file_name=f"{name}.signed.zip", mime=mime,
                               key="audit.pack_download", icon=":material/file_download:",
                               help=f"holds {name}, {name}.manifest.json and {name}.sig")
