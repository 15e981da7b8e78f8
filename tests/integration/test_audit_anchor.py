"""Signed checkpoints anchor the audit chain outside the database, on both real backends.

The attacker here owns the database (what the application's own role could do before the roles
were split): triggers off, edit an old entry, recompute every later hash. The chain alone then
verifies OK (asserted, so the tests prove the checkpoint is what catches it); against a
checkpoint taken before the rewrite, verify reports BROKEN naming the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core.actor import Actor
from governance.audit import GENESIS, AuditLog, entry_hash
from governance.audit_anchor import AnchorBroken, AnchorConfig, take_checkpoint

pytestmark = pytest.mark.integration

NO_ANCHOR = AnchorConfig()


def _keys(tmp_path: Path) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture
def anchor(tmp_path: Path) -> tuple[AnchorConfig, AnchorConfig, Path]:
    """(signer config for the checkpoint job, verifier config holding only the public key, dir)."""
    private, public = _keys(tmp_path)
    where = tmp_path / "checkpoints"
    signer = AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": str(where),
                                    "VIGIL_AUDIT_CHECKPOINT_KEY": private.decode()})
    verifier = AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": str(where),
                                      "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY": public.decode()})
    return signer, verifier, where


def _fill(log: AuditLog, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        log.append(Actor(f"user{i % 3}", "ui", "10.0.0.1"), "model.view", "diabetes", details={"i": i})


def _disable_guard(conn, dialect: str) -> None:  # type: ignore[no-untyped-def]
    if dialect == "sqlite":
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
    else:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))


def rewrite_history(engine: Engine, seq: int, **changes: str) -> None:
    """The owner's attack: triggers off, edit entry ``seq``, recompute it and every later hash."""
    with engine.begin() as conn:
        _disable_guard(conn, engine.dialect.name)
        rows = conn.execute(text(
            "SELECT seq, ts, actor, action, resource, outcome, reason, details, source, client_addr, "
            "prev_hash FROM audit_log WHERE seq >= :s ORDER BY seq"), {"s": seq}).mappings().all()
        prev = None
        for row in rows:
            fields = dict(row)
            if fields["seq"] == seq:
                fields.update(changes)
            if prev is not None:
                fields["prev_hash"] = prev
            prev = entry_hash(**fields)
            conn.execute(text("UPDATE audit_log SET actor=:actor, action=:action, resource=:resource, "
                              "outcome=:outcome, reason=:reason, details=:details, prev_hash=:prev_hash, "
                              "hash=:h WHERE seq=:seq"), {**fields, "h": prev})


def delete_tail(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        _disable_guard(conn, engine.dialect.name)
        conn.execute(text("DELETE FROM audit_log WHERE seq > (SELECT max(seq) FROM audit_log) - :n"), {"n": n})


def test_rewrite_before_a_checkpoint_is_broken_at_the_checkpoint(engine, anchor) -> None:  # type: ignore[no-untyped-def]
    signer, verifier, where = anchor
    log = AuditLog(engine)
    _fill(log, 12)
    cp, written = take_checkpoint(engine, signer)
    assert (cp.seq, cp.count, cp.head) == (12, 12, log.head().hash)
    assert len(written) == 1 and list(where.iterdir())[0].name == cp.name
    _fill(log, 3, start=12)

    rewrite_history(engine, 4, actor="mallory", outcome="denied")
    chain_only = log.verify(anchor=NO_ANCHOR)
    assert chain_only.ok, chain_only.line()  # the recomputed chain fools the chain check alone
    assert "no audit checkpoint location configured" in chain_only.warning

    report = log.verify(anchor=verifier)
    assert not report.ok and report.broken_seq == 12
    assert report.line().startswith(f"BROKEN at seq 12: checkpoint {where}/{cp.name}")
    assert "rewritten" in report.problem
    # the scheduled job refuses to anchor the rewritten chain
    with pytest.raises(AnchorBroken, match="rewritten"):
        take_checkpoint(engine, signer)
    assert len(list(where.iterdir())) == 1


def test_tail_deletion_after_a_checkpoint_is_broken(engine, anchor) -> None:  # type: ignore[no-untyped-def]
    signer, verifier, where = anchor
    log = AuditLog(engine)
    _fill(log, 10)
    cp, _ = take_checkpoint(engine, signer)
    delete_tail(engine, 3)
    chain_only = log.verify(anchor=NO_ANCHOR)
    assert chain_only.ok and chain_only.count == 7  # a shorter chain is still a valid chain
    report = log.verify(anchor=verifier)
    assert (report.ok, report.broken_seq) == (False, 8)
    assert f"checkpoint {where}/{cp.name}" in report.problem
    assert "entries 8..10 were deleted" in report.problem


def test_untouched_chain_with_later_entries_is_ok_and_anchored(engine, anchor) -> None:  # type: ignore[no-untyped-def]
    signer, verifier, _ = anchor
    log = AuditLog(engine)
    _fill(log, 5)
    first, _ = take_checkpoint(engine, signer)
    _fill(log, 4, start=5)
    second, _ = take_checkpoint(engine, signer)  # incremental: checked from seq 5 on
    _fill(log, 2, start=9)
    report = log.verify(anchor=verifier)
    assert report.ok, report.line()
    assert (first.seq, second.seq, report.count) == (5, 9, 11)
    assert report.line() == f"OK 11 entries head={log.head().hash} anchored at seq 9, {second.ts}"


def test_forged_checkpoint_is_broken(engine, anchor) -> None:  # type: ignore[no-untyped-def]
    """Someone who can write the checkpoint store, but has no key, re-bases it on a rewritten chain."""
    signer, verifier, where = anchor
    log = AuditLog(engine)
    _fill(log, 6)
    cp, _ = take_checkpoint(engine, signer)
    rewrite_history(engine, 2, actor="mallory")
    doc = json.loads((where / cp.name).read_text())
    doc["head"] = log.head().hash  # the rewritten head, so seq and hash agree with the database again
    forged = where / cp.name
    forged.chmod(0o644)
    forged.write_text(json.dumps(doc) + "\n")
    report = log.verify(anchor=verifier)
    assert (report.ok, report.broken_seq) == (False, 6)
    assert f"checkpoint {where}/{cp.name}: bad signature" in report.problem
    # a checkpoint signed with another key is refused too
    other = AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": str(where),
                                   "VIGIL_AUDIT_CHECKPOINT_KEY": _keys(where)[0].decode()})
    forged.unlink()
    take_checkpoint(engine, other)
    report = log.verify(anchor=verifier)
    assert not report.ok and "not by the configured key" in report.problem


def test_empty_chain_checkpoint_then_growth(engine, anchor) -> None:  # type: ignore[no-untyped-def]
    signer, verifier, _ = anchor
    cp, _ = take_checkpoint(engine, signer)
    assert (cp.seq, cp.head) == (0, GENESIS)
    _fill(AuditLog(engine), 2)
    report = AuditLog(engine).verify(anchor=verifier)
    assert report.ok and report.anchored_seq == 0
