"""The quarantine store: every invalid log row, kept with its reason, never dropped.

Layout: ``<quarantine>/model=<name>/<part>.parquet``, where ``<quarantine>`` is
``<data>/quarantine``, or ``_quarantine/`` under VIGIL_LOGSTORE_URL when the log store is on an
object store (core.storage.quarantine_location); one or more files per ingestion
(part names derived from the ingested content's checksum, like its log-store parts, so a
repeated ingestion overwrites instead of duplicating; staged until the ledger commit, see
monitoring.logs.ledger). Columns: model, source_file, line, reason, raw, ingested_at. A Parquet
source file that fails page-checksum verification is quarantined whole: one row saying so and a
copy of the file under ``model=<name>/files/``.

Reads for the dashboard: :func:`quarantine_summary` (counts by reason, from the ingest ledger)
and :func:`quarantine_rows` (sample rows; PII-tagged feature values masked unless revealed).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from core.db import session_scope
from core.storage import Location, quarantine_location
from monitoring.logs.schema import feature_column
from monitoring.logs.store import write_parquet_atomic

MAX_RAW_CHARS = 8_000
MASK = "***"

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class QuarantinedRow:
    source_file: str
    line: int
    reason: str
    raw: str


def model_quarantine_dir(quarantine: Path | str | Location, model: str) -> Location:
    """Where ``model``'s quarantine files lie."""
    return Location.of(quarantine).child(f"model={model}")


def _location(quarantine: Any) -> Location:
    """A quarantine given as a location, a path/URL, or the settings (their configured one)."""
    if hasattr(quarantine, "quarantine_dir"):
        return quarantine_location(quarantine)
    return Location.of(quarantine)


def write_quarantine(
    quarantine: Path | str | Location,
    model: str,
    rows: list[QuarantinedRow],
    part_name: str,
    ingested_at: datetime,
    *,
    staged: bool = False,
) -> Path | str | None:
    """Write ``rows`` atomically as ``model=<m>/<part_name>.parquet`` (None when there are none);
    ``staged``: under the hidden staged name until published (see monitoring.logs.store)."""
    if not rows:
        return None
    table = pa.table(
        {
            "model": [model] * len(rows),
            "source_file": [r.source_file for r in rows],
            "line": [r.line for r in rows],
            "reason": [r.reason for r in rows],
            "raw": [r.raw[:MAX_RAW_CHARS] for r in rows],
            "ingested_at": [ingested_at] * len(rows),
        },
        schema=QUARANTINE_SCHEMA,
    )
    loc = model_quarantine_dir(quarantine, model)
    path = loc.join(f"{part_name}.parquet")
    return write_parquet_atomic(table, Path(path) if loc.local else loc.address(path), staged=staged)


@dataclass(frozen=True)
class QuarantineSummary:
    model: str
    files: int
    rows_read: int
    rows_stored: int
    rows_quarantined: int
    by_reason: list[tuple[str, int]]  # most frequent first
    last_ingested_at: datetime | None


def quarantine_summary(engine: Any, model: str) -> QuarantineSummary:
    """Counts of ingested and quarantined rows of ``model``, by reason (from the ledger)."""
    from monitoring.logs.tables import IngestedFile

    reasons: Counter[str] = Counter()
    files = read = stored = quarantined = 0
    last: datetime | None = None
    with session_scope(engine) as session:
        for row in session.scalars(select(IngestedFile).where(IngestedFile.model == model)):
            files += 1
            read += row.rows_read
            stored += row.rows_stored
            quarantined += row.rows_quarantined
            reasons.update({str(k): int(v) for k, v in (row.reasons or {}).items()})
            if last is None or row.ingested_at > last:
                last = row.ingested_at
    return QuarantineSummary(
        model, files, read, stored, quarantined, sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])), last
    )


def mask_raw(raw: str, pii_features: list[str]) -> str:
    """``raw`` with the values of PII-tagged features replaced by ``***``.

    JSON records are parsed and masked field by field; anything else (a broken line, a CSV
    row) is masked by pattern and, if a PII name still appears, hidden entirely.
    """
    if not pii_features:
        return raw
    try:
        record = json.loads(raw)
    except (ValueError, TypeError):
        record = None
    if isinstance(record, dict):
        feats = record.get("features")
        if isinstance(feats, dict):
            for name in pii_features:
                if name in feats:
                    feats[name] = MASK
        for name in pii_features:
            for key in (name, feature_column(name)):
                if key in record:
                    record[key] = MASK
        return json.dumps(record, sort_keys=False)
    masked = raw
    for name in pii_features:
        masked = re.sub(rf'("{re.escape(name)}"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}}\]]+)', rf'\1"{MASK}"', masked)
    # A line we cannot parse may carry PII in any position (CSV, truncated JSON): hide it.
    if masked == raw or any(f'"{n}"' not in masked for n in pii_features):
        return "(hidden: the line may contain PII and could not be masked)"
    return masked


def quarantine_rows(
    quarantine: Any,
    model: str,
    *,
    limit: int = 200,
    pii_features: list[str] | None = None,
    reveal_pii: bool = False,
) -> pd.DataFrame:
    """The newest quarantined rows of ``model`` (up to ``limit``), PII masked unless revealed.
    ``quarantine``: the settings (their configured quarantine), a location, a path or a URL."""
    loc = model_quarantine_dir(_location(quarantine), model)
    columns = ["ingested_at", "source_file", "line", "reason", "raw"]
    files = sorted(
        (loc.join(n) for n in loc.listdir() if n.endswith(".parquet") and not n.startswith(".")),
        key=loc.mtime,
        reverse=True,
    )
    frames: list[pd.DataFrame] = []
    total = 0
    for path in files:
        frame = pq.read_table(path, columns=columns, filesystem=loc.arrow_filesystem()).to_pandas()
        frames.append(frame)
        total += len(frame)
        if total >= limit:
            break
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True).head(limit)
    if pii_features and not reveal_pii:
        out["raw"] = [mask_raw(r, list(pii_features)) for r in out["raw"]]
    return out
