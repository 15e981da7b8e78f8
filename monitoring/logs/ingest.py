"""Ingestion of inference-log files into the Parquet log store, with quarantine.

For each configured model, :func:`ingest_model` lists the log files (JSONL, CSV, Parquet) under
the model's ``logs`` location (a directory relative to the data directory, or any fsspec URL),
skips the ones whose checksum is in the ledger, validates every row
(:mod:`monitoring.logs.validate`) and writes valid rows to the log store and invalid rows to
the quarantine store. Every file obeys rows read = stored + quarantined.

Crash safety. A file's outputs are written under deterministic names derived from its SHA-256
(temporary name, then rename), and its ledger row is committed only after they are all in
place. A run killed before the ledger commit leaves either nothing or complete files that the
next run overwrites with identical content, so no row is ever stored twice.

Growing files. When a JSONL file that was ingested grows (its old bytes are unchanged), only the
appended bytes are read. A file whose ingested content changed otherwise is reported and
skipped, because re-reading it would duplicate rows.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import desc, select
from sqlalchemy.exc import IntegrityError

from core.actor import Actor
from core.config import ModelSpec
from core.db import session_scope
from monitoring.logs.quarantine import QuarantinedRow, write_quarantine
from monitoring.logs.store import store_schema, write_partitioned
from monitoring.logs.validate import MALFORMED, Invalid, ValidationContext, validate_record

log = logging.getLogger("vigil.ingest")

SUPPORTED = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class FileResult:
    url: str
    checksum: str
    rows_read: int
    rows_stored: int
    rows_quarantined: int
    reasons: dict[str, int]
    appended: bool = False


@dataclass
class IngestResult:
    model: str
    location: str
    files_seen: int = 0
    files_ingested: int = 0
    files_skipped: int = 0
    files_changed: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_stored: int = 0
    rows_quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def add(self, result: FileResult) -> None:
        self.files_ingested += 1
        self.rows_read += result.rows_read
        self.rows_stored += result.rows_stored
        self.rows_quarantined += result.rows_quarantined
        self.reasons.update(result.reasons)

    def line(self) -> str:
        return (
            f"{self.model}: rows read={self.rows_read} stored={self.rows_stored} "
            f"quarantined={self.rows_quarantined} (files ingested={self.files_ingested}, "
            f"skipped={self.files_skipped})"
        )

    def details(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "files_seen": self.files_seen,
            "files_ingested": self.files_ingested,
            "files_skipped": self.files_skipped,
            "files_changed": self.files_changed,
            "rows_read": self.rows_read,
            "rows_stored": self.rows_stored,
            "rows_quarantined": self.rows_quarantined,
            "reasons": dict(self.reasons),
            "notes": self.notes,
        }


# --- locations ---------------------------------------------------------------------------------


def resolve_location(data_dir: Path, logs: str) -> str:
    """A model's ``logs`` value as a URL: fsspec URLs as given, paths relative to the data dir."""
    if "://" in logs:
        return logs
    path = Path(logs).expanduser()
    if not path.is_absolute():
        path = Path(data_dir) / path
    return str(path)


def list_log_files(location: str) -> tuple[Any, list[str]]:
    """The filesystem and the sorted supported files under ``location`` (empty when absent)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(location)
    try:
        if not fs.exists(root):
            return fs, []
        if fs.isfile(root):
            paths = [root]
        else:
            paths = list(fs.find(root))
    except FileNotFoundError:
        return fs, []
    out = [p for p in paths if Path(p).suffix.lower() in SUPPORTED and not Path(p).name.startswith(".")]
    return fs, sorted(out)


def _display_url(fs: Any, path: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else f"{protocol}://{path.lstrip('/')}"


# --- parsing -----------------------------------------------------------------------------------

Parsed = tuple[int, str, Any]  # (line number, raw text, record or None when malformed)


def parse_jsonl(data: bytes, first_line: int = 1) -> Iterator[Parsed]:
    for number, raw in enumerate(data.split(b"\n"), start=first_line):
        if not raw.strip():
            continue
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        yield number, text, record if isinstance(record, dict) else None


def parse_csv(data: bytes) -> Iterator[Parsed]:
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error:
        yield 1, text[:200], None
        return
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield reader.line_num, "(unparseable CSV row)", None
            continue
        if not values or all(v == "" for v in values):
            continue
        buffer = io.StringIO()
        csv.writer(buffer).writerow(values)
        raw = buffer.getvalue().rstrip("\r\n")
        if len(values) != len(header):
            yield reader.line_num, raw, None
            continue
        yield reader.line_num, raw, {k: (v if v != "" else None) for k, v in zip(header, values, strict=True)}


def parse_parquet(data: bytes) -> Iterator[Parsed]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - corrupt file: quarantine one row that says so
        yield 0, f"(unreadable Parquet file: {type(exc).__name__}: {exc})", None
        return
    number = 0
    for batch in table.to_batches(max_chunksize=65_536):
        for record in batch.to_pylist():
            number += 1
            yield number, json.dumps(record, default=str), record


def parse(kind: str, data: bytes, first_line: int = 1) -> Iterator[Parsed]:
    if kind == "jsonl":
        return parse_jsonl(data, first_line)
    if kind == "csv":
        return parse_csv(data)
    return parse_parquet(data)


# --- one file ----------------------------------------------------------------------------------


def _rows_to_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.table(
        {f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema}, schema=schema
    )


def part_name(checksum: str) -> str:
    """Deterministic part-file name of a source file's content (see the module docstring)."""
    return f"part-{checksum[:24]}"


