"""The Parquet log store: layout, staged writes and their publication, windowed reads
(pyarrow.dataset).

Layout (see monitoring.logs.schema): ``<logstore>/model=<name>/date=YYYY-MM-DD/<part>.parquet``,
where ``<logstore>`` is ``<data>/logstore`` or VIGIL_LOGSTORE_URL (a directory or any fsspec URL
such as ``s3://bucket/logstore``; core.storage). Writes follow core.storage's write-then-publish
rule; reads go through pyarrow with the location's filesystem (its native one for local disk).
Reads prune partitions by date before opening any file, then filter on the timestamp, so a
one-day window over a year of logs opens one or two directories. Files written under an older
feature list are read with the current schema (missing columns come back as nulls).

Every Parquet file this store writes carries page CRC checksums (``write_page_checksum``), so a
reader that verifies them notices bit rot. Ingestion writes its parts *staged*: a hidden
``.<name>.pending`` file that no reader opens, published (renamed to ``<name>``) only after the
ingest ledger row that lists it is committed (see monitoring.logs.ledger).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from core.config import ModelSpec
from core.settings import Settings
from core.storage import Location, logstore_location, split
from monitoring.logs.schema import (
    FEATURE_PREFIX,
    STORE_COLUMNS,
    feature_column,
    model_store_dir,  # noqa: F401  (re-exported)
)

TS_TYPE = pa.timestamp("us", tz="UTC")
DEFAULT_BATCH_ROWS = 65_536
STAGED_SUFFIX = ".pending"


def _arrow_type(name: str) -> pa.DataType:
    return {"string": pa.string(), "double": pa.float64(), "int64": pa.int64()}.get(name, TS_TYPE)


def store_schema(spec: ModelSpec) -> pa.Schema:
    """The Arrow schema of a model's log store: STORE_COLUMNS plus one ``f_<feature>`` each."""
    fields = [pa.field(name, _arrow_type(kind)) for name, kind in STORE_COLUMNS.items()]
    for feat in spec.features:
        fields.append(
            pa.field(feature_column(feat.name), pa.float64() if feat.type == "numeric" else pa.string())
        )
    return pa.schema(fields)


def model_location(logstore: Path | str | Location, model: str) -> Location:
    """Where ``model``'s partitions lie (``model=<name>`` under the log store)."""
    return Location.of(logstore).child(f"model={model}")


def partition_dir(logstore: Path | str | Location, model: str, day: date) -> Path | str:
    """The address of ``model``'s partition for ``day`` (a Path when the store is local)."""
    loc = model_location(logstore, model).child(f"date={day.isoformat()}")
    return Path(loc.root) if loc.local else loc.url


def staged_path(target: Path | str) -> Path | str:
    """The hidden name a staged ``target`` (a path or URL) waits under until it is published."""
    if isinstance(target, Path):
        return target.parent / f".{target.name}{STAGED_SUFFIX}"
    parent, _, name = target.rpartition("/")
    return f"{parent}/.{name}{STAGED_SUFFIX}"


def final_path(staged: Path | str) -> Path | str:
    """Inverse of :func:`staged_path`."""
    if isinstance(staged, Path):
        return staged.parent / staged.name[1 : -len(STAGED_SUFFIX)]
    parent, _, name = staged.rpartition("/")
    return f"{parent}/{name[1 : -len(STAGED_SUFFIX)]}"


def write_parquet_atomic(table: pa.Table, target: Path | str, *, staged: bool = False,
                         **options: Any) -> Path | str:
    """Write ``table`` to ``target`` (a path or URL) so that readers see no file or the whole
    file (core.storage's write-then-publish rule; a killed local write leaves only a ``.*.tmp``
    that ingestion clears). With ``staged`` it is published under :func:`staged_path` instead,
    for :func:`publish` to finish. Returns ``target``."""
    options.setdefault("write_page_checksum", True)
    loc, path = split(target)
    published = str(staged_path(path)) if staged else path
    loc.write_with(published, lambda handle: pq.write_table(table, handle, **options))
    return target


def publish(targets: Sequence[str | Path]) -> int:
    """Move each staged target into place (idempotent: done ones are left); returns moves."""
    moved = 0
    for target in targets:
        loc, path = split(target)
        if loc.move(str(staged_path(path)), path):
            moved += 1
    return moved


