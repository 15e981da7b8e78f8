"""Ingestion of inference-log files into the Parquet log store, with quarantine.

For each configured model, :func:`ingest_model` lists the log files under the model's ``logs``
location (a directory relative to the data directory, or any fsspec URL; see
monitoring.logs.sources), validates every row (:mod:`monitoring.logs.validate`) and writes valid
rows to the log store and invalid rows to the quarantine store (local directories or an object
store such as S3: core.storage). The promise: every row read is stored or quarantined, exactly
once.

- **Only complete lines.** A JSONL/CSV file is consumed up to its last newline; a line its
  writer has not finished waits for the next run. (Compressed files are complete, so their last
  line counts without a newline.)
- **Resume by content.** Each file is hashed once; the ledger's largest consumed prefix whose
  checksum equals the file's own prefix is where reading resumes (monitoring.logs.tables). A
  grown file yields only its new lines; a truncated, rotated or rewritten one (copytruncate)
  is read from its start; ``x.jsonl.1`` / ``x.jsonl.2.gz`` holding ingested content add only
  what was not read yet.
- **One run per model** (monitoring.logs.ledger's lock): a second concurrent run waits, then
  finds nothing new.
- **Nothing half-done is visible.** Rows are validated and written in batches (bounded memory)
  as hidden staged parts; the ledger row and its ``ingest.file`` audit entry commit in one
  transaction; then the parts are renamed into place. A run killed at any point leaves either
  no ledger row and staged files that the next run deletes, or a ledger row whose staged parts
  the next run publishes.
- **Corrupt Parquet** (page CRC mismatch) is quarantined whole, with the reason; non-UTF-8
  lines are quarantined (``not valid UTF-8``); unreadable or unsupported files are listed as
  skipped with their reason; a remote location that does not answer is ServiceUnavailable.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.actor import Actor
from core.config import ModelSpec
from core.errors import ServiceUnavailable
from core.storage import logstore_location, protocol_of, quarantine_location
from monitoring.logs.ledger import (
    IngestLockHandle,
    commit_ingestion,
    ingest_lock,
    last_consumed,
    ledger_sizes,
    recover_staged,
)
from monitoring.logs.quarantine import model_quarantine_dir
from monitoring.logs.readers import (
    CorruptParquet,
    IncompleteFile,
    PartWriter,
    quarantine_whole,
    read_csv,
    read_jsonl,
    read_parquet,
)
from monitoring.logs.sources import (
    LOCAL_PROTOCOLS,
    LogFile,
    RangeReader,
    fingerprint,
    iter_chunks,
    list_location,
    open_stream,
    redact_url,
)
from monitoring.logs.store import model_location, publish
from monitoring.logs.validate import ValidationContext

log = logging.getLogger("vigil.ingest")

BATCH_ROWS = 50_000
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class FileResult:
    url: str
    checksum: str
    rows_read: int
    rows_stored: int
    rows_quarantined: int
    reasons: dict[str, int]


@dataclass
class IngestResult:
    model: str
    location: str
    files_seen: int = 0
    files_ingested: int = 0
    files_skipped: int = 0
    files_rotated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, reason): not read this run
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

    def skip(self, url: str, reason: str) -> None:
        self.files_skipped += 1
        self.skipped.append((url, reason))
        log.warning("%s: skipped %s: %s", self.model, url, reason)

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
            "files_rotated": self.files_rotated,
            "skipped": [f"{url}: {reason}" for url, reason in self.skipped],
            "rows_read": self.rows_read,
            "rows_stored": self.rows_stored,
            "rows_quarantined": self.rows_quarantined,
            "reasons": dict(self.reasons),
            "notes": self.notes,
        }


def resolve_location(data_dir: Path, logs: str) -> str:
    """A model's ``logs`` value as a URL: fsspec URLs as given, paths relative to the data dir."""
    if "://" in logs:
        return logs
    path = Path(logs).expanduser()
    if not path.is_absolute():
        path = Path(data_dir) / path
    return str(path)