def process_file(
    settings: Any,
    spec: ModelSpec,
    url: str,
    data: bytes,
    checksum: str,
    vctx: ValidationContext,
    *,
    offset: int = 0,
    first_line: int = 1,
) -> tuple[FileResult, list[str]]:
    """Validate ``data`` and write its store parts and quarantine file (not the ledger)."""
    kind = SUPPORTED[Path(url).suffix.lower()]
    if kind == "csv":
        vctx = dataclasses.replace(vctx, text_values=True)
    schema = store_schema(spec)
    good: list[dict[str, Any]] = []
    bad: list[QuarantinedRow] = []
    reasons: Counter[str] = Counter()
    read = 0
    for number, raw, record in parse(kind, data[offset:], first_line):
        read += 1
        if record is None:
            reason = MALFORMED
        else:
            try:
                row = validate_record(record, vctx)
            except Invalid as exc:
                reason = exc.reason
            else:
                row["source_file"] = url
                good.append(row)
                continue
        reasons[reason] += 1
        bad.append(QuarantinedRow(url, number, reason, raw))
    name = part_name(checksum)
    written = write_partitioned(settings.logstore_dir, spec.name, _rows_to_table(good, schema), name)
    q = write_quarantine(settings.quarantine_dir, spec.name, bad, name, datetime.now(UTC))
    paths = [str(p) for p in written] + ([str(q)] if q else [])
    assert read == len(good) + len(bad)
    return FileResult(url, checksum, read, len(good), len(bad), dict(reasons), offset > 0), paths


def _commit_ledger(
    engine: Any,
    model: str,
    result: FileResult,
    size: int,
    offset: int,
    parts: list[str],
    job_run_id: int | None,
) -> bool:
    """Record the ingested file; False when a concurrent run recorded it first."""
    from monitoring.logs.tables import IngestedFile

    try:
        with session_scope(engine) as session:
            session.add(
                IngestedFile(
                    model=model,
                    url=result.url,
                    checksum=result.checksum,
                    size=size,
                    offset=offset,
                    rows_read=result.rows_read,
                    rows_stored=result.rows_stored,
                    rows_quarantined=result.rows_quarantined,
                    reasons=result.reasons,
                    parts=parts,
                    ingested_at=datetime.now(UTC),
                    job_run_id=job_run_id,
                )
            )
        return True
    except IntegrityError:
        return False


def known_versions(ctx: Any, spec: ModelSpec) -> tuple[frozenset[str] | None, str]:
    """Versions the registry knows, or None (accept any) with a note when it does not answer."""
    try:
        from governance.registry import ModelRegistry

        versions = ModelRegistry(ctx.settings.mlflow_tracking_uri).list_versions(spec.registered_model)
        return frozenset(str(v.version) for v in versions), ""
    except Exception as exc:  # noqa: BLE001
        return None, (
            f"model registry did not answer ({type(exc).__name__}: {exc}); versions were not checked"
        )


