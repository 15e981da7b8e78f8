"""File mode: compare two Parquet or CSV files with no configuration, database or MLflow.

The reference is read one column at a time and fitted into a ReferenceProfile; the current file
is streamed in record batches (``ParquetFile.iter_batches`` / ``pyarrow.csv.open_csv``), so
memory stays bounded by the batch size plus the exact-sample cap. Columns listed as categorical
are read as strings; every other column must be numeric, otherwise the error names the file and
the column.

Empty inputs: a reference without rows (or a zero-byte reference) is bad input (InvalidInput,
exit 2); a current file without rows, zero-byte included, is compared and reported with
``status: "no_data"`` (``compare``), never as "no drift". Missing values read the same from
every format: CSV's empty field is null in numeric columns (pyarrow's default null spellings)
and the empty string is missing in categorical ones (``stats.is_missing``), as a Parquet null is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, ServiceUnavailable
from monitoring.drift import stats
from monitoring.drift.compare import DEFAULT_MIN_EFFECT_KS, compare
from monitoring.drift.results import DriftReport
from monitoring.drift.stats import value_counts
from monitoring.drift.profile import CategoricalProfile, FeatureProfile, ReferenceProfile, fit_numeric

#: File mode keeps up to this many values per side for exact KS (scipy-equal); beyond it, the
#: histogram KS with its error bound. Larger than the cron default so ad-hoc files stay exact.
FILE_MODE_EXACT_CAP = 1_000_000
BATCH_VALUES = 8_000_000  # values per current batch (about 64 MB of float64)

REPO_ROOT = Path(__file__).resolve().parents[2]
ALIBI_HELP = (
    "the alibi-detect environment is missing. alibi-detect is under the Business Source License 1.1 "
    "(production use needs a commercial licence from Seldon) and pins numpy<2, so Vigil keeps it out of "
    "its own environment. Create it with:\n"
    "  python3.11 -m venv .venv-alibi && .venv-alibi/bin/pip install -r requirements-alibi.txt\n"
    "or point VIGIL_ALIBI_PYTHON at a Python that has alibi-detect 0.13 and torch."
)


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise InvalidInput(f"{path}: unsupported file type (use .parquet or .csv)")


def _check(path: Path) -> Path:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    return path


def _csv_options(categorical: Sequence[str]) -> Any:
    import pyarrow as pa
    from pyarrow import csv

    return csv.ConvertOptions(column_types={c: pa.string() for c in categorical})


def read_schema(path: Path, categorical: Sequence[str]) -> Any:
    import pyarrow as pa

    try:
        if _kind(path) == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).schema_arrow
        from pyarrow import csv

        with csv.open_csv(path, convert_options=_csv_options(categorical)) as reader:
            return reader.schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path}: cannot read ({exc})") from None


def _check_numeric(path: Path, schema: Any, numeric: Sequence[str]) -> None:
    import pyarrow as pa

    t = pa.types
    for name in numeric:
        typ = schema.field(name).type
        if not (t.is_integer(typ) or t.is_floating(typ) or t.is_boolean(typ) or t.is_decimal(typ)
                or t.is_null(typ)):
            raise InvalidInput(f"{path}: column {name!r} is {typ}, not numeric; "
                               f"list it in --categorical if it is a category")


def _empty_reference(path: Path) -> InvalidInput:
    return InvalidInput(f"{path}: the reference has no rows; give a reference file with data")


def fit_reference(path: Path, categorical: Sequence[str] = (), *, bins: int = 10,
                  exact_cap: int = FILE_MODE_EXACT_CAP) -> ReferenceProfile:
    """Fit a ReferenceProfile on every column of a Parquet or CSV file (InvalidInput if it has no rows)."""
    path = _check(Path(path))
    if _kind(path) and path.stat().st_size == 0:
        raise _empty_reference(path)
    schema = read_schema(path, categorical)
    missing = [c for c in categorical if c not in schema.names]
    if missing:
        raise InvalidInput(f"{path}: --categorical names columns that are not in the file: {missing}")
    numeric = [c for c in schema.names if c not in set(categorical)]
    _check_numeric(path, schema, numeric)
    categorical_set = set(categorical)
    names = numeric + [c for c in schema.names if c in categorical_set]

    def fit_column(name: str, col: Any) -> FeatureProfile:
        if name in categorical_set:
            counts, missing_n = value_counts(col)
            return CategoricalProfile(name, sum(counts.values()), missing_n, dict(sorted(counts.items())))
        return fit_numeric(name, col, exact_cap=exact_cap, bins=bins)

    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(path).metadata.num_rows
        if rows == 0:
            raise _empty_reference(path)
        # read a group of columns at a time (Arrow decodes them in parallel), fit, drop
        group = max(1, BATCH_VALUES * 2 // max(1, rows))
        feats = []
        with ThreadPoolExecutor(max(1, min(len(names), os.cpu_count() or 1))) as pool:
            for start in range(0, len(names), group):
                chunk = names[start:start + group]
                # ParquetFile.read, not read_table: read_table imports pyarrow.dataset (~0.8 s)
                table = pq.ParquetFile(path).read(columns=chunk)
                feats += list(pool.map(lambda n, t=table: fit_column(n, t.column(n)), chunk))
                del table
    else:
        from pyarrow import csv

        table = csv.read_csv(path, convert_options=_csv_options(categorical))
        rows = table.num_rows
        if rows == 0:
            raise _empty_reference(path)
        feats = [fit_column(n, table.column(n)) for n in names]
    return ReferenceProfile.from_features(feats, rows, exact_cap=exact_cap, bins=bins)


def iter_current(path: Path, columns: Sequence[str], categorical: Sequence[str] = (),
                 *, batch_rows: int | None = None) -> Iterator[Any]:
    """Record batches of ``columns`` from a Parquet or CSV file, checked against the schema; none
    from a zero-byte file (no rows: the comparison reports ``no_data``)."""
    path = _check(Path(path))
    if _kind(path) and path.stat().st_size == 0:
        return
    schema = read_schema(path, categorical)
    absent = [c for c in columns if c not in schema.names]
    if absent:
        raise InvalidInput(f"{path}: columns of the reference are missing here: {absent}")
    _check_numeric(path, schema, [c for c in columns if c not in set(categorical)])
    rows = batch_rows or max(65_536, BATCH_VALUES // max(1, len(columns)))
    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path, pre_buffer=False)
        meta = pf.metadata
        biggest = max((meta.row_group(i).num_rows for i in range(meta.num_row_groups)), default=0)
        if biggest * len(columns) <= 4 * BATCH_VALUES:
            # one row group at a time: memory stays at one decoded group (iter_batches read ahead
            # and grew to the size of the file in pyarrow 25)
            for i in range(meta.num_row_groups):
                group = pf.read_row_group(i, columns=list(columns))
                yield from group.to_batches(max_chunksize=rows)
                del group
        else:
            yield from pf.iter_batches(batch_size=rows, columns=list(columns))
        return
    from pyarrow import csv

    with csv.open_csv(path, convert_options=_csv_options(categorical),
                      read_options=csv.ReadOptions(block_size=1 << 26)) as reader:
        for batch in reader:
            yield batch.select(list(columns))


def _needs_scipy_stats(reference: Path, current: Path, categorical: Sequence[str]) -> bool:
    """Whether the comparison will need scipy.stats: for chi-square, for the exact KS of small
    samples, and when the row counts are unknown (CSV); ``stats.ks_pvalue_needs_scipy_stats``
    decides for the row counts in the Parquet footers."""
    if categorical or _kind(reference) != "parquet" or _kind(current) != "parquet":
        return True
    try:
        import pyarrow.parquet as pq

        n1, n2 = (pq.ParquetFile(p).metadata.num_rows for p in (reference, current))
    except Exception:  # unreadable files are reported by the readers, with the file's name
        return True
    return stats.ks_pvalue_needs_scipy_stats(n1, n2)


def compare_files(reference: Path, current: Path, *, categorical: Sequence[str] = (), bins: int = 10,
                  alpha: float = 0.05, correction: str = "bh", min_effect_ks: float = DEFAULT_MIN_EFFECT_KS,
                  min_effect_psi: float = 0.1, exact_cap: int = FILE_MODE_EXACT_CAP) -> DriftReport:
    if _needs_scipy_stats(Path(reference), Path(current), categorical):
        import threading

        # scipy.stats takes 0.6-0.8 s to import; let it load while Arrow reads the files
        threading.Thread(target=lambda: __import__("scipy.stats"), daemon=True).start()
    profile = fit_reference(Path(reference), categorical, bins=bins, exact_cap=exact_cap)
    batches = iter_current(Path(current), profile.names, categorical)
    return compare(profile, batches, alpha=alpha, correction=correction, min_effect_ks=min_effect_ks,
                   min_effect_psi=min_effect_psi)


def format_table(report: DriftReport) -> str:
    """A fixed-width text table, drifted features first, then by PSI."""
    def num(v: float | None, fmt: str = ".4g") -> str:
        return "-" if v is None else format(v, fmt)

    status = {"no_data": "NO DATA: the current data has no rows; nothing was compared",
              "quality_failed": "DATA QUALITY FAILED: no usable values in "
                                     + ", ".join(report.data_quality_failures)}.get(report.status)
    lines = [] if status is None else [status]
    lines += [(f"rows: reference {report.rows_reference}, current {report.rows_current}; "
             f"drifted {report.drifted_features} of {len(report.features)}; "
             f"dataset drift: {'yes' if report.dataset_drift else 'no'} "
             f"(alpha {report.alpha}, {report.correction})"),
             (f"{'feature':<28} {'kind':<11} {'KS':>8} {'KS p':>10} {'chi2 p':>10} {'PSI':>8} "
             f"{'adj p':>10} {'drift':>5} {'severity':<11} {'miss ref':>8} {'miss cur':>8} quality")]
    order = sorted(report.features, key=lambda f: (not f.drifted, -(f.psi or 0.0)))
    for f in order:
        lines.append(f"{f.feature[:28]:<28} {f.kind:<11} {num(f.ks_statistic):>8} {num(f.ks_pvalue):>10} "
                     f"{num(f.chi2_pvalue):>10} {num(f.psi):>8} {num(f.p_value_adjusted):>10} "
                     f"{'yes' if f.drifted else 'no':>5} {f.severity:<11} "
                     f"{num(f.missing_share_reference, '.3f'):>8} {num(f.missing_share_current, '.3f'):>8} "
                     f"{f.data_quality}")
    if report.max_ks_error_bound > 0:
        lines.append(f"KS on histograms: statistic error at most {report.max_ks_error_bound:.2g}")
    return "\n".join(lines)


def alibi_python() -> Path:
    from core.settings import Settings

    configured = Settings.from_env().alibi_python
    path = Path(configured) if configured else REPO_ROOT / ".venv-alibi" / "bin" / "python"
    if not path.exists():
        raise ServiceUnavailable(ALIBI_HELP)
    return path


def run_alibi(reference: Path, current: Path, detector: str, *, categorical: Sequence[str] = (),
              alpha: float = 0.05, timeout: float = 3600) -> dict[str, Any]:
    """Run the alibi-detect adapter (monitoring/drift/alibi.py) in its own environment."""
    python = alibi_python()
    cmd = [str(python), str(REPO_ROOT / "monitoring" / "drift" / "alibi.py"), "--reference", str(reference),
           "--current", str(current), "--detector", detector, "--alpha", str(alpha)]
    if categorical:
        cmd += ["--drop", ",".join(categorical)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ServiceUnavailable(f"alibi-detect adapter did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        if proc.returncode == 2:
            raise InvalidInput(f"alibi-detect adapter: {tail[0]}")
        raise ServiceUnavailable(f"alibi-detect adapter failed (exit {proc.returncode}): {tail[0]}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        print(proc.stderr, file=sys.stderr)
        raise ServiceUnavailable("alibi-detect adapter printed no JSON") from None
