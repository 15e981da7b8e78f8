"""Signed audit exports: round trips, one changed byte in any file, another key, the live chain,
the signing key's file, and PII masking (governance.audit_export, governance.audit_pii)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from core.actor import Actor
from core.errors import PermissionDenied
from governance import access
from governance.audit import entry_hash
from governance.audit_export import (
    check_against_db,
    export_signed,
    key_path,
    public_key_path,
    signing_key,
    verify_export,
)
from tests.unit.logs.loghelpers import add_user

ADMIN, AUD = Actor("root", "cli"), Actor("aud", "cli")


@pytest.fixture
def auditor_ctx(sqlite_ctx):  # type: ignore[no-untyped-def]
    for name, role in (("root", "admin"), ("aud", "auditor"), ("vic", "viewer")):
        add_user(sqlite_ctx, name, role)
    for i in range(5):
        sqlite_ctx.audit.append(Actor(f"u{i % 2}", "ui"), "model.view", "diabetes", details={"i": i})
    return sqlite_ctx


def _pem(ctx) -> bytes:  # type: ignore[no-untyped-def]
    return public_key_path(key_path(ctx.settings)).read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip_verifies_and_manifest_describes_the_file(auditor_ctx, tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    ctx = auditor_ctx
    expected = ctx.audit.query(action="model.view")
    head = ctx.audit.head()
    signed = export_signed(ctx, AUD, fmt, file_name=f"audit.{fmt}", action="model.view")
    written = signed.write(tmp_path / f"audit.{fmt}")
    assert [p.name for p in written] == [f"audit.{fmt}", f"audit.{fmt}.manifest.json", f"audit.{fmt}.sig"]
    assert verify_export(tmp_path / f"audit.{fmt}", public_key_pem=_pem(ctx)) == []

    manifest = json.loads(signed.manifest)
    assert signed.manifest == json.dumps(manifest, sort_keys=True, separators=(",", ":"),
                                         ensure_ascii=False).encode("utf-8")  # canonical JSON
    assert manifest["sha256"] == hashlib.sha256(signed.data).hexdigest()
    assert (manifest["format"], manifest["file"], manifest["entries"]) == (fmt, f"audit.{fmt}", 5)
    assert (manifest["first_seq"], manifest["last_seq"]) == (expected[0].seq, expected[-1].seq)
    assert manifest["chain_head"] == {"seq": head.seq, "hash": head.hash}
    assert manifest["query"] == {"action": "model.view"}
    assert manifest["generated_by"] == "aud" and manifest["console_version"] == "0.1.0"
    jsonl = "".join(json.dumps(r.to_row(), sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
                    for r in expected)
    assert manifest["entries_sha256"] == hashlib.sha256(jsonl.encode("utf-8")).hexdigest()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(signed.data.decode("utf-8"))))
        assert [int(r["seq"]) for r in rows] == [r.seq for r in expected]
        r = rows[0]  # the exported fields still recompute each entry's hash
        assert entry_hash(int(r["seq"]), r["ts"], r["actor"], r["action"], r["resource"], r["outcome"],
                          r["reason"], r["details"], r["source"], r["client_addr"] or None,
                          r["prev_hash"]) == r["hash"]
    else:
        assert signed.data == jsonl.encode("utf-8")
    # the signature is base64 of 64 raw bytes that Ed25519 accepts over the manifest bytes
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    load_pem_public_key(_pem(ctx)).verify(base64.b64decode(signed.signature), signed.manifest)
    # the export is audited, signed, with the file's hash
    last = ctx.audit.head()
    assert (last.action, last.actor, last.details["signed"], last.details["sha256"]) == \
           ("audit.export", "aud", True, manifest["sha256"])


@pytest.mark.parametrize("which", ["file", "manifest", "sig"])
@pytest.mark.parametrize("where", [0, 0.5, -2])
def test_one_flipped_byte_in_any_file_fails(auditor_ctx, tmp_path, which, where) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "audit.jsonl"
    export_signed(auditor_ctx, AUD, "jsonl").write(path)
    target = {"file": path, "manifest": Path(f"{path}.manifest.json"), "sig": Path(f"{path}.sig")}[which]
    raw = bytearray(target.read_bytes())
    index = int(len(raw) * where) if isinstance(where, float) else where
    raw[index] ^= 0x01
    target.write_bytes(bytes(raw))
    problems = verify_export(path, public_key_pem=_pem(auditor_ctx))
    assert problems, f"a flipped byte in the {which} went unnoticed"
    expected = {"file": "file changed: its SHA-256 is",
                "manifest": "bad signature: the manifest or the signature was changed",
                "sig": "signature"}[which]
    assert any(expected in p for p in problems), problems


def test_missing_signature_is_named(auditor_ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.csv"
    export_signed(auditor_ctx, AUD, "csv").write(path)
    Path(f"{path}.sig").unlink()
    assert verify_export(path, public_key_pem=_pem(auditor_ctx)) == [f"signature {path}.sig is missing"]


def test_signature_from_another_key_fails(auditor_ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

    path = tmp_path / "a.jsonl"
    signed = export_signed(auditor_ctx, AUD, "jsonl")
    signed.write(path)
    other = Ed25519PrivateKey.generate()
    # a forger re-signs the (unchanged) manifest with their own key: the console's key refuses it
    Path(f"{path}.sig").write_bytes(base64.b64encode(other.sign(signed.manifest)) + b"\n")
    problems = verify_export(path, public_key_pem=_pem(auditor_ctx))
    assert len(problems) == 1 and problems[0].startswith("bad signature"), problems
    # the same with the forger's key id written into the manifest: the key is named
    from governance.audit_checkpoint import key_id
    from governance.audit_export import sign_manifest

    forged = {**json.loads(signed.manifest), "key_id": key_id(other.public_key())}
    body, sig = sign_manifest(forged, other)
    Path(f"{path}.manifest.json").write_bytes(body)
    Path(f"{path}.sig").write_bytes(sig)
    problems = verify_export(path, public_key_pem=_pem(auditor_ctx))
    assert problems == [f"signed by key {key_id(other.public_key())!r}, not by the given public key "
                        f"{key_id(load_pem_public_key(_pem(auditor_ctx)))}"]
    # and a genuine export checked with someone else's public key fails too
    signed.write(path)
    other_pem = other.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert verify_export(path, public_key_pem=other_pem)[0].startswith("signed by key")


def test_against_db_detects_a_rewritten_row(auditor_ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = auditor_ctx
    path = tmp_path / "a.csv"
    export_signed(ctx, AUD, "csv", action="model.view").write(path)
    assert check_against_db(ctx, AUD, path) == []
    target = ctx.audit.query(action="model.view")[2]
    with ctx.engine.begin() as conn:  # the database owner rewrites an entry and its hash
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET reason = 'nothing to see', hash = :h WHERE seq = :s"),
                     {"h": "f" * 64, "s": target.seq})
    assert verify_export(path, public_key_pem=_pem(ctx)) == []  # the files alone are intact
    problems = check_against_db(ctx, AUD, path)
    assert f"seq {target.seq}: changed in the database since the export" in problems[0]
    assert any("no longer hash to the manifest's entries_sha256" in p for p in problems)
    last = ctx.audit.head()
    assert (last.action, last.outcome) == ("audit.verify_export", "failed")
    with pytest.raises(PermissionDenied):
        check_against_db(ctx, Actor("vic", "cli"), path)


def test_key_files_are_private_and_reused(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    key = signing_key(sqlite_ctx.settings)
    path = key_path(sqlite_ctx.settings)
    assert path == sqlite_ctx.settings.data_dir / "keys" / "export-signing.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = signing_key(sqlite_ctx.settings)
    raw = [k.public_key().public_bytes_raw() for k in (key, again)]
    assert raw[0] == raw[1]
    assert public_key_path(path).read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def _make_key(settings, barrier, queue) -> None:  # type: ignore[no-untyped-def]
    barrier.wait()
    queue.put(signing_key(settings).public_key().public_bytes_raw().hex())


def test_two_processes_creating_the_key_at_once_end_with_one(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    mp = multiprocessing.get_context("fork")
    n = 4
    barrier, queue = mp.Barrier(n), mp.Queue()
    procs = [mp.Process(target=_make_key, args=(sqlite_ctx.settings, barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    keys = {queue.get(timeout=5) for _ in range(n)}
    assert len(keys) == 1
    on_disk = signing_key(sqlite_ctx.settings).public_key().public_bytes_raw().hex()
    assert keys == {on_disk}
    assert sorted(os.listdir(key_path(sqlite_ctx.settings).parent)) == ["export-signing.pem", "export-signing.pub.pem"]


def test_pii_masked_for_auditor_and_unmasked_access_audited(auditor_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = auditor_ctx
    ctx.audit.append(ADMIN, "model.explain", "breast-cancer", reason="request r1: patient_zip=90210 rejected",
                     details={"features": {"patient_zip": "90210", "site": "north"}})
    ctx.audit.append(ADMIN, "note", "*", details={"f_patient_zip": "90210"})
    ctx.audit.append(ADMIN, "model.view", "diabetes", details={"patient_zip": "kept: not PII in diabetes"})
    masked = export_signed(ctx, AUD, "jsonl")
    assert b"90210" not in masked.data
    rows = [json.loads(line) for line in masked.data.decode().splitlines()]
    explain = next(r for r in rows if r["action"] == "model.explain")
    assert json.loads(explain["details"]) == {"features": {"patient_zip": "***", "site": "north"}}
    assert explain["reason"] == "request r1: patient_zip=*** rejected"
    assert json.loads(next(r for r in rows if r["action"] == "note")["details"]) == {"f_patient_zip": "***"}
    assert "kept: not PII in diabetes" in masked.data.decode()
    assert json.loads(masked.manifest)["pii_masked"] == {"breast-cancer": ["patient_zip"]}
    assert ctx.audit.head().details["pii"] == {"masked": ["breast-cancer"], "unmasked": []}

    full = export_signed(ctx, ADMIN, "csv")  # an admin holds model.view_pii: unmasked, and audited so
    assert full.data.count(b"90210") == 3
    assert json.loads(full.manifest)["pii_masked"] == {}
    assert ctx.audit.head().details["pii"] == {"masked": [], "unmasked": ["breast-cancer"]}


def test_against_db_reapplies_the_masking(auditor_ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = auditor_ctx
    ctx.audit.append(ADMIN, "model.explain", "breast-cancer", details={"patient_zip": "90210"})
    path = tmp_path / "a.jsonl"
    export_signed(ctx, AUD, "jsonl").write(path)
    assert check_against_db(ctx, AUD, path) == []



def test_a_pdf_export_is_the_report_of_its_entries_and_verifies(auditor_ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The PDF report (governance.audit_report) of the matching entries, tied to its manifest by the
    entries hash in every footer and in its Subject; one changed byte fails verification."""
    from pypdf import PdfReader

    ctx = auditor_ctx
    expected = [r.seq for r in ctx.audit.query(action="model.view")]
    path = tmp_path / "report.pdf"
    signed = export_signed(ctx, AUD, "pdf", file_name="report.pdf", action="model.view")
    signed.write(path)
    manifest = json.loads(signed.manifest)
    assert (manifest["format"], manifest["entries"]) == ("pdf", len(expected))
    reader = PdfReader(path)
    assert reader.metadata.subject == f"{len(expected)} audit entries; entries SHA-256 {manifest['entries_sha256']}"
    pages = [page.extract_text() for page in reader.pages]
    assert all(manifest["entries_sha256"] in text.replace("\n", "") for text in pages)
    assert "model.view" in pages[0] and f"by {AUD.username}" in " ".join(pages[0].split())
    assert verify_export(path, public_key_pem=_pem(ctx)) == []
    assert check_against_db(ctx, AUD, path) == []
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert any("sha256" in p.lower() or "changed" in p for p in verify_export(path, public_key_pem=_pem(ctx)))
    path.write_bytes(signed.data)
    with ctx.engine.begin() as conn:  # a rewritten entry inside the report's range
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE seq = :s"), {"s": expected[1]})
    problems = check_against_db(ctx, AUD, path)
    assert len(problems) == 1 and "no longer hash to the manifest's entries_sha256" in problems[0]