def ingest_model(
    ctx: Any, actor: Actor, model: str, *, path: str | None = None, versions: Iterable[str] | None = None
) -> IngestResult:
    """Ingest the new log files of ``model`` (from ``path`` when given, else its configured logs).

    ``versions`` overrides the registry's version list (tests, offline use). Checks
    ``ingest.run``, records a job run ``ingest`` and writes an audit entry.
    """
    from core.runs import record_run
    from governance.rbac import require

    spec = ctx.models.get(model)
    require(ctx, actor, "ingest.run", model)
    location = resolve_location(ctx.settings.data_dir, path or spec.logs)
    result = IngestResult(model=model, location=location)
    try:
        with record_run(ctx.engine, "ingest", model=model, actor=actor.username) as run:
            if versions is not None:
                vset, note = frozenset(str(v) for v in versions), ""
            else:
                vset, note = known_versions(ctx, spec)
            if note:
                result.notes.append(note)
                log.warning("%s: %s", model, note)
            vctx = ValidationContext(spec=spec, known_versions=vset)
            _ingest_location(ctx, spec, location, vctx, result, run.id)
            run.details = result.details()
            run.message = result.line()
    except Exception as exc:
        ctx.audit.append(
            actor,
            "ingest.run",
            model,
            "failed",
            reason=f"{type(exc).__name__}: {exc}",
            details=result.details(),
        )
        raise
    ctx.audit.append(actor, "ingest.run", model, "success", details=result.details())
    return result


def remove_stale_temporaries(settings: Any, model: str, *, older_than_s: float = 3600.0) -> int:
    """Delete hidden ``.*.tmp`` files of interrupted writes (older than ``older_than_s``)."""
    import time

    from monitoring.logs.quarantine import model_quarantine_dir
    from monitoring.logs.schema import model_store_dir

    removed = 0
    cutoff = time.time() - older_than_s
    for root in (
        model_store_dir(settings.logstore_dir, model),
        model_quarantine_dir(settings.quarantine_dir, model),
    ):
        if not root.is_dir():
            continue
        for tmp in root.rglob(".*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


def _ingest_location(
    ctx: Any, spec: ModelSpec, location: str, vctx: ValidationContext, result: IngestResult, run_id: int
) -> None:
    from monitoring.logs.tables import IngestedFile

    removed = remove_stale_temporaries(ctx.settings, spec.name)
    if removed:
        result.notes.append(f"removed {removed} temporary file(s) left by an interrupted run")
    fs, paths = list_log_files(location)
    result.files_seen = len(paths)
    for path in paths:
        url = _display_url(fs, path)
        data = fs.cat_file(path)
        checksum = hashlib.sha256(data).hexdigest()
        with session_scope(ctx.engine) as session:
            done = session.scalar(
                select(IngestedFile.id).where(
                    IngestedFile.model == spec.name, IngestedFile.checksum == checksum
                )
            )
            previous = session.scalars(
                select(IngestedFile)
                .where(IngestedFile.model == spec.name, IngestedFile.url == url)
                .order_by(desc(IngestedFile.size), desc(IngestedFile.id))
                .limit(1)
            ).first()
            prev_size = previous.size if previous else None
            prev_checksum = previous.checksum if previous else None
        if done is not None:
            result.files_skipped += 1
            continue
        offset, first_line = 0, 1
        if prev_size is not None:
            kind = SUPPORTED[Path(path).suffix.lower()]
            grew = (
                kind == "jsonl"
                and len(data) > prev_size
                and hashlib.sha256(data[:prev_size]).hexdigest() == prev_checksum
            )
            if not grew:
                result.files_skipped += 1
                result.files_changed.append(url)
                log.warning(
                    "%s: %s changed after it was ingested; skipped to avoid duplicate rows", spec.name, url
                )
                continue
            offset, first_line = prev_size, data[:prev_size].count(b"\n") + 1
        file_result, parts = process_file(
            ctx.settings, spec, url, data, checksum, vctx, offset=offset, first_line=first_line
        )
        if _commit_ledger(ctx.engine, spec.name, file_result, len(data), offset, parts, run_id):
            result.add(file_result)
        else:
            result.files_skipped += 1


def ingest_all(
    ctx: Any, actor: Actor, models: Iterable[str] | None = None, *, path: str | None = None
) -> list[IngestResult]:
    """:func:`ingest_model` for each named (default: every configured) model."""
    names = list(models) if models is not None else ctx.models.names
    return [ingest_model(ctx, actor, name, path=path) for name in names]
