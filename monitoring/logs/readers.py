"""Turning a log file's bytes into validated rows: JSONL, CSV and Parquet parsers and the
:class:`PartWriter` that writes rows to staged store parts and quarantine files in batches.

Used by monitoring.logs.ingest, which decides *which* bytes to read. Rows are held at most
``batch_rows`` at a time: each full batch becomes a staged part in the log store or the
quarantine (wherever core.storage puts them: local disk or an object store). Here a line that is not
UTF-8 or is too long is quarantined with that reason, and a Parquet file is read with page
checksums verified (a mismatch raises :class:`CorruptParquet`, the caller quarantines the file
whole with :func:`quarantine_whole`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from core.config import ModelSpec
from core.storage import logstore_location, quarantine_location, split
from monitoring.logs.quarantine import QuarantinedRow, model_quarantine_dir, write_quarantine
from monitoring.logs.sources import LogFile, RangeReader, iter_chunks
from monitoring.logs.store import staged_path, store_schema, write_partitioned
from monitoring.logs.validate import (
    MALFORMED,
    NOT_UTF8,
    TOO_LONG,
    Invalid,
    ValidationContext,
    validate_record,
)


class PartWriter:
    """Validated rows in, staged store parts and quarantine files out, ``batch_rows`` at a time."""

    def __init__(self, settings: Any, spec: ModelSpec, url: str, checksum: str, batch_rows: int,
                 on_batch: Callable[[], None] = lambda: None):
        self.settings, self.spec, self.url = settings, spec, url
        self.logstore, self.quarantine = logstore_location(settings), quarantine_location(settings)
        self.on_batch = on_batch  # keeps the ingest lock's lease fresh during a long file
        self.base = f"part-{checksum[:24]}"
        self.batch_rows = batch_rows
        self.schema = store_schema(spec)
        self.good: list[dict[str, Any]] = []
        self.bad: list[QuarantinedRow] = []
        self.parts: list[str] = []
        self.stored = self.quarantined = 0
        self.reasons: Counter[str] = Counter()
        self._n = 0
        self.ingested_at = datetime.now(UTC)

    def row(self, number: int, raw: str | Callable[[], str], record: Any, vctx: ValidationContext) -> None:
        """Store ``record`` or quarantine it; ``raw`` (its text, or a function making it) is only
        needed for a quarantined row, so readers whose rows are not text pass a function."""
        if record is None:
            self.reject(number, MALFORMED, raw)
            return
        try:
            row = validate_record(record, vctx)
        except Invalid as exc:
            self.reject(number, exc.reason, raw)
            return
        row["source_file"] = self.url
        self.good.append(row)
        self.stored += 1
        if len(self.good) >= self.batch_rows:
            self._flush_good()

    def reject(self, number: int, reason: str, raw: str | Callable[[], str], *, count: int = 1) -> None:
        self.bad.append(QuarantinedRow(self.url, number, reason, raw() if callable(raw) else raw))
        self.quarantined += count
        self.reasons[reason] += count
        if len(self.bad) >= self.batch_rows:
            self._flush_bad()

    def _name(self) -> str:
        self._n += 1
        return f"{self.base}-{self._n:05d}"

    def _flush_good(self) -> None:
        self.on_batch()
        if self.good:
            table = pa.table(
                {f.name: pa.array([r.get(f.name) for r in self.good], type=f.type) for f in self.schema},
                schema=self.schema,
            )
            written = write_partitioned(self.logstore, self.spec.name, table, self._name(), staged=True)
            self.parts.extend(str(p) for p in written)
            self.good = []

    def _flush_bad(self) -> None:
        if self.bad:
            q = write_quarantine(self.quarantine, self.spec.name, self.bad, self._name(), self.ingested_at,
                                 staged=True)
            if q is not None:
                self.parts.append(str(q))
            self.bad = []

    def keep_file(self, fs: Any, path: str) -> None:
        """Stage a copy of a whole source file next to the quarantine (corrupt Parquet)."""
        loc = model_quarantine_dir(self.quarantine, self.spec.name).child("files")
        target = loc.join(f"{self.base}.parquet")

        def copy(dst: Any) -> None:
            with fs.open(path, "rb") as src:
                for chunk in iter_chunks(src):
                    dst.write(chunk)

        loc.write_with(str(staged_path(target)), copy)
        self.parts.append(loc.address(target))

    def finish(self) -> list[str]:
        self._flush_good()
        self._flush_bad()
        return self.parts

    def discard(self) -> None:
        """Delete what was staged (only safe under the model's ingest lock)."""
        self.good, self.bad = [], []
        for part in self.parts:
            loc, path = split(part)
            loc.remove(str(staged_path(path)))
        self.parts = []
        self.stored = self.quarantined = 0
        self.reasons = Counter()


# --- parsing ------------------------------------------------------------------------------------


def _decode(line: Any, writer: PartWriter) -> str | None:
    """The line as text, or None after quarantining it (too long, not UTF-8)."""
    if line.too_long:
        writer.reject(line.number, TOO_LONG, line.data.decode("utf-8", errors="backslashreplace"))
        return None
    try:
        return line.data.decode("utf-8")
    except UnicodeDecodeError:
        writer.reject(line.number, NOT_UTF8, line.data.decode("utf-8", errors="backslashreplace"))
        return None


def read_jsonl(reader: RangeReader, writer: PartWriter, vctx: ValidationContext) -> None:
    for line in reader.lines():
        if not line.data.strip():
            continue
        text = _decode(line, writer)
        if text is None:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        writer.row(line.number, text, record if isinstance(record, dict) else None, vctx)


def read_csv(reader: RangeReader, writer: PartWriter, vctx: ValidationContext) -> None:
    vctx = dataclasses.replace(vctx, text_values=True)
    current = [0]

    def texts() -> Iterator[str]:
        for line in reader.lines():
            current[0] = line.number
            text = _decode(line, writer) if line.data.strip() else ""
            yield ("" if text is None else text) + "\n"

    source = texts()
    first = next(source, None)  # starts the reader, which reads the file's header line (reader.header)
    if first is None:
        return
    rows = csv.reader(itertools.chain([first], source))
    if reader.start > 0:
        header = next(csv.reader([(reader.header or b"").decode("utf-8", errors="replace")]), [])
    else:
        try:
            header = next(rows)
        except (StopIteration, csv.Error):  # empty input, or an unreadable header
            return
    while True:
        try:
            values = next(rows)
        except StopIteration:
            return
        except csv.Error:
            writer.row(current[0], "(unparseable CSV row)", None, vctx)
            continue
        if not values or all(v == "" for v in values):
            continue
        raw = functools.partial(_csv_line, values)  # made only for a quarantined row
        if len(values) != len(header):
            writer.row(current[0], raw, None, vctx)
            continue
        record = {k: (v if v != "" else None) for k, v in zip(header, values, strict=True)}
        writer.row(current[0], raw, record, vctx)


def _csv_line(values: list[str]) -> str:
    """A CSV row written back as one line of text (what the quarantine keeps of it)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().rstrip("\r\n")


class CorruptParquet(Exception):
    pass


class IncompleteFile(Exception):
    pass


def read_parquet(fs: Any, log_file: LogFile, writer: PartWriter, vctx: ValidationContext,
                 batch_rows: int) -> int:
    """Validate a Parquet file's rows with page checksums verified; returns its row count.
    Raises IncompleteFile (no readable footer: maybe still being written) or CorruptParquet."""
    import pyarrow.parquet as pq

    with fs.open(log_file.path, "rb") as handle:
        try:
            parquet = pq.ParquetFile(handle, page_checksum_verification=True)
        except Exception as exc:  # noqa: BLE001
            raise IncompleteFile(f"unreadable Parquet footer ({type(exc).__name__}: {exc})") from None
        total = parquet.metadata.num_rows
        number = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows):
                for record in batch.to_pylist():
                    number += 1
                    writer.row(number, functools.partial(json.dumps, record, default=str), record, vctx)
        except Exception as exc:  # noqa: BLE001 - CRC mismatch, bad page header, bad encoding
            raise CorruptParquet(f"{type(exc).__name__}: {exc}".strip()) from None
    return total


def quarantine_whole(fs: Any, log_file: LogFile, writer: PartWriter, checksum: str, error: str) -> int:
    """Quarantine a corrupt Parquet file as one unit (and keep a copy); returns its row count."""
    import pyarrow.parquet as pq

    try:
        with fs.open(log_file.path, "rb") as handle:
            rows = max(int(pq.ParquetFile(handle).metadata.num_rows), 1)
    except Exception:  # noqa: BLE001
        rows = 1
    reason = "corrupt Parquet file (page checksum verification failed)" if "checksum" in error.lower() \
        else "corrupt Parquet file"
    writer.keep_file(fs, log_file.path)
    writer.reject(0, reason, f"(whole file quarantined: {rows} rows, sha256 {checksum}; {error})"[:2000],
                  count=rows)
    return rows
