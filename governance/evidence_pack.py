"""Model-level evidence pack: one signed zip an auditor can hand on for one model and period.

``build_pack(ctx, actor, model, since, until)`` needs ``model.view`` on the model and
``audit.export``, is audited (``audit.evidence``), and returns a governance.audit_export
SignedExport whose file is the zip (format ``zip``; written as FILE, FILE.manifest.json, FILE.sig
and checked with ``jobs.audit verify-export`` like any export). The zip holds:

- ``summary.json``: model, period, who made it and when, each part's status;
- ``model_card.json``: the model's entry in the models file (features with their PII tag, SLOs,
  thresholds, approval policy and whatever card fields the file carries; log locations and
  deploy hooks left out);
- ``versions.json``: the registered versions with their aliases, metrics and tags (MLflow);
- ``releases.json``: release requests opened in the period, with gates, stages and decisions;
- ``drift.json``: the drift runs whose window ended in the period (status, drifted features,
  report hash) and a summary by status;
- ``slo.json``: per SLO the snapshots taken in the period (count, lowest error budget left,
  pages and tickets raised) and the last one;
- ``shap_reports.json``: the SHAP reports made in the period and their files' SHA-256;
- ``audit_entries.jsonl``: the audit entries whose resource is the model, as canonical JSON lines
  (the manifest's ``entries_sha256`` is their hash), PII masked as in every export.

A part whose service is down (MLflow, say) reads ``{"unavailable": "<why>"}``; the pack is still
made and signed. Parts hold statistics, hashes and decisions, not feature values; their free text
(decision comments, request reasons, version tags) and the audit entries are masked by
governance.audit_pii for a person without ``model.view_pii`` on the model.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from core.actor import Actor
from core.errors import InvalidInput
from core.redact import redact_obj, redact_text
from governance.audit import ExportBatch, render_rows, run_export, utc_ts
from governance.audit_export import PACK_ENTRIES, SignedExport, key_id, signed_file, signing_key
from governance.audit_pii import mask_value

DEFAULT_DAYS = 30
CARD_EXCLUDE = {"logs", "deploy_hook"}  # locations and commands, not card fields


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses and pydantic models as dicts, datetimes as ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


def _part(build: Callable[[], Any]) -> Any:
    """``build()``, or ``{"unavailable": why}`` when a service behind it fails."""
    try:
        return _plain(build())
    except Exception as exc:  # noqa: BLE001 - one part down must not sink the pack
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {"unavailable": redact_text(f"{type(exc).__name__}: {first}")[:500]}


def _in(moment: datetime | None, since: datetime, until: datetime) -> bool:
    if moment is None:
        return False
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return since <= moment < until


def _model_card(ctx: Any, model: str) -> dict[str, Any]:
    spec = ctx.models.get(model)
    return redact_obj(spec.model_dump(mode="json", exclude=CARD_EXCLUDE))


def _versions(ctx: Any, viewer: str, model: str) -> list[Any]:
    from governance.registry import model_versions

    return [dataclasses.asdict(v) for v in model_versions(ctx, model, viewer=viewer)]


def _releases(ctx: Any, viewer: str, model: str, since: datetime, until: datetime) -> list[Any]:
    from governance.releases import list_requests

    views = list_requests(ctx, viewer, model=model)
    return [{**dataclasses.asdict(v), "state": v.state} for v in views if _in(v.opened_at, since, until)]


def _drift(ctx: Any, viewer: str, model: str, since: datetime, until: datetime) -> dict[str, Any]:
    from monitoring.drift.service import list_runs

    runs = [r for r in list_runs(ctx, model, since=since, viewer=viewer) if _in(r.window_end, since, until)]
    keep = ("id", "version", "window", "window_start", "window_end", "status", "rows", "features_tested",
            "drifted_features", "share_drifted", "max_severity", "dataset_drift", "report_sha256")
    return {"runs": len(runs), "by_status": dict(Counter(r.status for r in runs)),
            "dataset_drift": sum(1 for r in runs if r.dataset_drift),
            "checks": [{k: getattr(r, k) for k in keep} for r in runs]}


def _slo(ctx: Any, viewer: str, model: str, since: datetime, until: datetime) -> dict[str, Any]:
    from monitoring.slo.service import snapshot_history

    out: dict[str, Any] = {}
    for slo in ctx.models.get(model).slos:
        snaps = [s for s in snapshot_history(ctx, model, slo.name, since=since, viewer=viewer)
                 if _in(s.at, since, until)]
        budgets = [s.budget_remaining for s in snaps if s.budget_remaining is not None]
        out[slo.name] = {"snapshots": len(snaps), "lowest_error_budget_remaining": min(budgets) if budgets else None,
                         "pages": sum(1 for s in snaps if s.page), "tickets": sum(1 for s in snaps if s.ticket),
                         "last": {**snaps[-1].contract(), "at": snaps[-1].at} if snaps else None}
    return out


def _shap(ctx: Any, viewer: str, model: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    from monitoring.explain.service import report_history

    keep = ("id", "version", "window", "created_at", "explainer", "explained_rows", "additivity_ok",
            "json_sha256", "json_size", "html_sha256", "html_size", "background_sha256", "is_current")
    return [{k: getattr(r, k) for k in keep} for r in report_history(ctx, model, viewer=viewer, limit=1000)
            if _in(r.created_at, since, until)]


def _period(since: datetime | str | None, until: datetime | str | None) -> tuple[datetime, datetime]:
    def parse(value: datetime | str | None, name: str) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"--{name} must be an ISO-8601 date or time, got {value!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    end = parse(until, "until") or datetime.now(UTC)
    start = parse(since, "since") or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise InvalidInput(f"the period is empty: since {start.isoformat()} is not before until {end.isoformat()}")
    return start.astimezone(UTC), end.astimezone(UTC)


def build_pack(ctx: Any, actor: Actor, model: str, since: datetime | str | None = None,
               until: datetime | str | None = None, *, file_name: str | None = None) -> SignedExport:
    """The signed evidence pack of ``model`` for ``[since, until)`` (default: the last 30 days)."""
    from governance.rbac import require

    if model not in {m.name for m in ctx.models.models}:
        raise InvalidInput(f"unknown model {model!r}; configured: {', '.join(m.name for m in ctx.models.models)}")
    start, end = _period(since, until)
    require(ctx, actor, "model.view", model)
    key = signing_key(ctx.settings)
    query = {"resource": model, "since": utc_ts(start), "until": utc_ts(end)}
    viewer = actor.username
    out: dict[str, SignedExport] = {}

    def build(batch: ExportBatch) -> tuple[bytes, dict[str, Any]]:
        now = datetime.now(UTC)
        name = file_name or f"vigil-evidence-{model}-{now:%Y%m%dT%H%M%SZ}.zip"
        parts = {
            "model_card.json": _part(lambda: _model_card(ctx, model)),
            "versions.json": _part(lambda: _versions(ctx, viewer, model)),
            "releases.json": _part(lambda: _releases(ctx, viewer, model, start, end)),
            "drift.json": _part(lambda: _drift(ctx, viewer, model, start, end)),
            "slo.json": _part(lambda: _slo(ctx, viewer, model, start, end)),
            "shap_reports.json": _part(lambda: _shap(ctx, viewer, model, start, end)),
        }
        hidden = batch.masked.get(model, [])  # free text (a decision's comment, a version's tags) too
        parts = {n: (p if n == "model_card.json" else mask_value(p, hidden)) for n, p in parts.items()}
        status = {n: (p["unavailable"] if isinstance(p, dict) and set(p) == {"unavailable"} else "ok")
                  for n, p in parts.items()}
        summary = {"model": model, "since": utc_ts(start), "until": utc_ts(end), "generated_by": viewer,
                   "generated_at": utc_ts(now), "audit_entries": len(batch.records), "parts": status,
                   "pii_masked": batch.masked}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("summary.json", json.dumps(summary, indent=2, sort_keys=True))
            for part_name, content in parts.items():
                zf.writestr(part_name, json.dumps(content, indent=2, sort_keys=True))
            zf.writestr(PACK_ENTRIES, render_rows("jsonl", batch.records))
        data = buffer.getvalue()
        out["pack"] = signed_file(data, name, "zip", records=batch.records, query=query, head=batch.head,
                                  generated_by=viewer, generated_at=now, masked=batch.masked, key=key,
                                  extra={"evidence_pack": {"model": model, "parts": status}})
        unavailable = sorted(n for n, s in status.items() if s != "ok")
        return data, {"evidence_pack": model, "file": name, "key_id": key_id(key.public_key()),
                      "unavailable": unavailable}

    run_export(ctx, actor, "zip", query, build, action="audit.evidence", resource=model)
    return out["pack"]