# --- one file -----------------------------------------------------------------------------------


def _remote(fs: Any) -> bool:
    return protocol_of(fs) not in LOCAL_PROTOCOLS


def _read_failure(fs: Any, log_file: LogFile, exc: Exception, result: IngestResult) -> None:
    """A file that could not be read: skipped with the reason, or the remote store is down.
    Anything else from a local file (a bug, not the file) is raised."""
    import gzip
    import lzma
    import zlib

    decoding = isinstance(exc, (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)) or (
        log_file.compression == "zstd" and "compress" in str(exc).lower()  # pyarrow's zstd errors
    )
    if not (_remote(fs) or decoding or isinstance(exc, OSError)):
        raise exc
    if isinstance(exc, FileNotFoundError):
        result.skip(log_file.url, "vanished while it was read (rotated?); read on the next run")
    elif decoding or (log_file.compression and not _remote(fs)):
        result.skip(log_file.url, f"incomplete or corrupt {log_file.compression} stream "
                                  f"({type(exc).__name__}: {exc}); retried on the next run")
    elif _remote(fs):
        raise ServiceUnavailable(f"log file {log_file.url} could not be read: {type(exc).__name__}") from None
    else:
        result.skip(log_file.url, f"cannot be read ({type(exc).__name__}: {exc})")


def ingest_file(ctx: Any, actor: Actor, spec: ModelSpec, fs: Any, log_file: LogFile, vctx: ValidationContext,
                result: IngestResult, run_id: int | None, lock: IngestLockHandle, batch_rows: int,
                candidates: dict[int, set[str]]) -> None:
    """Ingest what is new in one file (see the module docstring). ``candidates`` is the model's
    ledger (consumed size -> checksums), updated here after each commit."""
    whole = log_file.kind == "parquet"
    try:
        with open_stream(fs, log_file) as stream:
            fp = fingerprint(iter_chunks(stream), list(candidates), final=log_file.final or whole)
    except Exception as exc:  # noqa: BLE001
        _read_failure(fs, log_file, exc, result)
        return
    matched = [s for s, sums in candidates.items() if s <= fp.end and fp.matches.get(s) in sums]
    if whole:
        matched = [s for s in matched if s == fp.end]
    resume = max(matched, default=0)
    if resume >= fp.end:
        result.files_skipped += 1
        if fp.length > fp.end:
            result.notes.append(f"{log_file.url}: an unterminated last line waits for its newline")
        return
    previous = last_consumed(ctx.engine, spec.name, log_file.url)
    if previous is not None and resume < previous:
        result.files_rotated.append(log_file.url)
        log.warning("%s: %s no longer starts with what was ingested (truncated, rotated or rewritten); "
                    "reading its new content", spec.name, log_file.url)
    writer = PartWriter(ctx.settings, spec, log_file.url, fp.checksum, batch_rows, lock.heartbeat)
    rows_read: int | None = None
    try:
        if whole:
            try:
                read_parquet(fs, log_file, writer, vctx, batch_rows)
            except CorruptParquet as exc:
                writer.discard()
                rows_read = quarantine_whole(fs, log_file, writer, fp.checksum, str(exc))
        else:
            with open_stream(fs, log_file) as stream:
                reader = RangeReader(iter_chunks(stream), resume, fp.end)
                (read_csv if log_file.kind == "csv" else read_jsonl)(reader, writer, vctx)
            expected_prefix = fp.matches.get(resume, EMPTY_SHA256)
            if (reader.length, reader.whole_digest, reader.prefix_digest) != (
                fp.end, fp.checksum, expected_prefix
            ):
                writer.discard()
                result.skip(log_file.url, "changed while it was read; read on the next run")
                return
        parts = writer.finish()
    except IncompleteFile as exc:
        writer.discard()
        result.skip(log_file.url, f"{exc}; retried on the next run")
        return
    except ServiceUnavailable:
        writer.discard()
        raise
    except Exception as exc:  # noqa: BLE001
        writer.discard()
        _read_failure(fs, log_file, exc, result)
        return
    rows_read = rows_read if rows_read is not None else writer.stored + writer.quarantined
    file_result = FileResult(log_file.url, fp.checksum, rows_read, writer.stored, rows_read - writer.stored,
                             dict(writer.reasons))
    row = {
        "model": spec.name, "url": log_file.url, "checksum": fp.checksum, "size": fp.end, "offset": resume,
        "rows_read": file_result.rows_read, "rows_stored": file_result.rows_stored,
        "rows_quarantined": file_result.rows_quarantined, "reasons": file_result.reasons, "parts": parts,
        "ingested_at": datetime.now(UTC), "job_run_id": run_id,
    }
    if commit_ingestion(ctx.engine, ctx.audit, actor, lock, row):
        candidates.setdefault(fp.end, set()).add(fp.checksum)
        publish(parts)
        result.add(file_result)
    else:  # the same content is already in the ledger; its staged parts are settled on recovery
        result.files_skipped += 1


