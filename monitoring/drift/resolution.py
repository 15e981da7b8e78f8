"""Which reference a drift check compares with: the champion's version (the registry's, else the
newest version seen in the window) and its current profile (fitted from training data on
demand, else the model's newest profile), each with a note saying what was done."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import desc, select

from core.actor import Actor
from core.config import ModelSpec
from core.db import session_scope
from core.errors import NotFound, ServiceUnavailable
from monitoring.drift.profile_store import current_profile, fit_and_store, registry
from monitoring.drift.tables import ReferenceProfileRecord
from monitoring.drift.views import ProfileView, profile_view


def champion_version(ctx: Any, spec: ModelSpec, start: datetime, end: datetime) -> tuple[str | None, str]:
    problem = ""
    try:
        champion = registry(ctx).champion(spec.registered_model)
        if champion is not None:
            return str(champion.version), ""
        problem = "the registry names no champion"
    except Exception as exc:  # noqa: BLE001 - registry down or not set up
        problem = f"the registry did not answer ({type(exc).__name__}: {exc})"
    from monitoring.logs.store import read_window

    versions = read_window(ctx.settings, spec.name, start, end, columns=["version"], spec=spec).column(
        "version"
    )
    seen = sorted(
        {v for v in versions.to_pylist() if v},
        key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v),
    )
    if seen:
        return seen[-1], f"{problem}; compared the newest version seen in the window ({seen[-1]})"
    return None, problem


def profile_for(ctx: Any, actor: Actor, spec: ModelSpec, version: str | None) -> tuple[ProfileView, str]:
    if version is not None:
        view = current_profile(ctx, spec.name, version)
        if view is not None:
            return view, ""
        try:
            return fit_and_store(
                ctx, actor, spec, version, "training", None, None
            ), f"fitted the reference profile of version {version} from its training data"
        except (NotFound, ServiceUnavailable, ImportError) as exc:
            problem = f"no profile of version {version} and its training data could not be read ({exc})"
    else:
        problem = "no version could be determined"
    with session_scope(ctx.engine) as session:
        row = session.scalars(
            select(ReferenceProfileRecord)
            .where(ReferenceProfileRecord.model == spec.name, ReferenceProfileRecord.is_current.is_(True))
            .order_by(desc(ReferenceProfileRecord.id))
            .limit(1)
        ).first()
        fallback = profile_view(row) if row else None
    if fallback is None:
        raise NotFound(
            f"{spec.name}: {problem}, and no stored reference profile exists; fit one with "
            "fit_reference_profile (source training or a window of logs)"
        )
    return fallback, f"{problem}; used the newest profile (version {fallback.version})"
