"""The audit chain's hash, appends, filters and exports (backend-independent parts)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from core.actor import Actor
from core.errors import InvalidInput, PermissionDenied
from governance import access, identity, rbac
from governance.audit import GENESIS, AuditLog, canonical_json, entry_hash, export_audit, read_audit

ADMIN = Actor("root", "cli")
TRICKY = ["", "plain", 'quote " and \\ backslash', "tab\tnew\nline\x00\x1f", "ünïcødé ✓ 🚀", "\u2028\u2029"]


@pytest.mark.parametrize("text_value", TRICKY)
@pytest.mark.parametrize("addr", [None, "2001:db8::1"])
def test_fast_hash_equals_sha256_of_canonical_json(text_value: str, addr: str | None) -> None:
    import hashlib

    fields = {"seq": 42, "ts": "2026-11-22T01:55:00.123456Z", "actor": text_value, "action": "a.b",
              "resource": text_value, "outcome": "success", "reason": text_value,
              "details": canonical_json({"k": text_value, "n": [1, 2.5, None]}), "source": "ui",
              "client_addr": addr, "prev_hash": GENESIS}
    reference = hashlib.sha256(
        json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    assert entry_hash(**fields) == reference


def test_chain_links_and_hashes(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    log = sqlite_ctx.audit
    first = log.append(Actor("ann", "ui", "192.0.2.1"), "model.view", "diabetes", details={"b": 1, "a": "ü"})
    second = log.append(Actor("job", "job"), "drift.run", "diabetes", "failed", reason="no data")
    assert (first.seq, first.prev_hash, second.seq, second.prev_hash) == (1, GENESIS, 2, first.hash)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first.ts)
    stored = log.query()[0]
    assert stored.details == {"a": "ü", "b": 1} and stored.client_addr == "192.0.2.1"
    report = log.verify()
    assert report.line() == f"OK 2 entries head={second.hash}"
    assert AuditLog(sqlite_ctx.engine).verify().ok


def test_empty_log_verifies(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    assert sqlite_ctx.audit.verify().line() == f"OK 0 entries head={GENESIS}"


def test_append_rejects_bad_values(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="outcome"):
        sqlite_ctx.audit.append(ADMIN, "x", "y", "maybe")
    with pytest.raises(InvalidInput, match="JSON"):
        sqlite_ctx.audit.append(ADMIN, "x", "y", details={"when": object()})
    assert sqlite_ctx.audit.count() == 0


def test_filters(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    log = sqlite_ctx.audit
    for actor, action, outcome in (("a", "auth.sign_in", "success"), ("b", "auth.sign_in", "failed"),
                                   ("a", "drift.run", "success")):
        log.append(Actor(actor, "ui"), action, "r", outcome)
    assert [r.seq for r in log.query(action="auth.*")] == [1, 2]
    assert [r.seq for r in log.query(actor="a", outcome="success")] == [1, 3]
    assert [r.seq for r in log.query(limit=2, newest_first=True)] == [3, 2]
    assert log.query(since="2999-01-01") == []


@pytest.fixture
def auditor_ctx(sqlite_ctx):  # type: ignore[no-untyped-def]
    access.bootstrap_admin(sqlite_ctx, "root", "root-password")
    identity.create_user(sqlite_ctx, ADMIN, "aud", "aud-password")
    rbac.grant(sqlite_ctx, ADMIN, "aud", "auditor", reason="audit")
    identity.create_user(sqlite_ctx, ADMIN, "vic", "vic-password")
    rbac.grant(sqlite_ctx, ADMIN, "vic", "viewer", reason="look")
    return sqlite_ctx


def test_export_jsonl_and_csv_are_audited(auditor_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx, aud = auditor_ctx, Actor("aud", "cli")
    n = ctx.audit.count()
    lines = export_audit(ctx, aud, "jsonl").decode("utf-8").splitlines()
    assert len(lines) == n and json.loads(lines[0])["prev_hash"] == GENESIS
    last = ctx.audit.head()
    assert (last.action, last.actor, last.details["rows"], last.details["format"]) == ("audit.export", "aud", n, "jsonl")
    rows = list(csv.DictReader(io.StringIO(export_audit(ctx, aud, "csv", action="access.grant").decode())))
    assert [r["action"] for r in rows] == ["access.grant"] * 2
    assert ctx.audit.head().details["filters"] == {"action": "access.grant"}
    # the exported fields are enough to recompute each hash
    r = rows[0]
    assert entry_hash(int(r["seq"]), r["ts"], r["actor"], r["action"], r["resource"], r["outcome"], r["reason"],
                      r["details"], r["source"], r["client_addr"] or None, r["prev_hash"]) == r["hash"]
    assert ctx.audit.verify().ok


def test_export_and_read_need_permissions(auditor_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx, vic = auditor_ctx, Actor("vic", "ui")
    with pytest.raises(PermissionDenied, match="vic may not audit.export on \\*"):
        export_audit(ctx, vic, "csv")
    with pytest.raises(PermissionDenied, match="vic may not audit.read"):
        read_audit(ctx, vic)
    assert [r.outcome for r in read_audit(ctx, Actor("aud", "ui"), actor="vic")] == ["denied", "denied"]
    with pytest.raises(InvalidInput, match="csv or jsonl"):
        export_audit(ctx, Actor("aud", "cli"), "xml")


def _tamper_cases():  # type: ignore[no-untyped-def]
    return {
        "intact": [],
        "edited": ["UPDATE audit_log SET reason = 'x' WHERE seq = 23"],
        "deleted": ["DELETE FROM audit_log WHERE seq = 17"],
        "deleted at a range end": ["DELETE FROM audit_log WHERE seq = 20"],
        "deleted tail of first range": ["DELETE FROM audit_log WHERE seq IN (19, 20)"],
        "reordered": ["UPDATE audit_log SET seq = -31 WHERE seq = 31", "UPDATE audit_log SET seq = 31 WHERE seq = 32",
                      "UPDATE audit_log SET seq = 32 WHERE seq = -31"],
        "planted seq 0": ["INSERT INTO audit_log SELECT 0, ts, actor, action, resource, outcome, reason, details, "
                          "source, client_addr, prev_hash, hash FROM audit_log WHERE seq = 1"],
        "hash replaced": ["UPDATE audit_log SET hash = 'x', details = '' WHERE seq = 45"],
    }


@pytest.mark.parametrize("case", list(_tamper_cases()))
def test_parallel_verify_gives_the_same_answer_as_one_pass(sqlite_ctx, monkeypatch, case: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    import governance.audit_verify as av

    log = sqlite_ctx.audit
    for i in range(60):
        log.append(Actor(f"u{i % 4}", "ui"), "model.view", "diabetes", details={"i": i})
    with sqlite_ctx.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        for statement in _tamper_cases()[case]:
            conn.execute(text(statement))
    one_pass = log.verify(workers=1, batch_size=7)
    monkeypatch.setattr(av, "PARALLEL_MIN_ENTRIES", 1)
    parallel = av.verify_sqlite_parallel(sqlite_ctx.engine.url.database, workers=3, batch_size=7)
    assert parallel is not None
    assert (parallel.ok, parallel.count, parallel.head, parallel.broken_seq) == \
           (one_pass.ok, one_pass.count, one_pass.head, one_pass.broken_seq)
    assert parallel.problem.split(":")[0] == one_pass.problem.split(":")[0]
    assert one_pass.ok == (case == "intact")
