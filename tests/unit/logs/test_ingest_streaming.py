"""Ingestion streams a file in bounded batches: its memory does not grow with the file.

tracemalloc counts what Python allocates while a file is ingested; a file ten times larger must
not need ten times the memory (a reader that loads whole files into lists would)."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta
from typing import Any

from monitoring.logs.ingest import ingest_model
from monitoring.logs.store import read_window
from tests.unit.logs.loghelpers import BASE, add_user, day_records, write_jsonl


def _peak_ingest(ctx: Any, op: Any, name: str, rows: int, start: int) -> tuple[int, int, int]:
    path = write_jsonl(ctx.settings.data_dir / "logs" / "diabetes" / f"{name}.jsonl",
                       day_records(BASE, rows, start_index=start))
    tracemalloc.start()
    try:
        result = ingest_model(ctx, op, "diabetes", versions=["1"], batch_rows=500)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result.rows_stored, peak, path.stat().st_size


def test_memory_does_not_grow_with_the_file(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    _peak_ingest(ctx, op, "warm-up", 200, 0)  # first-use caches (SQLAlchemy, pyarrow) out of the way
    stored_small, peak_small, _ = _peak_ingest(ctx, op, "small", 2_000, 10_000)
    stored_big, peak_big, size_big = _peak_ingest(ctx, op, "big", 20_000, 100_000)
    assert (stored_small, stored_big) == (2_000, 20_000)
    assert peak_big < size_big / 2  # the file is never held whole
    assert peak_big < 2 * peak_small  # ten times the rows, not ten times the memory
    assert read_window(ctx.settings, "diabetes", BASE, BASE + timedelta(days=1)).num_rows == 22_200