def _partitions(loc: Location) -> list[str]:
    return sorted(name for name in loc.listdir() if name.startswith("date="))


def _part_files(loc: Location, partition: str) -> list[str]:
    folder = loc.join(partition)
    return [loc.join(partition, name) for name in loc.listdir(folder)
            if name.endswith(".parquet") and not name.startswith(".")]


def _newest_partitions(settings: Settings, model: str) -> Iterator[tuple[Location, list[str]]]:
    """The Parquet files of each date partition of ``model``, newest date first."""
    loc = model_location(logstore_location(settings), model)
    for part in reversed(_partitions(loc)):
        files = _part_files(loc, part)
        if files:
            yield loc, files


def partition_days(settings: Settings, model: str) -> list[date]:
    """The UTC dates that have a partition of ``model``, oldest first."""
    days = []
    for part in _partitions(model_location(logstore_location(settings), model)):
        try:
            days.append(date.fromisoformat(part[5:]))
        except ValueError:
            continue
    return days


def write_partitioned(
    logstore: Path | str | Location, model: str, table: pa.Table, part_name: str, *, staged: bool = False
) -> list[Path | str]:
    """Write ``table`` split by UTC date as ``date=D/<part_name>.parquet``, atomically per file.

    Each file is written to a hidden temporary name in its partition and renamed into place,
    so readers (which skip hidden files) never see a partial file. The same ``part_name``
    overwrites the same files, which makes a repeated write of the same input idempotent.
    With ``staged`` the files wait under their hidden staged names (see :func:`publish`).
    """
    if table.num_rows == 0:
        return []
    days = pc.strftime(table.column("timestamp"), format="%Y-%m-%d")
    written: list[Path | str] = []
    for day in sorted(set(days.to_pylist())):
        part = table.filter(pc.equal(days, day))
        folder = partition_dir(logstore, model, date.fromisoformat(day))
        name = f"{part_name}.parquet"
        target = folder / name if isinstance(folder, Path) else f"{folder}/{name}"
        write_parquet_atomic(part, target, staged=staged, compression="zstd")
        written.append(target)
    return written


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _spec(settings: Settings, model: str) -> ModelSpec | None:
    """The model's spec from the configured YAML (None when not configured or unreadable)."""
    try:
        path = Path(settings.config_file)
        return _load_config(str(path), path.stat().st_mtime).get(model)
    except Exception:  # noqa: BLE001
        return None


@functools.lru_cache(maxsize=8)
def _load_config(path: str, _mtime: float):  # type: ignore[no-untyped-def]
    from core.config import load_models_config

    return load_models_config(path)


def _files(loc: Location, start: datetime | None, end: datetime | None) -> list[str]:
    first = _as_utc(start).date() if start else None
    last = _as_utc(end).date() if end else None
    files: list[str] = []
    for part in _partitions(loc):
        try:
            day = date.fromisoformat(part[5:])
        except ValueError:
            continue
        if (first and day < first) or (last and day > last):
            continue
        files.extend(sorted(_part_files(loc, part)))
    return files


def _dataset(
    settings: Settings,
    model: str,
    start: datetime | None,
    end: datetime | None,
    spec: ModelSpec | None = None,
) -> ds.Dataset | None:
    loc = model_location(logstore_location(settings), model)
    files = _files(loc, start, end)
    if not files:
        return None
    spec = spec or _spec(settings, model)
    if spec is not None:
        schema = store_schema(spec)
    else:  # unknown configuration: take the newest file's schema
        schema = pq.read_schema(files[-1], filesystem=loc.arrow_filesystem())
    return ds.dataset(files, schema=schema, format="parquet", filesystem=loc.arrow_filesystem())


def _filter(start: datetime | None, end: datetime | None) -> ds.Expression | None:
    expr = None
    if start is not None:
        expr = ds.field("timestamp") >= pa.scalar(_as_utc(start), type=TS_TYPE)
    if end is not None:
        cond = ds.field("timestamp") < pa.scalar(_as_utc(end), type=TS_TYPE)
        expr = cond if expr is None else (expr & cond)
    return expr


