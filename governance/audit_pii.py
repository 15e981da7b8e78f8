"""PII in exported audit entries: which PII-tagged features a person may not see, and masking them.

Audit entries carry no raw inference records today, but their ``details`` and ``reason`` are
free-form (a job's failure message, a gate's evidence, an ingest note), so a value of a
PII-tagged feature (core.config FeatureSpec.pii) could reach one. Every export and evidence pack
therefore masks, for a person without ``model.view_pii`` on the model:

- in ``details`` (at any depth), the value under a key named like a PII feature (``patient_zip``
  or its log column ``f_patient_zip``);
- in ``details`` strings and in ``reason``, ``name=value`` / ``name: value`` / ``"name": value``.

An entry whose resource is a model is masked with that model's PII features; any other entry
with the PII features of every model the person may not see PII of (the entry cannot say which
model a value came from). The export's own audit entry records which models were exported
unmasked, so unmasked access to PII is audited.
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from core.actor import Actor

MASK = "***"
PII_ACTION = "model.view_pii"


def model_names(ctx: Any) -> list[str]:
    return [spec.name for spec in getattr(ctx.models, "models", ()) or ()]


def pii_features(ctx: Any) -> dict[str, tuple[str, ...]]:
    """``{model: its PII-tagged feature names}`` for every configured model that has any."""
    out: dict[str, tuple[str, ...]] = {}
    for spec in getattr(ctx.models, "models", ()) or ():
        names = tuple(spec.pii_features)
        if names:
            out[spec.name] = names
    return out


def masked_features(ctx: Any, actor: Actor) -> dict[str, list[str]]:
    """``{model: PII features to mask}``: the models whose PII ``actor`` may not see."""
    from governance.rbac import can

    return {model: sorted(names) for model, names in pii_features(ctx).items()
            if not can(ctx, actor.username, PII_ACTION, model)}


def unmasked_models(ctx: Any, actor: Actor) -> list[str]:
    """Models with PII features whose values ``actor`` sees unmasked (recorded in the audit entry)."""
    hidden = masked_features(ctx, actor)
    return sorted(m for m in pii_features(ctx) if m not in hidden)


def _names_for(resource: str, masked: Mapping[str, list[str]], models: Collection[str]) -> list[str]:
    """The feature names to mask in an entry about ``resource``: its model's, or (not a model's
    entry) those of every model in ``masked``."""
    model = resource.split(":", 1)[0]
    for candidate in (resource, model):
        if candidate in masked:
            return list(masked[candidate])
        if candidate in models:
            return []
    return sorted({n for names in masked.values() for n in names})


@lru_cache(maxsize=64)
def _pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    keys = "|".join(re.escape(k) for n in sorted(names, key=len, reverse=True) for k in (f"f_{n}", n))
    return re.compile(rf'(?P<key>"?\b(?:{keys})\b"?\s*[=:]\s*)(?P<value>"(?:[^"\\]|\\.)*"|[^\s,;}}\])]+)')


def mask_text(text: str, names: list[str]) -> str:
    """``text`` with the value after each ``name=`` / ``name:`` replaced by ``***``."""
    if not names or not text or not any(n in text for n in names):
        return text
    return _pattern(tuple(names)).sub(lambda m: f"{m.group('key')}{MASK}", text)


def mask_value(value: Any, names: list[str]) -> Any:
    """``value`` (details) with PII-named keys' values and PII ``name=value`` text masked."""
    if not names:
        return value
    keys = set(names) | {f"f_{n}" for n in names}
    if isinstance(value, Mapping):
        return {k: (MASK if k in keys else mask_value(v, names)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v, names) for v in value]
    if isinstance(value, str):
        return mask_text(value, names)
    return value


def mask_record(record: Any, masked: Mapping[str, list[str]], models: Collection[str] = ()) -> Any:
    """An AuditRecord with PII masked for a person who may not see ``masked``'s features
    (``models``: every configured model name, to tell a model's entry from any other)."""
    if not masked:
        return record
    names = _names_for(record.resource, masked, models)
    if not names:
        return record
    details = mask_value(record.details, names)
    reason = mask_text(record.reason, names)
    if details == record.details and reason == record.reason:
        return record
    return replace(record, details=details, reason=reason)
