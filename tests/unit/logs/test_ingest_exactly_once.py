"""Ingestion keeps its promise "rows in = stored + quarantined, exactly once" where files are
written, rotated, compressed or damaged the way production does it (issue 8, item 4)."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ServiceUnavailable
from monitoring.logs import ingest as ingest_mod
from monitoring.logs.ingest import ingest_model
from monitoring.logs.quarantine import quarantine_rows, quarantine_summary
from monitoring.logs.store import read_window
from tests.unit.logs.loghelpers import BASE, add_user, diabetes_record

LOGS = "logs/diabetes"
WEEK = BASE + timedelta(days=7)


def _line(i: int) -> bytes:
    return (json.dumps(diabetes_record(i, BASE + timedelta(seconds=i))) + "\n").encode()


def _stored_ids(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    return read_window(ctx.settings, "diabetes", BASE, WEEK, columns=["request_id"]).column(
        "request_id"
    ).to_pylist()


def _ingest(ctx, op, **kw):  # type: ignore[no-untyped-def]
    return ingest_model(ctx, op, "diabetes", versions=["1"], **kw)


def test_half_written_line_waits_for_its_newline(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    path = ctx.settings.data_dir / LOGS / "live.jsonl"
    path.parent.mkdir(parents=True)
    last = _line(15)
    path.write_bytes(b"".join(_line(i) for i in range(15)) + last[:40])  # the writer is mid-line
    first = _ingest(ctx, op)
    assert (first.rows_stored, first.rows_quarantined) == (15, 0)
    with open(path, "ab") as handle:
        handle.write(last[40:])
    second = _ingest(ctx, op)
    assert (second.rows_read, second.rows_stored, second.rows_quarantined) == (1, 1, 0)
    ids = _stored_ids(ctx)
    assert sorted(ids) == sorted(f"r{i}" for i in range(16))
    assert quarantine_summary(ctx.engine, "diabetes").rows_quarantined == 0


def test_copytruncate_rotation_reads_new_content_and_siblings_once(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    root = ctx.settings.data_dir / LOGS
    root.mkdir(parents=True)
    live = root / "app.jsonl"
    live.write_bytes(b"".join(_line(i) for i in range(500)))
    assert _ingest(ctx, op).rows_stored == 500
    with open(live, "ab") as handle:  # written after that run, before the rotation
        handle.write(b"".join(_line(i) for i in range(500, 550)))
    # logrotate copytruncate: copy to app.jsonl.1, truncate in place, the writer goes on
    shutil.copyfile(live, root / "app.jsonl.1")
    with open(live, "r+b") as handle:
        handle.truncate(0)
    with open(live, "ab") as handle:
        handle.write(b"".join(_line(i) for i in range(1000, 1550)))
    rotated = _ingest(ctx, op)
    assert (rotated.rows_stored, rotated.rows_quarantined) == (600, 0)
    assert live.as_posix() in rotated.files_rotated
    # the next rotation compresses app.jsonl.1 into app.jsonl.2.gz: the same content, not re-read
    with open(root / "app.jsonl.1", "rb") as src, gzip.open(root / "app.jsonl.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (root / "app.jsonl.1").unlink()
    again = _ingest(ctx, op)
    assert (again.rows_read, again.files_ingested) == (0, 0)
    ids = _stored_ids(ctx)
    expected = [f"r{i}" for i in [*range(550), *range(1000, 1550)]]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(expected)


def test_rotated_sibling_with_unread_tail_is_read_once_after_compression(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    root = ctx.settings.data_dir / LOGS
    root.mkdir(parents=True)
    body = b"".join(_line(i) for i in range(30))
    tail = _line(30).rstrip(b"\n")  # the writer never wrote the newline of its last record
    (root / "app.jsonl.1").write_bytes(body + tail)
    assert _ingest(ctx, op).rows_stored == 30
    with gzip.open(root / "app.jsonl.2.gz", "wb") as dst:
        dst.write(body + tail)
    (root / "app.jsonl.1").unlink()
    result = _ingest(ctx, op)
    assert (result.rows_read, result.rows_stored) == (1, 1)  # a compressed file is complete
    assert sorted(_stored_ids(ctx)) == sorted(f"r{i}" for i in range(31))


def test_corrupt_parquet_page_is_quarantined_whole(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    flat = []
    for i in range(400):
        rec = diabetes_record(i, BASE + timedelta(seconds=i))
        row = {k: v for k, v in rec.items() if k != "features"}
        row.update({f"f_{k}": v for k, v in rec["features"].items()})
        flat.append(row)
    table = pa.Table.from_pylist(flat)
    path = ctx.settings.data_dir / LOGS / "day.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, write_page_checksum=True, compression="NONE", use_dictionary=False)
    column = pq.ParquetFile(path).metadata.row_group(0).column(table.schema.get_field_index("f_bmi"))
    data = bytearray(path.read_bytes())
    middle = column.data_page_offset + column.total_compressed_size // 2  # inside the page's values
    data[middle : middle + 40] = bytes(range(7, 47))
    path.write_bytes(bytes(data))
    assert pq.read_table(path).num_rows == 400  # without verification the damage goes unnoticed

    result = _ingest(ctx, op)
    assert result.rows_stored == 0 and _stored_ids(ctx) == []
    assert result.rows_read == result.rows_quarantined == 400
    (reason,) = result.reasons
    assert "checksum" in reason
    rows = quarantine_rows(ctx.settings.quarantine_dir, "diabetes")
    assert list(rows["reason"]) == [reason] and "400 rows" in rows["raw"].iloc[0]
    kept = list((ctx.settings.quarantine_dir / "model=diabetes" / "files").glob("*.parquet"))
    assert [p.read_bytes() for p in kept] == [bytes(data)]  # the damaged file itself is kept
    assert _ingest(ctx, op).rows_read == 0  # quarantined once, not on every run


def test_store_parts_carry_page_checksums(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    path = ctx.settings.data_dir / LOGS / "a.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(_line(i) for i in range(300)))
    _ingest(ctx, op)
    (part,) = (ctx.settings.logstore_dir / "model=diabetes").rglob("*.parquet")
    meta = pq.ParquetFile(part).metadata.row_group(0)
    column = meta.column(meta.num_columns - 1)
    data = bytearray(part.read_bytes())
    start = column.dictionary_page_offset or column.data_page_offset
    middle = start + column.total_compressed_size // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    part.write_bytes(bytes(data))
    with pytest.raises(OSError, match="CRC"):
        pq.read_table(part, page_checksum_verification=True)


def test_non_utf8_line_is_quarantined_not_repaired(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    bad = _line(5).replace(b'"r5"', b'"r\xff\xfe5"')
    path = ctx.settings.data_dir / LOGS / "a.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(_line(i) for i in range(5)) + bad + _line(6))
    result = _ingest(ctx, op)
    assert (result.rows_stored, result.rows_quarantined) == (6, 1)
    assert dict(result.reasons) == {"not valid UTF-8": 1}
    assert sorted(_stored_ids(ctx)) == sorted(f"r{i}" for i in (0, 1, 2, 3, 4, 6))
    raw = quarantine_rows(ctx.settings.quarantine_dir, "diabetes")["raw"].iloc[0]
    assert "\\xff\\xfe" in raw  # the bytes are kept visibly, not replaced


def test_compressed_logs_are_read_and_unreadable_ones_listed(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    root = ctx.settings.data_dir / LOGS
    root.mkdir(parents=True)
    with gzip.open(root / "a.jsonl.gz", "wb") as handle:
        handle.write(b"".join(_line(i) for i in range(20)))
    with pa.CompressedOutputStream(str(root / "b.jsonl.zst"), "zstd") as handle:
        handle.write(b"".join(_line(i) for i in range(100, 130)))
    whole = gzip.compress(b"".join(_line(i) for i in range(200, 300)))
    (root / "c.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # still being compressed
    (root / "d.jsonl.lz4").write_bytes(b"whatever")
    result = _ingest(ctx, op)
    assert (result.rows_stored, result.rows_quarantined) == (50, 0)
    skipped = dict(result.skipped)
    assert set(skipped) == {(root / "c.jsonl.gz").as_posix(), (root / "d.jsonl.lz4").as_posix()}
    assert "incomplete or corrupt gzip" in skipped[(root / "c.jsonl.gz").as_posix()]
    assert "not a log file type" in skipped[(root / "d.jsonl.lz4").as_posix()]
    (root / "c.jsonl.gz").write_bytes(whole)  # finished: read on the next run, the others not again
    later = _ingest(ctx, op)
    assert (later.rows_stored, later.files_ingested) == (100, 1)
    assert len(_stored_ids(ctx)) == len(set(_stored_ids(ctx))) == 150


def test_remote_location_down_is_unavailable_and_redacted(sqlite_ctx):
    import socket

    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://reader:s3cretpw@127.0.0.1:{port}/logs/diabetes/"
    with pytest.raises(ServiceUnavailable) as info:
        _ingest(ctx, op, path=url)
    assert "s3cretpw" not in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    (entry,) = ctx.audit.query(action="ingest.run")
    assert entry.outcome == "failed" and "s3cretpw" not in json.dumps(entry.to_row())


def test_audit_failure_rolls_back_the_ledger_row(ctx, monkeypatch):
    """The ledger row and its audit entry commit together: no ingestion is ever unaudited."""
    from monitoring.logs.tables import IngestedFile
    from sqlalchemy import func, select

    op = add_user(ctx, "ops", "operator")
    path = ctx.settings.data_dir / LOGS / "a.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(_line(i) for i in range(40)) + b"{broken\n")
    real = ctx.audit.append

    def crash_in_transaction(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("conn") is not None:
            real(*args, **kwargs)  # written in the ledger's transaction...
            raise RuntimeError("killed before the commit")  # ...which then never commits
        return real(*args, **kwargs)

    monkeypatch.setattr(ctx.audit, "append", crash_in_transaction)
    with pytest.raises(RuntimeError):
        _ingest(ctx, op)
    monkeypatch.undo()
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(IngestedFile)) == 0
    assert ctx.audit.query(action="ingest.file") == [] and _stored_ids(ctx) == []
    result = _ingest(ctx, op)
    assert (result.rows_stored, result.rows_quarantined) == (40, 1)
    with ctx.engine.connect() as conn:
        ledger = conn.execute(select(IngestedFile.checksum)).scalars().all()
    entries = ctx.audit.query(action="ingest.file")
    assert sorted(e.details["checksum"] for e in entries) == sorted(ledger) and len(ledger) == 1
    assert ctx.audit.verify().ok


def test_killed_between_commit_and_publish_publishes_on_next_run(sqlite_ctx, monkeypatch):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    root = ctx.settings.data_dir / LOGS
    root.mkdir(parents=True)
    (root / "a.jsonl").write_bytes(b"".join(_line(i) for i in range(120)) + b"nope\n")

    def die(_parts):  # type: ignore[no-untyped-def]
        raise SystemExit("killed after the ledger commit, before the rename")

    monkeypatch.setattr(ingest_mod, "publish", die)
    with pytest.raises(SystemExit):
        _ingest(ctx, op, batch_rows=50)
    monkeypatch.undo()
    assert _stored_ids(ctx) == []  # committed but not yet published: still invisible
    result = _ingest(ctx, op, batch_rows=50)
    assert result.rows_read == 0 and any("published" in n for n in result.notes)
    ids = _stored_ids(ctx)
    assert len(ids) == len(set(ids)) == 120
    assert len(quarantine_rows(ctx.settings.quarantine_dir, "diabetes")) == 1
    assert not list(Path(ctx.settings.logstore_dir).rglob(".*.pending"))


def test_grown_csv_yields_only_its_new_rows(sqlite_ctx):
    ctx = sqlite_ctx
    op = add_user(ctx, "ops", "operator")
    flat = []
    for i in range(60):
        rec = diabetes_record(i, BASE + timedelta(seconds=i))
        row = {k: v for k, v in rec.items() if k != "features"}
        row.update({f"f_{k}": v for k, v in rec["features"].items()})
        flat.append(row)
    header = ",".join(flat[0])

    def rows(items):  # type: ignore[no-untyped-def]
        return "".join(",".join(str(v) for v in r.values()) + "\n" for r in items)

    path = ctx.settings.data_dir / LOGS / "day.csv"
    path.parent.mkdir(parents=True)
    path.write_text(header + "\n" + rows(flat[:40]) + rows(flat[40:41])[:25])  # last row half-written
    first = _ingest(ctx, op)
    assert (first.rows_stored, quarantine_summary(ctx.engine, "diabetes").rows_quarantined) == (40, 0)
    path.write_text(header + "\n" + rows(flat))
    grown = _ingest(ctx, op)
    assert (grown.rows_read, grown.rows_stored) == (20, 20)
    assert sorted(_stored_ids(ctx)) == sorted(f"r{i}" for i in range(60))


def test_one_ingestion_per_model_and_a_lost_lock_cannot_commit(ctx):
    from sqlalchemy import text

    from core.errors import Conflict
    from monitoring.logs.ledger import ingest_lock

    with ingest_lock(ctx.engine, "diabetes") as held:
        with pytest.raises(Conflict, match=f"another ingestion of diabetes \\({held.holder}\\) is still running"):
            with ingest_lock(ctx.engine, "diabetes", wait_s=0.3):
                pass
        with ingest_lock(ctx.engine, "breast-cancer", wait_s=0.3):  # other models are not blocked
            pass
    with ingest_lock(ctx.engine, "diabetes", wait_s=0.3):  # released
        pass
    if ctx.engine.dialect.name == "sqlite":
        return  # an OS file lock cannot be lost while its process lives (core.locks tests a SIGKILL)
    # PostgreSQL: a run whose lock session was terminated cannot commit
    with ingest_lock(ctx.engine, "diabetes") as lock:
        with ctx.engine.begin() as conn:
            lock.check(conn)
            # pg_terminate_backend only signals the backend: wait until it is gone (and with it
            # its advisory lock), or a loaded machine checks the lock before the session ends
            conn.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": lock.lock.backend})
        with ctx.engine.begin() as conn, pytest.raises(Conflict, match="lock of diabetes was lost"):
            lock.check(conn)
    with ingest_lock(ctx.engine, "diabetes", wait_s=0.3):  # and the server freed it
        pass
