"""The audit chain on both real backends: concurrent writers never fork it, the database refuses
UPDATE/DELETE, and verify pinpoints tampering done by someone who dropped the triggers first."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.actor import Actor
from core.db import make_engine
from governance.audit import GENESIS, AuditLog, entry_hash

pytestmark = pytest.mark.integration

WRITERS, EVENTS = 8, 500


def _drop_triggers(engine) -> None:  # type: ignore[no-untyped-def]
    """What an attacker with database admin rights does before editing history."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update_delete ON audit_log"))
            conn.execute(text("DROP TRIGGER audit_log_no_truncate ON audit_log"))


def _fill(engine, n: int = 10) -> AuditLog:  # type: ignore[no-untyped-def]
    log = AuditLog(engine)
    for i in range(n):
        log.append(Actor(f"user{i % 3}", "ui", "10.0.0.1"), "model.view", "diabetes", details={"i": i, "ü": "✓"})
    return log


def test_concurrent_writers_form_one_valid_chain(engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """8 writers with their own engines (own connections) x 500 events -> one chain of 4000."""
    errors: list[BaseException] = []
    engines = [make_engine(db_url) for _ in range(WRITERS)]
    barrier = threading.Barrier(WRITERS)

    def writer(k: int) -> None:
        try:
            log = AuditLog(engines[k])
            barrier.wait()
            for i in range(EVENTS):
                log.append(Actor(f"writer{k}", "job"), "drift.run", f"model{k}", details={"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert not errors, errors[:3]
    check = make_engine(db_url)
    log = AuditLog(check)
    report = log.verify(batch_size=777)
    assert report.ok, report.line()
    assert report.count == WRITERS * EVENTS
    per_writer = {}
    for record in log.query():
        per_writer.setdefault(record.actor, []).append(record.details["i"])
    # every event of every writer is there exactly once, in each writer's own order
    assert per_writer == {f"writer{k}": list(range(EVENTS)) for k in range(WRITERS)}
    ts = [r.ts for r in log.query()]
    assert ts == sorted(ts)
    check.dispose()


def test_database_refuses_update_and_delete(engine) -> None:  # type: ignore[no-untyped-def]
    _fill(engine, 3)
    for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
                      "DELETE FROM audit_log WHERE seq = 3"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_log"))
    report = AuditLog(engine).verify()
    assert report.ok and report.count == 3


def test_edited_entry_is_reported_at_its_seq(engine) -> None:  # type: ignore[no-untyped-def]
    log = _fill(engine)
    _drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET outcome = 'denied' WHERE seq = 4"))
    report = log.verify()
    assert not report.ok
    assert report.line().startswith("BROKEN at seq 4: hash mismatch")


def test_edit_with_recomputed_hash_breaks_the_next_link(engine) -> None:  # type: ignore[no-untyped-def]
    log = _fill(engine)
    _drop_triggers(engine)
    e = log.query()[5]  # seq 6
    forged = entry_hash(e.seq, e.ts, "mallory", e.action, e.resource, e.outcome, e.reason,
                        '{"i":5}', e.source, e.client_addr, e.prev_hash)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor='mallory', details=:d, hash=:h WHERE seq=6"),
                     {"d": '{"i":5}', "h": forged})
    report = log.verify()
    assert (report.ok, report.broken_seq) == (False, 7)
    assert "prev_hash" in report.problem


def test_deleted_entry_is_reported(engine) -> None:  # type: ignore[no-untyped-def]
    log = _fill(engine)
    _drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    report = log.verify()
    assert (report.ok, report.broken_seq, report.count) == (False, 3, 2)
    assert "missing" in report.problem


def test_inserted_entry_is_reported(engine) -> None:  # type: ignore[no-untyped-def]
    """A forged entry slipped in at seq 5 (later entries renumbered) breaks the renumbered one."""
    log = _fill(engine)
    _drop_triggers(engine)
    before = log.query()
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 5"))
        conn.execute(text("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1005"))
        ts, prev = before[4].ts, before[3].hash
        forged = entry_hash(5, ts, "mallory", "access.grant", "user:mallory", "success", "", "{}", "cli", None, prev)
        conn.execute(text("INSERT INTO audit_log (seq, ts, actor, action, resource, outcome, reason, details, "
                          "source, client_addr, prev_hash, hash) VALUES (5, :ts, 'mallory', 'access.grant', "
                          "'user:mallory', 'success', '', '{}', 'cli', NULL, :prev, :hash)"),
                     {"ts": ts, "prev": prev, "hash": forged})
    report = log.verify()
    assert (report.ok, report.broken_seq) == (False, 6)


def test_appended_forgery_at_the_front_is_reported(engine) -> None:  # type: ignore[no-untyped-def]
    log = _fill(engine, 3)
    with engine.begin() as conn:  # inserting needs no dropped trigger
        conn.execute(text("INSERT INTO audit_log (seq, ts, actor, action, resource, outcome, reason, details, "
                          "source, client_addr, prev_hash, hash) VALUES (0, '2020-01-01T00:00:00.000000Z', "
                          "'mallory', 'x', 'y', 'success', '', '{}', 'cli', NULL, :g, :g)"), {"g": GENESIS})
    report = log.verify()
    assert (report.ok, report.broken_seq) == (False, 1)
    assert "out of order" in report.problem


def test_reordered_entries_are_reported(engine) -> None:  # type: ignore[no-untyped-def]
    log = _fill(engine)
    _drop_triggers(engine)
    with engine.begin() as conn:  # swap the contents of seq 7 and 8 (a reordering)
        conn.execute(text("UPDATE audit_log SET seq = -7 WHERE seq = 7"))
        conn.execute(text("UPDATE audit_log SET seq = 7 WHERE seq = 8"))
        conn.execute(text("UPDATE audit_log SET seq = 8 WHERE seq = -7"))
    report = log.verify()
    assert (report.ok, report.broken_seq) == (False, 7)
