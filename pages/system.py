"""System: configuration, configured models and schedules, and whether each dependency answers.

The checks and the audit verification come from governance.system (through ui.loaders), which
checks ``system.view`` / ``audit.read`` itself."""

import streamlit as st

from core.redact import redact_url
from ui import loaders
from ui.auth import require_user
from ui.components import esc
from ui.context import get_context
from ui.nav import user_can

ctx = get_context()
user = require_user()
settings = ctx.settings

st.title("System")

st.subheader("Services")
checks = [
    loaders.check_database(ctx, user.username),
    loaders.check_mlflow(ctx, user.username),
    loaders.check_prometheus(ctx, user.username),
]
for check in checks:
    label = f"**{check.name}**: {check.status}"
    target = f" ({esc(check.target)})" if check.target else ""  # masked by the loader
    detail = f" — {esc(check.detail)}" if check.detail else ""
    if check.status == "ok":
        st.success(label + target + detail, icon=":material/check_circle:")
    elif check.status == "degraded":
        st.warning(label + target + detail, icon=":material/warning:")
    else:
        st.info(label + detail, icon=":material/info:")

if user_can(ctx, user.username, "audit.read"):
    st.subheader("Audit chain")
    verification = loaders.audit_verification(ctx, user.username)
    if verification.error:
        st.warning(f"Audit chain could not be verified: {esc(verification.error)}")
    elif verification.value.ok:
        st.success(f"Audit chain intact: {esc(verification.value.line())}", icon=":material/verified:")
    else:
        st.error(f"Audit chain broken: {esc(verification.value.line())}", icon=":material/gpp_bad:")
    st.caption("Same check as `python -m jobs.audit verify` (cached for a minute).")

st.subheader("Configuration")
st.dataframe(
    [
        {"setting": "data directory (VIGIL_DATA_DIR)", "value": str(settings.data_dir)},
        {"setting": "models file (VIGIL_CONFIG)", "value": str(settings.config_file)},
        {"setting": "database (DATABASE_URL)", "value": redact_url(settings.database_url)},
        {"setting": "MLflow (MLFLOW_TRACKING_URI)", "value": redact_url(settings.mlflow_tracking_uri)},
        {"setting": "Prometheus (PROMETHEUS_URL)",
         "value": redact_url(settings.prometheus_url) if settings.prometheus_url else "not configured"},
        {"setting": "sign-in mode (VIGIL_AUTH_MODE)", "value": settings.auth_mode},
        {"setting": "proxy user header (VIGIL_PROXY_USER_HEADER)",
         "value": settings.proxy_user_header if settings.auth_mode == "proxy" else "(proxy mode off)"},
        {"setting": "session lifetime (VIGIL_SESSION_TTL_MINUTES)", "value": f"{settings.session_ttl_minutes} min"},
        {"setting": "lockout (VIGIL_LOCKOUT_THRESHOLD / _MINUTES)",
         "value": f"{settings.lockout_threshold} failures -> {settings.lockout_minutes} min"},
        {"setting": "demo accounts (VIGIL_DEMO)", "value": "enabled" if settings.demo_mode else "disabled"},
        {"setting": "job account (VIGIL_JOB_USER)", "value": settings.job_user},
        {"setting": "webhook (VIGIL_WEBHOOK_URL)", "value": "configured" if settings.webhook_url else "not configured"},
    ],
    hide_index=True,
)

st.subheader("Monitored models")
st.dataframe(
    [
        {
            "model": m.name,
            "MLflow registered model": m.registered_model,
            "task": m.task,
            "features": len(m.features),
            "PII features": len(m.pii_features),
            "SLOs": ", ".join(s.name for s in m.slos),
            "approvals": m.approval.required_approvals,
            "logs": redact_url(str(m.logs)),
        }
        for m in ctx.models.models
    ],
    hide_index=True,
)

st.subheader("Schedules (UTC)")
if ctx.models.schedules:
    st.dataframe([{"job": job, "cron": cron} for job, cron in ctx.models.schedules.items()], hide_index=True)
else:
    st.info("No schedules configured.")