# --- a model ------------------------------------------------------------------------------------


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
    ctx: Any,
    actor: Actor,
    model: str,
    *,
    path: str | None = None,
    versions: Iterable[str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> IngestResult:
    """Ingest what is new in the log files of ``model`` (from ``path`` when given, else its
    configured logs).

    ``versions`` overrides the registry's version list (tests, offline use). Goes through
    governance.runner.governed_run (``ingest.run`` checked, job run ``ingest`` recorded, timed,
    outcome audited with the counts so far), holds the model's ingest lock and writes one
    ``ingest.file`` audit entry per ledger row.
    """
    from governance.runner import governed_run

    spec = ctx.models.get(model)
    result = IngestResult(model=model, location=redact_url(path or str(spec.logs)))
    with governed_run(ctx, actor, "ingest.run", model, job="ingest") as run:
        try:
            location = resolve_location(ctx.settings.data_dir, path or spec.logs)
            result.location = redact_url(location)
            if versions is not None:
                vset, note = frozenset(str(v) for v in versions), ""
            else:
                vset, note = known_versions(ctx, spec)
            if note:
                result.notes.append(note)
                log.warning("%s: %s", model, note)
            vctx = ValidationContext(spec=spec, known_versions=vset)
            with ingest_lock(ctx.engine, model) as lock:
                _ingest_location(ctx, actor, spec, location, vctx, result, run.run_id, lock, batch_rows)
            run.message = result.line()
        finally:  # a failed run is audited with what it had done
            run.details = result.details()
            run.audit = result.details()
    return result


def _ingest_location(ctx: Any, actor: Actor, spec: ModelSpec, location: str, vctx: ValidationContext,
                     result: IngestResult, run_id: int, lock: IngestLockHandle, batch_rows: int) -> None:
    roots = [model_location(logstore_location(ctx.settings), spec.name),
             model_quarantine_dir(quarantine_location(ctx.settings), spec.name)]
    published, removed = recover_staged(ctx.engine, spec.name, roots)
    if published:
        result.notes.append(f"published {published} committed part file(s) an interrupted run left staged")
    if removed:
        result.notes.append(f"removed {removed} temporary file(s) left by an interrupted run")
    fs, files, skipped = list_location(location)
    result.files_seen = len(files) + len(skipped)
    if not result.files_seen:
        result.notes.append(f"no log files at {result.location} (missing or empty)")
    for url, reason in skipped:
        result.skip(url, reason)
    candidates = ledger_sizes(ctx.engine, spec.name)
    for log_file in files:
        lock.heartbeat()
        ingest_file(ctx, actor, spec, fs, log_file, vctx, result, run_id, lock, batch_rows, candidates)


def ingest_all(
    ctx: Any, actor: Actor, models: Iterable[str] | None = None, *, path: str | None = None
) -> list[IngestResult]:
    """:func:`ingest_model` for each named (default: every configured) model."""
    names = list(models) if models is not None else ctx.models.names
    return [ingest_model(ctx, actor, name, path=path) for name in names]
