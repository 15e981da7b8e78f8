"""Reference profiles per model version: fitted from training data (MLflow) or a pinned window
of logs, stored as artifacts (kind ``profiles``) and versioned in ``reference_profiles``: every fit
adds a row and becomes the current profile of its model version; older rows stay for the record.

Beside the profile (helper D1's ReferenceProfile, for the statistics) two small things are
stored for the dashboard: per-feature chart bins with the reference shares, and a sample of at
most 5,000 reference rows (Parquet) for the Evidently report.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import desc, select, update

from core.actor import Actor
from core.config import ModelSpec
from core.db import session_scope, write_scope
from core.errors import InvalidInput
from monitoring.drift import stats
from monitoring.drift.tables import ReferenceProfileRecord
from monitoring.drift.views import ProfileView, aware, profile_view
from monitoring.logs.schema import feature_column

SAMPLE_ROWS = 5_000  # rows kept for the Evidently report (reference and current)
CHART_BINS = 30
CHART_CATEGORIES = 30


def chart_reference(frame: pd.DataFrame, spec: ModelSpec) -> dict[str, Any]:
    """Per feature, the bins the page draws and the reference shares in them."""
    charts: dict[str, Any] = {}
    for feat in spec.features:
        if feat.name not in frame.columns:
            continue
        col = frame[feat.name]
        if feat.type == "numeric":
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            values = values[np.isfinite(values)]  # missing and +-inf are not charted (as in the fit)
            if values.size == 0:
                continue
            lo, hi = np.quantile(values, [0.005, 0.995])
            if not hi > lo:
                lo, hi = float(values.min()), float(values.max()) + 1e-9
            edges = np.linspace(lo, hi, CHART_BINS + 1)
            counts = np.histogram(np.clip(values, lo, hi), bins=edges)[0]
            charts[feat.name] = {
                "kind": "numeric",
                "edges": edges.tolist(),
                "reference": (counts / counts.sum()).tolist(),
            }
        else:
            counts = col[~stats.categorical_missing_mask(col)].astype(str).value_counts()
            top = counts.head(CHART_CATEGORIES)
            cats = top.index.tolist()
            shares = (top / max(int(counts.sum()), 1)).tolist()
            if len(counts) > len(top):
                cats.append("(other)")
                shares.append(float(counts.iloc[len(top) :].sum() / counts.sum()))
            charts[feat.name] = {"kind": "categorical", "categories": cats, "reference": shares}
    return charts


def frame_from_logs(table: Any, spec: ModelSpec) -> pd.DataFrame:
    frame = table.to_pandas()
    return frame.rename(columns={feature_column(f.name): f.name for f in spec.features})


def registry(ctx: Any) -> Any:
    from governance.registry import ModelRegistry

    return ModelRegistry(ctx.settings.mlflow_tracking_uri)


def fit_and_store(
    ctx: Any,
    actor: Actor,
    spec: ModelSpec,
    version: str,
    source: str,
    start: datetime | None,
    end: datetime | None,
) -> ProfileView:
    from monitoring.drift import methods
    from monitoring.drift.profile import ReferenceProfile
    from monitoring.logs.store import read_window

    version = str(version)
    selected = methods.select(spec.drift.methods)  # unknown names fail before any data is read
    if source == "training":
        frame = registry(ctx).reference_data(spec.registered_model, version)
    elif source == "window":
        if start is None or end is None:
            raise InvalidInput("a profile from a window of logs needs start and end")
        start, end = aware(start), aware(end)
        frame = frame_from_logs(read_window(ctx.settings, spec.name, start, end, spec=spec), spec)  # type: ignore[arg-type]
        if "version" in frame.columns and (frame["version"] == version).any():
            frame = frame[frame["version"] == version]
        if frame.empty:
            raise InvalidInput(f"no logs of {spec.name} between {start} and {end} to fit a profile on")
    else:
        raise InvalidInput(f"profile source {source!r}: expected training or window")
    th = spec.thresholds
    profile = ReferenceProfile.fit(
        frame,
        spec.numeric_features,
        spec.categorical_features,
        exact_cap=th.exact_sample_cap,
        bins=th.psi_bins,
        methods=selected,
    )
    stored = ctx.artifacts.put("profiles", f"{spec.name}-v{version}.profile", profile.to_bytes())
    names = [f.name for f in spec.features if f.name in frame.columns]
    sample = frame[names].sample(n=min(SAMPLE_ROWS, len(frame)), random_state=0)
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    sample_art = ctx.artifacts.put("profiles", f"{spec.name}-v{version}-sample.parquet", buffer.getvalue())
    with write_scope(ctx.engine) as session:
        session.execute(
            update(ReferenceProfileRecord)
            .where(ReferenceProfileRecord.model == spec.name, ReferenceProfileRecord.version == version)
            .values(is_current=False)
        )
        row = ReferenceProfileRecord(
            model=spec.name,
            version=version,
            source=source,
            window_start=start,
            window_end=end,
            rows=int(profile.rows),
            created_at=datetime.now(UTC),
            created_by=actor.username,
            artifact_sha256=stored.sha256,
            artifact_name=stored.name,
            sample_sha256=sample_art.sha256,
            charts=chart_reference(frame, spec),
            is_current=True,
        )
        session.add(row)
        session.flush()
        view = profile_view(row)
    ctx.audit.append(
        actor,
        "drift.run",
        spec.name,
        "success",
        details={
            "what": "reference profile",
            "profile_id": view.id,
            "version": version,
            "source": source,
            "rows": view.rows,
            "sha256": view.artifact_sha256,
        },
    )
    return view


def fit_reference_profile(
    ctx: Any,
    actor: Actor,
    model: str,
    version: str,
    *,
    source: str = "training",
    start: datetime | None = None,
    end: datetime | None = None,
) -> ProfileView:
    """Fit and store a new current profile of ``model`` ``version`` (training data or a log window)."""
    from governance.rbac import require

    spec = ctx.models.get(model)
    require(ctx, actor, "drift.run", model)
    try:
        return fit_and_store(ctx, actor, spec, version, source, start, end)
    except Exception as exc:
        ctx.audit.append(
            actor,
            "drift.run",
            model,
            "failed",
            reason=f"{type(exc).__name__}: {exc}",
            details={"what": "reference profile", "version": str(version), "source": source},
        )
        raise


def current_profile(ctx: Any, model: str, version: str) -> ProfileView | None:
    with session_scope(ctx.engine) as session:
        row = session.scalars(
            select(ReferenceProfileRecord)
            .where(
                ReferenceProfileRecord.model == model,
                ReferenceProfileRecord.version == str(version),
                ReferenceProfileRecord.is_current.is_(True),
            )
            .order_by(desc(ReferenceProfileRecord.id))
            .limit(1)
        ).first()
        return profile_view(row) if row else None


def list_profiles(ctx: Any, model: str) -> list[ProfileView]:
    with session_scope(ctx.engine) as session:
        rows = session.scalars(
            select(ReferenceProfileRecord)
            .where(ReferenceProfileRecord.model == model)
            .order_by(desc(ReferenceProfileRecord.id))
        )
        return [profile_view(r) for r in rows]


def get_profile(ctx: Any, profile_id: int) -> ProfileView | None:
    with session_scope(ctx.engine) as session:
        row = session.get(ReferenceProfileRecord, profile_id)
        return profile_view(row) if row else None


def load_profile(ctx: Any, view: ProfileView) -> Any:
    from monitoring.drift.profile import ReferenceProfile

    return ReferenceProfile.from_bytes(
        ctx.artifacts.get("profiles", view.artifact_sha256, view.artifact_name)
    )
