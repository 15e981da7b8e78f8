"""The model inventory: every monitored model with its owner, purpose, risk tier, status, versions,
validation state, last review and the next one due.

The fields come from the models file (core.config.InventoryFields); an admin's edit on the
Inventory page (:func:`edit`, ``inventory.edit``) is stored in ``model_inventory_edits`` and the
newest edit of a field wins over the file. Versions and the champion come from MLflow through
governance.registry's read service; when MLflow does not answer the row says "unavailable".

Review arithmetic (:func:`next_review_due`, pure): the next review is due ``interval`` days after
the last one; a model is overdue from the day after its due date. A model never reviewed is due at
once (overdue), a retired one is never overdue.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select

from core.actor import Actor
from core.config import InventoryFields
from core.db import session_scope, write_scope
from core.errors import InvalidInput
from core.redact import spreadsheet_safe
from governance.inventory_tables import InventoryEdit
from governance.rbac import Action, require, viewable_models

EDITABLE: tuple[str, ...] = tuple(InventoryFields.model_fields)
UNAVAILABLE = "unavailable"
EXPORT_FORMATS = ("csv", "yaml")


@dataclass(frozen=True)
class InventoryRow:
    """One model's inventory entry as the page, the export and the reminders show it."""

    model: str
    registered_model: str
    owner: str
    purpose: str
    risk_tier: str | None
    status: str
    validation: str
    last_review: date | None
    review_every_days: int  # the interval in force (the file's, an edit's or the tier's default)
    next_review_due: date | None  # None: never reviewed (due now) or retired
    overdue: bool
    versions: int | None  # None: MLflow did not answer (or the model is not registered yet: 0)
    champion: str | None
    versions_error: str | None = None  # why versions are unknown ("unavailable: ...")
    edited_fields: tuple[str, ...] = ()  # fields whose value comes from an admin's edit

    @property
    def versions_text(self) -> str:
        return UNAVAILABLE if self.versions is None else str(self.versions)

    @property
    def review_text(self) -> str:
        """The review state in words: "overdue since ...", "due ...", "never reviewed", "retired"."""
        if self.status == "retired":
            return "retired: no review due"
        if self.last_review is None:
            return "never reviewed: due now"
        assert self.next_review_due is not None
        if self.overdue:
            return f"overdue since {self.next_review_due.isoformat()}"
        return f"due {self.next_review_due.isoformat()}"


# -- pure review arithmetic ------------------------------------------------------------------
def next_review_due(last_review: date | None, interval_days: int, status: str) -> date | None:
    """The date the next review is due: ``last_review + interval_days``; None when never reviewed
    or retired."""
    if status == "retired" or last_review is None:
        return None
    return last_review + timedelta(days=interval_days)


def is_overdue(last_review: date | None, interval_days: int, status: str, today: date) -> bool:
    """Overdue from the day after the due date; never reviewed counts as overdue; retired never."""
    if status == "retired":
        return False
    due = next_review_due(last_review, interval_days, status)
    return due is None or today > due


# -- reading ------------------------------------------------------------------------------------
def _edits(ctx: Any, models: list[str]) -> dict[str, dict[str, Any]]:
    """The newest edited value of each field, per model."""
    out: dict[str, dict[str, Any]] = {m: {} for m in models}
    if not models:
        return out
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(InventoryEdit).where(InventoryEdit.model.in_(models))
                               .order_by(InventoryEdit.id))
        for row in rows:
            if row.field in EDITABLE:
                out[row.model][row.field] = json.loads(row.value)
    return out


def effective_fields(ctx: Any, model: str, edits: dict[str, Any] | None = None) -> InventoryFields:
    """The model's inventory fields: the models file's, overridden by the newest edits."""
    spec = ctx.models.get(model)
    base = {name: getattr(spec, name) for name in EDITABLE}
    edits = _edits(ctx, [model])[model] if edits is None else edits
    try:
        return InventoryFields.model_validate({**base, **edits})
    except ValidationError:  # an edit that no longer validates (e.g. the clock): the file wins
        return InventoryFields.model_validate(base)


def _versions(ctx: Any, model: str, registry: Any, viewer: str | None) -> tuple[int | None, str | None, str | None]:
    from core.errors import NotFound
    from governance.registry import champion_of, model_versions

    try:
        versions = model_versions(ctx, model, viewer=viewer, registry=registry)
    except NotFound:
        return 0, None, None
    except Exception as exc:  # noqa: BLE001  (MLflow down or broken: the inventory still shows)
        from core.redact import redact_text

        return None, None, redact_text(f"{UNAVAILABLE}: {type(exc).__name__}: {exc}")[:300]
    champion = champion_of(versions)
    return len(versions), champion.version if champion else None, None


def _row(ctx: Any, model: str, fields: InventoryFields, edited: set[str], today: date,
         versions: tuple[int | None, str | None, str | None]) -> InventoryRow:
    interval = fields.review_interval_days
    return InventoryRow(
        model=model, registered_model=ctx.models.get(model).registered_model, owner=fields.owner,
        purpose=fields.purpose, risk_tier=fields.risk_tier, status=fields.status,
        validation=fields.validation, last_review=fields.last_review, review_every_days=interval,
        next_review_due=next_review_due(fields.last_review, interval, fields.status),
        overdue=is_overdue(fields.last_review, interval, fields.status, today),
        versions=versions[0], champion=versions[1], versions_error=versions[2],
        edited_fields=tuple(sorted(edited)),
    )


