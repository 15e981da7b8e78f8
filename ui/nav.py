"""The navigation: an explicit table of pages, each with the permission it needs.

Showing a page only to those who may use it is a courtesy; each service still checks the
permission itself and audits a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.context import AppContext
from ui.auth import CurrentUser


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    section: str
    action: str | tuple[str, ...]  # the governance.rbac action the page needs (a tuple: any of them)
    per_model: bool = False  # True: the action on at least one model; False: on "*"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview.py", "Overview", ":material/dashboard:", "Models", "model.view", True),
    PageSpec("pages/drift.py", "Drift", ":material/query_stats:", "Models", "model.view", True),
    PageSpec("pages/slos.py", "SLOs", ":material/speed:", "Models", "model.view", True),
    PageSpec("pages/explain.py", "Explanations", ":material/insights:", "Models", "model.view", True),
    PageSpec("pages/releases.py", "Releases", ":material/history:", "Governance", "model.view", True),
    PageSpec("pages/approvals.py", "Approvals", ":material/approval:", "Governance", "model.view", True),
    PageSpec("pages/inventory.py", "Inventory", ":material/inventory_2:", "Governance", "model.view", True),
    PageSpec("pages/audit.py", "Audit log", ":material/receipt_long:", "Governance", "audit.read"),
    # admins manage access there; auditors (audit.read) read its access review
    PageSpec("pages/access.py", "Access", ":material/admin_panel_settings:", "Governance",
             ("access.manage", "audit.read")),
    PageSpec("pages/system.py", "System", ":material/dns:", "Operations", "system.view"),
    PageSpec("pages/tokens.py", "API tokens", ":material/key:", "Account", "model.view", True),
)
SIGN_IN = PageSpec("pages/sign_in.py", "Sign in", ":material/login:", "", "")


def user_can(ctx: AppContext, username: str, action: str, resource: str = "*") -> bool:
    """governance.rbac.can, for deciding what to show (the service decides what to do)."""
    from governance import rbac

    return bool(rbac.can(ctx, username, action, resource))


def permitted_models(ctx: AppContext, username: str, action: str = "model.view") -> list[str]:
    """Configured models the user may see, in configuration order."""
    from governance import rbac

    allowed = set(rbac.permitted_models(ctx, username, action))
    return [name for name in ctx.models.names if name in allowed]


def allowed_pages(ctx: AppContext, username: str) -> list[PageSpec]:
    has_models = bool(permitted_models(ctx, username))
    out = []
    for spec in PAGES:
        if spec.per_model:
            if has_models:
                out.append(spec)
        elif any(user_can(ctx, username, a, "*") for a in
                 ((spec.action,) if isinstance(spec.action, str) else spec.action)):
            out.append(spec)
    return out


def _no_access() -> None:
    st.title("No access yet")
    st.info("You are signed in, but no role has been granted to you. Ask an administrator "
            "for a grant (viewer, operator, reviewer, security, auditor or admin).")


def _page(spec: PageSpec, *, default: bool = False) -> st.Page:
    return st.Page(spec.path, title=spec.title, icon=spec.icon, default=default)


def navigation(ctx: AppContext, user: CurrentUser | None):  # type: ignore[no-untyped-def]
    """Build st.navigation for this user and return the selected page (to .run())."""
    if user is None:
        return st.navigation([_page(SIGN_IN, default=True)], position="hidden")
    specs = allowed_pages(ctx, user.username)
    if not specs:
        return st.navigation([st.Page(_no_access, title="No access", icon=":material/block:",
                                      url_path="no-access", default=True)])
    sections: dict[str, list[st.Page]] = {}
    for i, spec in enumerate(specs):
        sections.setdefault(spec.section, []).append(_page(spec, default=(i == 0)))
    return st.navigation(sections)