def test_signed_export_matches_the_live_chain_on_each_backend(ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    access.bootstrap_admin(ctx, "root", "root-password")
    for i in range(3):
        ctx.audit.append(Actor("ann", "ui"), "model.view", "diabetes", details={"i": i})
    path = tmp_path / "a.jsonl"
    signed = export_signed(ctx, ADMIN, "jsonl", actor="ann")
    signed.write(path)
    assert json.loads(signed.manifest)["entries"] == 3
    assert verify_export(path, public_key_pem=_pem(ctx)) == []
    assert check_against_db(ctx, ADMIN, path) == []


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_awkward_text_survives_the_round_trip(sqlite_ctx, tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    add_user(sqlite_ctx, "aud", "auditor")
    awkward = ['quote " and \\ backslash', "tab\tnew\nline\r\nend", "ünïcødé ✓ 🚀", "\u2028\u2029", "a,b;c", ""]
    for text_value in awkward:
        sqlite_ctx.audit.append(Actor("ann", "ui", "2001:db8::1"), "model.view", "diabetes", reason=text_value,
                                details={"k": text_value})
    path = tmp_path / f"a.{fmt}"
    export_signed(sqlite_ctx, AUD, fmt, action="model.view").write(path)
    assert verify_export(path, public_key_pem=_pem(sqlite_ctx)) == []
    from governance.audit_export import parse_rows

    assert [r["reason"] for r in parse_rows(fmt, path.read_bytes())] == awkward


@pytest.mark.parametrize(("text_value", "expected"), [
    ("patient_zip=90210 rejected", "patient_zip=*** rejected"),
    ('raw {"patient_zip": "90 210", "site": "north"}', 'raw {"patient_zip": ***, "site": "north"}'),
    ("f_patient_zip: 90210; next", "f_patient_zip: ***; next"),
    ("missing field: features.patient_zip", "missing field: features.patient_zip"),  # a name, no value
    ("patient_zipcode=1", "patient_zipcode=1"),  # another field
])
def test_mask_text_hides_the_value_after_a_pii_name(text_value: str, expected: str) -> None:
    from governance.audit_pii import mask_text

    assert mask_text(text_value, ["patient_zip"]) == expected