def inventory(ctx: Any, viewer: str | None, *, today: date | None = None, registry: Any = None,
              with_versions: bool = True) -> list[InventoryRow]:
    """The inventory rows of the models ``viewer`` may view (``model.view``), in configuration
    order; ``viewer=None``: a trusted internal caller (the health job). ``with_versions=False``
    skips MLflow (the Overview reminder and the health job need only the review state)."""
    today = today or datetime.now(UTC).date()
    allowed = set(ctx.models.names if viewer is None else viewable_models(ctx, viewer))
    names = [m for m in ctx.models.names if m in allowed]
    edits = _edits(ctx, names)
    if with_versions and registry is None:
        from governance.registry import ModelRegistry

        registry = ModelRegistry(ctx.settings.mlflow_tracking_uri)
    rows = []
    for name in names:
        fields = effective_fields(ctx, name, edits[name])
        versions = _versions(ctx, name, registry, viewer) if with_versions else (None, None, None)
        rows.append(_row(ctx, name, fields, set(edits[name]), today, versions))
    return rows


def overdue_reviews(ctx: Any, viewer: str | None, *, today: date | None = None) -> list[InventoryRow]:
    """The visible models whose review is overdue (no MLflow call)."""
    return [r for r in inventory(ctx, viewer, today=today, with_versions=False) if r.overdue]


# -- editing ------------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _validate(current: InventoryFields, changes: dict[str, Any]) -> InventoryFields:
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"not an inventory field: {', '.join(unknown)} (fields: {', '.join(EDITABLE)})")
    cleaned = {k: (None if isinstance(v, str) and not v.strip() and k in ("risk_tier", "last_review",
                                                                        "review_every_days") else v)
               for k, v in changes.items()}
    try:
        return InventoryFields.model_validate({**current.model_dump(), **cleaned})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(entry)"
        raise InvalidInput(f"{where}: {first['msg']}") from None


def edit(ctx: Any, actor: Actor, model: str, *, reason: str = "", **fields: Any) -> InventoryRow:
    """Change inventory fields of ``model`` (``inventory.edit``, admin only; a refusal is audited).

    The values are validated like the models file; only fields whose value changes are stored.
    The audit entry names each changed field with its old and new value. Returns the model's
    row without versions (MLflow is not asked)."""
    require(ctx, actor, Action.INVENTORY_EDIT, model)
    ctx.models.get(model)  # NotFound for an unknown model
    current = effective_fields(ctx, model)
    updated = _validate(current, fields)
    changes = {name: {"old": _jsonable(getattr(current, name)), "new": _jsonable(getattr(updated, name))}
               for name in fields if getattr(current, name) != getattr(updated, name)}
    if not changes:
        raise InvalidInput(f"nothing to change: the inventory of {model!r} already has these values")
    now = datetime.now(UTC)
    with write_scope(ctx.engine) as session:  # the edit and its audit entry commit together
        for name, change in changes.items():
            session.add(InventoryEdit(model=model, field=name, value=json.dumps(change["new"]),
                                      edited_by=actor.username, edited_at=now, reason=reason.strip()))
        session.flush()
        ctx.audit.append(actor, Action.INVENTORY_EDIT, model, "success", reason=reason.strip(),
                         details={"changes": changes}, conn=session.connection())
    return next(r for r in inventory(ctx, None, with_versions=False) if r.model == model)


# -- export -------------------------------------------------------------------------------------
EXPORT_COLUMNS = ("model", "registered_model", "owner", "purpose", "risk_tier", "status", "validation",
                  "last_review", "review_every_days", "next_review_due", "overdue", "versions",
                  "champion")


def export_record(row: InventoryRow) -> dict[str, Any]:
    """One row as the exported file has it (dates as ISO text, versions "unavailable" when unknown)."""
    record = {k: v for k, v in asdict(row).items() if k in EXPORT_COLUMNS}
    record["last_review"] = _jsonable(row.last_review)
    record["next_review_due"] = _jsonable(row.next_review_due)
    record["versions"] = row.versions if row.versions is not None else UNAVAILABLE
    return {k: record[k] for k in EXPORT_COLUMNS}


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula (owner and purpose are typed by people)."""
    return spreadsheet_safe(value) if isinstance(value, str) else value


def export_inventory(ctx: Any, viewer: Actor, fmt: str = "csv", *, today: date | None = None,
                     registry: Any = None) -> bytes:
    """The inventory of the models ``viewer`` may view as a CSV or YAML file; the export is audited
    (``inventory.export`` with the format and the models)."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    rows = inventory(ctx, viewer.username, today=today, registry=registry)
    records = [export_record(r) for r in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in r.items()} for r in records)
        data = out.getvalue().encode("utf-8")
    else:
        data = yaml.safe_dump({"inventory": records}, sort_keys=False, allow_unicode=True).encode("utf-8")
    ctx.audit.append(viewer, "inventory.export", "*", "success",
                     details={"format": fmt, "models": [r.model for r in rows], "bytes": len(data)})
    return data