def _columns(dataset: ds.Dataset, columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    names = set(dataset.schema.names)
    missing = [c for c in columns if c not in names]
    if missing:
        from core.errors import InvalidInput

        raise InvalidInput(f"log store has no column(s) {', '.join(missing)}")
    return list(columns)


def read_window(
    settings: Settings,
    model: str,
    start: datetime,
    end: datetime,
    columns: Sequence[str] | None = None,
    *,
    spec: ModelSpec | None = None,
) -> pa.Table:
    """Rows of ``model`` with ``start <= timestamp < end`` (feature columns ``f_<name>``)."""
    dataset = _dataset(settings, model, start, end, spec)
    if dataset is None:
        schema = store_schema(spec) if spec is not None else None
        if schema is None:
            found = _spec(settings, model)
            schema = store_schema(found) if found else pa.schema([pa.field("timestamp", TS_TYPE)])
        if columns is not None:
            schema = pa.schema(
                [schema.field(c) if c in schema.names else pa.field(c, pa.null()) for c in columns]
            )
        return schema.empty_table()
    return dataset.to_table(columns=_columns(dataset, columns), filter=_filter(start, end))


def iter_window_batches(
    settings: Settings,
    model: str,
    start: datetime,
    end: datetime,
    columns: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    *,
    spec: ModelSpec | None = None,
    version: str | None = None,
) -> Iterator[pa.RecordBatch]:
    """The rows of :func:`read_window` as record batches of at most ``batch_rows`` rows;
    ``version``: only the requests that this model version served."""
    dataset = _dataset(settings, model, start, end, spec)
    if dataset is None:
        return
    where = _filter(start, end)
    if version is not None:
        where = (ds.field("version") == str(version)) & where  # type: ignore[operator]
    scanner = dataset.scanner(
        columns=_columns(dataset, columns), filter=where, batch_size=batch_rows
    )
    for batch in scanner.to_batches():
        if batch.num_rows:
            yield batch


def latest_timestamp(settings: Settings, model: str) -> datetime | None:
    """The newest stored timestamp of ``model`` (reads only the newest date partition)."""
    for loc, files in _newest_partitions(settings, model):
        table = ds.dataset(files, format="parquet", filesystem=loc.arrow_filesystem()).to_table(
            columns=["timestamp"]
        )
        newest = pc.max(table.column("timestamp")).as_py()
        if newest is not None:
            return _as_utc(newest)
    return None


def find_request(settings: Settings, model: str, request_id: str) -> dict[str, Any] | None:
    """The stored record of one request (newest partitions first), or None."""
    for loc, files in _newest_partitions(settings, model):
        table = ds.dataset(files, format="parquet", filesystem=loc.arrow_filesystem()).to_table(
            filter=ds.field("request_id") == request_id
        )
        if table.num_rows:
            row = table.slice(table.num_rows - 1, 1).to_pylist()[0]
            feats = {k[len(FEATURE_PREFIX) :]: row.pop(k) for k in list(row) if k.startswith(FEATURE_PREFIX)}
            row["features"] = feats
            return row
    return None


def window_days(start: datetime, end: datetime) -> list[date]:
    """The UTC dates a window touches (for callers that report partition counts)."""
    day, last, out = _as_utc(start).date(), _as_utc(end).date(), []
    while day <= last:
        out.append(day)
        day += timedelta(days=1)
    return out


def has_stored_logs(logstore: Path | str | Location, model: str) -> bool:
    """Whether ``model`` has at least one published Parquet part in the store."""
    loc = model_location(logstore, model)
    return any(_part_files(loc, part) for part in _partitions(loc))


def duckdb_source(con: Any, logstore: Path | str | Location, model: str) -> str:
    """DuckDB's ``read_parquet(...)`` over ``model``'s partitions for the connection ``con``;
    an object store's fsspec filesystem is registered on ``con`` first, so the same SQL reads
    local disk and ``s3://`` alike (hidden staged parts never match the glob)."""
    loc = model_location(logstore, model)
    if not loc.local and not any(p in con.list_filesystems() for p in _protocols(loc.fs)):
        con.register_filesystem(loc.fs)
    glob = loc.address(loc.join("date=*", "*.parquet")).replace("'", "''")
    return f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"


def _protocols(fs: Any) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)

