"""Audit retention: a purge of old entries keeps `verify` OK, is refused inside the retention
period, is audited, is atomic, and cannot be faked (edited record, deletion without a record).

Old entries are written as the chain computes them (governance.audit_chain.entry_hash) with
timestamps hundreds of days back; the expected hashes are recomputed here with hashlib from the
documented canonical JSON, independently of the code under test.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DBAPIError

from core.actor import Actor
from core.db import session_scope
from core.errors import ConfigError, PermissionDenied
from core.settings import Settings
from governance.audit_anchor import AnchorConfig, take_checkpoint
from governance.audit_chain import GENESIS, utc_ts
from governance.audit_retention import PurgeRefused, RetentionRefused, purge
from governance.audit_retention_tables import AuditPurge
from governance.tables import AuditEntry
from jobs import audit as audit_cli
from jobs._cli import EXIT_DENIED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_main

NOW = datetime.now(UTC)
ROOT = Actor("root", "cli")
NO_ANCHOR = AnchorConfig()


def _hash(fields: dict) -> str:  # type: ignore[type-arg]
    """The documented entry hash: SHA-256 of the canonical JSON of the fields (audit_chain docstring)."""
    doc = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()


def _old_entries(ctx, days_ago: list[int]) -> list[str]:  # type: ignore[no-untyped-def]
    """Append entries dated ``days_ago`` days back (oldest first) at the chain's head; their hashes."""
    with ctx.engine.begin() as conn:
        head = conn.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc())).first()
        seq, prev = (head[0], head[1]) if head else (0, GENESIS)
        hashes = []
        for days in days_ago:
            seq += 1
            fields = {"seq": seq, "ts": utc_ts(NOW - timedelta(days=days)), "actor": "ann",
                      "action": "model.view", "resource": "diabetes", "outcome": "success", "reason": "",
                      "details": json.dumps({"days": days}), "source": "ui", "client_addr": None,
                      "prev_hash": prev}
            prev = _hash(fields)
            conn.execute(insert(AuditEntry).values(hash=prev, **fields))
            hashes.append(prev)
    return hashes


def _users(ctx) -> None:  # type: ignore[no-untyped-def]
    from governance.identity import insert_user
    from governance.rbac import insert_grant

    with session_scope(ctx.engine) as session:
        for name, role in (("root", "admin"), ("audrey", "auditor")):
            insert_user(session, name, None, is_service=True)
            insert_grant(session, name, role, "*", granted_by="test", reason="retention test")


def _recent(ctx, n: int = 3) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        ctx.audit.append(Actor("ann", "ui"), "model.view", "diabetes", details={"recent": i})


def _seqs(ctx) -> list[int]:  # type: ignore[no-untyped-def]
    return [r.seq for r in ctx.audit.query()]


@pytest.fixture
def chain(ctx):  # type: ignore[no-untyped-def]
    """5 entries 500..496 days old, then 3 of today (seq 6..8), and an admin and an auditor."""
    _users(ctx)
    hashes = _old_entries(ctx, [500, 499, 498, 497, 496])
    _recent(ctx)
    return ctx, hashes


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    from tests.unit.governance.test_audit_anchor import _pems

    private, public = _pems()
    (tmp_path / "cp.key").write_text(private)
    (tmp_path / "cp.pub").write_text(public)
    return tmp_path / "cp.key", tmp_path / "cp.pub"


# -- the setting ---------------------------------------------------------------------------------
def test_retention_days_default_and_validation() -> None:
    assert Settings.from_env({}).audit_retention_days == 400
    assert Settings.from_env({"VIGIL_AUDIT_RETENTION_DAYS": "2555"}).audit_retention_days == 2555
    for bad in ("0", "-5", "ten"):
        with pytest.raises(ConfigError, match="VIGIL_AUDIT_RETENTION_DAYS"):
            Settings.from_env({"VIGIL_AUDIT_RETENTION_DAYS": bad})


# -- refusals --------------------------------------------------------------------------------------
def test_purge_inside_the_retention_period_is_refused_and_audited(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    with pytest.raises(RetentionRefused, match="retention period of 400 days"):
        purge(ctx, ROOT, before=NOW - timedelta(days=399), anchor=NO_ANCHOR)
    assert _seqs(ctx) == list(range(1, 10))  # nothing deleted; seq 9 is the refusal
    refusal = ctx.audit.head()
    assert (refusal.actor, refusal.action, refusal.outcome) == ("root", "audit.purge", "denied")
    assert "younger than the retention period of 400 days" in refusal.reason
    with ctx.engine.connect() as conn:
        assert conn.execute(select(AuditPurge)).first() is None
    assert ctx.audit.verify(anchor=NO_ANCHOR).line().startswith("OK 9 entries head=")


def test_purge_needs_the_admin_permission(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    with pytest.raises(PermissionDenied):
        purge(ctx, Actor("audrey", "cli"), before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    refusal = ctx.audit.head()
    assert (refusal.actor, refusal.action, refusal.outcome) == ("audrey", "audit.purge", "denied")
    assert _seqs(ctx) == list(range(1, 10))


def test_the_trigger_still_refuses_deleting_entries_without_a_recorded_cut(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    with pytest.raises(DBAPIError, match="append-only"):
        with ctx.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log WHERE seq = 1"))
    assert _seqs(ctx) == list(range(1, 9))


# -- a purge -------------------------------------------------------------------------------------
def test_purge_of_old_entries_keeps_verify_ok_and_is_audited(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, hashes = chain
    result = purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    assert (result.purged, result.cut_seq, result.prev_hash) == (5, 5, hashes[4])
    assert _seqs(ctx) == [6, 7, 8, 9]
    first_kept = ctx.audit.query(limit=1)[0]
    assert first_kept.prev_hash == hashes[4]  # the first kept entry chains from the last purged one
    done = ctx.audit.head()
    assert (done.seq, done.actor, done.action, done.outcome) == (9, "root", "audit.purge", "success")
    assert (done.details["purged"], done.details["cut_seq"], done.details["prev_hash"]) == (5, 5, hashes[4])
    report = ctx.audit.verify(anchor=NO_ANCHOR)
    assert report.ok, report.line()
    assert report.line() == (f"OK 4 entries (purged before seq 6 on {NOW:%Y-%m-%d}, unsigned) "
                             f"head={done.hash}")
    with ctx.engine.connect() as conn:
        [record] = conn.execute(select(AuditPurge.cut_seq, AuditPurge.prev_hash, AuditPurge.purged_count,
                                       AuditPurge.actor)).all()
    assert tuple(record) == (5, hashes[4], 5, "root")


def test_dry_run_deletes_nothing(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, hashes = chain
    before = [(r.seq, r.hash) for r in ctx.audit.query()]
    result = purge(ctx, ROOT, before=NOW - timedelta(days=450), dry_run=True, anchor=NO_ANCHOR)
    assert (result.dry_run, result.purged, result.cut_seq) == (True, 5, 5)
    assert result.line().startswith("would purge 5 entries (seq 1..5")
    assert [(r.seq, r.hash) for r in ctx.audit.query()][:8] == before
    with ctx.engine.connect() as conn:
        assert conn.execute(select(AuditPurge)).first() is None
    assert ctx.audit.head().details["dry_run"] is True
    assert ctx.audit.verify(anchor=NO_ANCHOR).line().startswith("OK 9 entries head=")


def test_nothing_older_than_the_cut_purges_nothing(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    result = purge(ctx, ROOT, before=NOW - timedelta(days=600), anchor=NO_ANCHOR)
    assert result.purged == 0 and result.line().startswith("nothing to purge")
    assert _seqs(ctx) == list(range(1, 10))


def test_two_purges_in_a_row(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, hashes = chain
    assert purge(ctx, ROOT, before=NOW - timedelta(days=498, hours=12), anchor=NO_ANCHOR).purged == 2
    second = purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    assert (second.purged, second.cut_seq, second.prev_hash) == (3, 5, hashes[4])
    assert _seqs(ctx) == [6, 7, 8, 9, 10]
    report = ctx.audit.verify(anchor=NO_ANCHOR)
    assert report.ok and report.purged_seq == 5 and report.line().startswith("OK 5 entries (purged before seq 6")
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(AuditPurge.cut_seq, AuditPurge.purged_count).order_by(AuditPurge.cut_seq)).all()
    assert [tuple(r) for r in rows] == [(2, 2), (5, 3)]


def test_a_failure_halfway_leaves_nothing_purged(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The purge entry is written last in the transaction: failing there rolls back the deletion."""
    ctx, _ = chain
    real_append = ctx.audit.append

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("conn") is not None:
            raise RuntimeError("power cut")
        return real_append(*args, **kwargs)

    monkeypatch.setattr(ctx.audit, "append", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    assert _seqs(ctx) == list(range(1, 9))
    with ctx.engine.connect() as conn:
        assert conn.execute(select(AuditPurge)).first() is None
    assert ctx.audit.verify(anchor=NO_ANCHOR).line().startswith("OK 8 entries head=")


def test_a_database_that_refuses_the_deletion_purges_nothing(chain) -> None:  # type: ignore[no-untyped-def]
    """As the PostgreSQL runtime role (no DELETE on audit_log) or a schema without migration 0016:
    a one-line refusal naming the fix, audited, and nothing deleted."""
    ctx, _ = chain
    with ctx.engine.begin() as conn:  # the trigger of migration 0001: every DELETE refused
        if ctx.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            conn.execute(text("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
                              "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END"))
        else:
            conn.execute(text("CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger "
                              "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only: "
                              "% refused', TG_OP; END $$"))
    with pytest.raises(PurgeRefused, match="append-only: DELETE refused.*owner role") as refused:
        purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    assert "\n" not in str(refused.value)
    assert _seqs(ctx) == list(range(1, 10))
    assert (ctx.audit.head().action, ctx.audit.head().outcome) == ("audit.purge", "failed")
    with ctx.engine.connect() as conn:
        assert conn.execute(select(AuditPurge)).first() is None


# -- tampering -----------------------------------------------------------------------------------
def test_a_changed_purge_record_is_broken(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    with ctx.engine.begin() as conn:
        conn.execute(update(AuditPurge).values(prev_hash="f" * 64))
    report = ctx.audit.verify(anchor=NO_ANCHOR)
    assert not report.ok and report.broken_seq == 6
    assert report.line().startswith("BROKEN at seq 6: prev_hash") and "purge recorded at seq 5" in report.line()


def test_entries_deleted_without_a_purge_record_are_broken(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    _drop_delete_trigger(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq <= 3"))
    report = ctx.audit.verify(anchor=NO_ANCHOR)
    assert report.line().startswith("BROKEN at seq 1: entry missing")


def test_deleting_the_purge_record_or_entries_after_the_cut_is_broken(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    _drop_delete_trigger(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 6"))  # one entry beyond the recorded cut
    assert ctx.audit.verify(anchor=NO_ANCHOR).line().startswith("BROKEN at seq 6: entry missing")
    with ctx.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_purges"))
    assert ctx.audit.verify(anchor=NO_ANCHOR).line().startswith("BROKEN at seq 1: entry missing")


def test_an_entry_planted_below_the_cut_is_broken(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    _old_entries(ctx, [1])  # appended at the head: still fine
    assert ctx.audit.verify(anchor=NO_ANCHOR).ok
    with ctx.engine.begin() as conn:  # inserting needs no dropped trigger
        conn.execute(text("INSERT INTO audit_log (seq, ts, actor, action, resource, outcome, reason, details, "
                          "source, client_addr, prev_hash, hash) VALUES (3, '2024-01-01T00:00:00.000000Z', "
                          "'mallory', 'x', 'y', 'success', '', '{}', 'cli', NULL, :g, :g)"), {"g": GENESIS})
    assert ctx.audit.verify(anchor=NO_ANCHOR).line().startswith(
        "BROKEN at seq 6: entry out of order: seq 3 appears where seq 6 was expected")


def _drop_delete_trigger(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.engine.begin() as conn:
        if ctx.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update_delete ON audit_log"))


# -- with checkpoints configured -------------------------------------------------------------------
def test_signed_purge_with_checkpoints_configured(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx, hashes = chain
    private, public = _keys(tmp_path)
    where = tmp_path / "anchor"
    signer = AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": str(where),
                                    "VIGIL_AUDIT_CHECKPOINT_KEY_FILE": str(private)})
    before_cut, _ = take_checkpoint(ctx.engine, signer)  # anchors seq 8, which the purge keeps
    result = purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=signer)
    assert result.signed and len(result.written) == 1
    cut_file = json.loads(Path(result.written[0]).read_text())
    assert (cut_file["seq"], cut_file["head"]) == (5, hashes[4])  # the cut, kept outside the database

    verifier = AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": str(where),
                                      "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE": str(public)})
    report = ctx.audit.verify(anchor=verifier)
    assert report.ok, report.line()
    assert report.line().startswith("OK 4 entries (purged before seq 6 on ") and ", signed) head=" in report.line()
    assert report.anchored_seq == before_cut.seq == 8
    after, _ = take_checkpoint(ctx.engine, signer)  # checkpoints go on after the cut
    assert after.seq == 9 and ctx.audit.verify(anchor=verifier).anchored_seq == 9

    with ctx.engine.begin() as conn:  # forged: another hash (a signature cannot follow)
        conn.execute(update(AuditPurge).values(prev_hash=hashes[3]))
    report = ctx.audit.verify(anchor=verifier)
    assert not report.ok and "bad signature" in report.problem
    with ctx.engine.begin() as conn:  # forged: the signature removed
        conn.execute(update(AuditPurge).values(prev_hash=hashes[4], signature=""))
    assert "is unsigned, but a checkpoint key is configured" in ctx.audit.verify(anchor=verifier).problem


def test_parallel_sqlite_verify_starts_at_the_cut(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from governance import audit_verify

    ctx, _ = chain
    if ctx.engine.dialect.name != "sqlite":
        pytest.skip("the parallel path is SQLite's")
    _recent(ctx, 6)
    purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    monkeypatch.setattr(audit_verify, "PARALLEL_MIN_ENTRIES", 4)
    single = ctx.audit.verify(anchor=NO_ANCHOR)
    parallel = ctx.audit.verify(anchor=NO_ANCHOR, workers=3)
    assert parallel.ok and parallel.line() == single.line()
    with ctx.engine.begin() as conn:
        conn.execute(update(AuditPurge).values(prev_hash="f" * 64))
    assert ctx.audit.verify(anchor=NO_ANCHOR, workers=3).line() == ctx.audit.verify(anchor=NO_ANCHOR).line()
    assert ctx.audit.verify(anchor=NO_ANCHOR, workers=3).broken_seq == 6


# -- the command ---------------------------------------------------------------------------------
def _cli_env(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key in ("VIGIL_AUDIT_CHECKPOINT_URL", "VIGIL_AUDIT_CHECKPOINT_KEY", "VIGIL_AUDIT_CHECKPOINT_KEY_FILE",
                "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY", "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE", "VIGIL_TOKEN",
                "VIGIL_AUDIT_RETENTION_DAYS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("VIGIL_CONFIG", str(ctx.settings.config_file))
    monkeypatch.setenv("DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("VIGIL_DEMO", "1")


def test_signed_purge_and_verify_commands(chain, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """The admin purges with the checkpoint key; an auditor holding only the public key and a copy
    of the checkpoints verifies the rest of the chain."""
    ctx, _ = chain
    _cli_env(ctx, monkeypatch)
    private, public = _keys(tmp_path)
    where = tmp_path / "anchor"
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_URL", str(where))
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_KEY_FILE", str(private))
    monkeypatch.setenv("VIGIL_AUDIT_RETENTION_DAYS", "2555")  # seven years: the 500-day-old entries stay
    old = f"{NOW - timedelta(days=450):%Y-%m-%d}"
    assert run_main(audit_cli.main, ["purge", "--as", "root", "--before", old]) == EXIT_USAGE
    assert "retention period of 2555 days" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_AUDIT_RETENTION_DAYS", "400")
    assert run_main(audit_cli.main, ["purge", "--as", "root", "--before", old]) == EXIT_OK
    assert ", checkpoint signed, written to " in capsys.readouterr().out
    monkeypatch.delenv("VIGIL_AUDIT_CHECKPOINT_KEY_FILE")
    monkeypatch.delenv("VIGIL_AUDIT_CHECKPOINT_URL")
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE", str(public))
    assert run_main(audit_cli.main, ["verify", "--quiet", "--anchor", str(where)]) == EXIT_OK
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("OK 5 entries (purged before seq 6 on ") and ", signed) head=" in last
    assert " anchored at seq 5, " in last
    with ctx.engine.begin() as conn:
        conn.execute(update(AuditPurge).values(purged_count=4))
    assert run_main(audit_cli.main, ["verify", "--quiet", "--anchor", str(where)]) == EXIT_FAILED
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("BROKEN at seq 1: purge record #1 (cut at seq 5, ") and "records were edited" in last
    with ctx.engine.begin() as conn:  # a consistent edit: the signature no longer matches
        conn.execute(update(AuditPurge).values(purged_count=4, cut_seq=4))
    assert run_main(audit_cli.main, ["verify", "--quiet", "--anchor", str(where)]) == EXIT_FAILED
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("BROKEN at seq 5: purge record #1 (cut at seq 4, ") and "bad signature" in last


def test_purge_command_exit_codes(chain, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    _cli_env(ctx, monkeypatch)
    old, young = f"{NOW - timedelta(days=450):%Y-%m-%d}", f"{NOW - timedelta(days=30):%Y-%m-%d}"

    assert run_main(audit_cli.main, ["purge", "--as", "audrey", "--before", old]) == EXIT_DENIED
    assert run_main(audit_cli.main, ["purge", "--as", "root", "--before", young]) == EXIT_USAGE
    assert "retention period of 400 days" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        run_main(audit_cli.main, ["purge", "--as", "root", "--before", "last tuesday"])
    assert bad.value.code == EXIT_USAGE
    assert run_main(audit_cli.main, ["purge", "--as", "root", "--before", old, "--dry-run"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("would purge 5 entries")
    assert _seqs(ctx)[0] == 1
    assert run_main(audit_cli.main, ["purge", "--as", "root", "--before", old]) == EXIT_OK
    assert capsys.readouterr().out.startswith("purged 5 entries (seq 1..5")
    assert run_main(audit_cli.main, ["verify", "--quiet"]) == EXIT_OK
    assert "(purged before seq 6 on " in capsys.readouterr().out.strip().splitlines()[-1]


def test_a_broken_chain_is_never_cut(chain) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = chain
    _drop_delete_trigger(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 7"))
    with pytest.raises(PurgeRefused, match="does not verify"):
        purge(ctx, ROOT, before=NOW - timedelta(days=450), anchor=NO_ANCHOR)
    assert ctx.audit.head().outcome == "failed"
    assert _seqs(ctx)[:2] == [1, 2]
