"""Signed audit exports: a file, its manifest, and an Ed25519 signature over the manifest.

``export_signed`` renders the entries matching a query as CSV, JSON lines or a PDF report
(governance.audit_report) through governance.audit.run_export (the one export path: permission
``audit.export``, PII masking, the export's own audit entry) and returns three things, written
side by side as ``FILE``, ``FILE.manifest.json`` and ``FILE.sig``:

- the **manifest**: canonical JSON (sorted keys, no spaces, UTF-8) naming the file, its format,
  SHA-256 and size, ``entries_sha256`` (SHA-256 of the exported entries as canonical JSON lines,
  the same whatever the format: a JSONL export's own hash; the PDF prints it in its footer), the
  query, the number of entries, the first and last seq, the chain head (seq, hash) when the
  export was made, who made it and when, the console version, the signing key's id and the PII
  features masked;
- the **signature**: Ed25519 over the manifest's bytes, stored as one line of base64 (88
  characters and a newline).

The signing key: governance.export_keys (configured, or generated on first use into the data
directory). ``verify_export`` needs only the public key: an auditor checks a file on a machine
with the console's package and nothing else.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.actor import Actor
from core.errors import InvalidInput
from governance.audit import FIELDS, ExportBatch, canonical_json, render_rows, run_export, utc_ts
from governance.audit_checkpoint import key_id
from governance.export_keys import (  # noqa: F401  (re-exported: the signing key's public names)
    existing_public_pem,
    export_public_key,
    key_path,
    load_public,
    public_key_path,
    public_pem,
    signing_key,
)

KIND = "vigil-audit-export"
MANIFEST_SUFFIX, SIG_SUFFIX = ".manifest.json", ".sig"
MIME = {"csv": "text/csv", "jsonl": "application/jsonl", "pdf": "application/pdf", "zip": "application/zip"}
QUERY_KEYS = ("since", "until", "actor", "action", "outcome", "resource")  # AuditLog.query's filters
PACK_ENTRIES = "audit_entries.jsonl"  # the audit entries inside an evidence pack (format zip)


# -- the console's version -------------------------------------------------------------------
def console_version() -> str:
    """The installed package's version, else pyproject.toml's, else ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vigil")
    except PackageNotFoundError:
        pass
    try:
        import tomllib

        with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "unknown"


# -- exporting ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedExport:
    data: bytes
    manifest: bytes
    signature: bytes  # the FILE.sig content: base64 of the raw Ed25519 signature and a newline
    name: str

    @property
    def mime(self) -> str:
        return MIME[json.loads(self.manifest)["format"]]

    def files(self) -> dict[str, bytes]:
        """``{file name: bytes}`` of the three files."""
        return {self.name: self.data, self.name + MANIFEST_SUFFIX: self.manifest, self.name + SIG_SUFFIX: self.signature}

    def write(self, path: Path | str) -> list[Path]:
        """Write FILE, FILE.manifest.json and FILE.sig (each atomically); the paths written."""
        from core.artifacts import atomic_write_bytes

        path = Path(path)
        out = [path, Path(f"{path}{MANIFEST_SUFFIX}"), Path(f"{path}{SIG_SUFFIX}")]
        for target, content in zip(out, (self.data, self.manifest, self.signature), strict=True):
            atomic_write_bytes(target, content)
        return out

    def zip_bytes(self) -> bytes:
        """One zip holding the three files (the Audit page's download)."""
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in self.files().items():
                zf.writestr(name, content)
        return buffer.getvalue()


def entries_sha256(records: list[Any]) -> str:
    """SHA-256 of the entries as canonical JSON lines (a JSONL export's exact bytes)."""
    return hashlib.sha256(render_rows("jsonl", records)).hexdigest()


def encode_signature(raw: bytes) -> bytes:
    return base64.b64encode(raw) + b"\n"


def sign_manifest(manifest: Mapping[str, Any], private_key: Any) -> tuple[bytes, bytes]:
    """(manifest bytes, FILE.sig bytes)."""
    body = canonical_json(dict(manifest)).encode("utf-8")
    return body, encode_signature(private_key.sign(body))


def signed_file(data: bytes, name: str, fmt: str, *, records: list[Any], query: Mapping[str, Any],
                head: Any, generated_by: str, generated_at: datetime, masked: Mapping[str, list[str]],
                key: Any, extra: Mapping[str, Any] | None = None,
                entries_digest: str | None = None) -> SignedExport:
    """``data`` with its manifest (see the module docstring) signed by ``key`` (``entries_digest``:
    :func:`entries_sha256` of ``records`` when the caller has it already)."""
    manifest = {
        "kind": KIND, "alg": "ed25519", "file": name, "format": fmt,
        "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
        "entries_sha256": entries_digest or entries_sha256(records), "query": dict(query), "entries": len(records),
        "first_seq": records[0].seq if records else None, "last_seq": records[-1].seq if records else None,
        "chain_head": {"seq": head.seq if head else 0, "hash": head.hash if head else None},
        "generated_by": generated_by, "generated_at": utc_ts(generated_at),
        "console_version": console_version(), "key_id": key_id(key.public_key()), "pii_masked": dict(masked),
        **(extra or {}),
    }
    body, sig = sign_manifest(manifest, key)
    return SignedExport(data, body, sig, name)


def _normal_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The query as recorded in the manifest (datetimes as the log's own UTC timestamps)."""
    out: dict[str, Any] = {}
    for k, v in filters.items():
        if v is None or v == "":
            continue
        out[k] = utc_ts(v) if isinstance(v, datetime) else v
    return out


def export_signed(ctx: Any, actor: Actor, fmt: str, /, *, file_name: str | None = None,
                  **filters: Any) -> SignedExport:
    """Render the entries matching ``filters`` as ``fmt`` (csv, jsonl, pdf), with a signed
    manifest; needs ``audit.export``, masks PII (governance.audit_pii) and is audited."""
    query = _normal_filters(filters)
    key = signing_key(ctx.settings)  # a key problem stops the export before anything is audited
    kid = key_id(key.public_key())
    out: dict[str, SignedExport] = {}

    def build(batch: ExportBatch) -> tuple[bytes, dict[str, Any]]:
        now = datetime.now(UTC)
        name = file_name or f"vigil-audit-{now:%Y%m%dT%H%M%SZ}.{fmt}"
        records = batch.records
        jsonl = render_rows("jsonl", records)
        digest = hashlib.sha256(jsonl).hexdigest()
        if fmt == "pdf":
            from governance.audit_report import render_pdf  # the PDF report (built beside this)

            scope = {**({k: str(v) for k, v in query.items()} or {"filters": "none: every entry of the log"}),
                     "seq range": f"{records[0].seq}-{records[-1].seq}" if records else "no entries",
                     "chain head at export": f"seq {batch.head.seq}" if batch.head else "empty log",
                     "PII masked": "; ".join(f"{m}: {', '.join(f)}" for m, f in batch.masked.items()) or "none"}
            data = render_pdf(records, scope=scope, verification=ctx.audit.verify().line(),
                              entries_sha256=digest, generated_by=actor.username, generated_at=now)
        else:
            data = jsonl if fmt == "jsonl" else render_rows(fmt, records)
        out["export"] = signed_file(data, name, fmt, records=records, query=query, head=batch.head,
                                    generated_by=actor.username, generated_at=now, masked=batch.masked, key=key,
                                    entries_digest=digest)
        return data, {"signed": True, "file": name, "sha256": hashlib.sha256(data).hexdigest(), "key_id": kid}

    run_export(ctx, actor, fmt, query, build)
    return out["export"]


# -- verifying ---------------------------------------------------------------------------------
def _read(path: Path, what: str, problems: list[str]) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{what} {path} is missing")
    except OSError as exc:
        problems.append(f"{what} {path} cannot be read: {exc.strerror or exc}")
    return None


def _signature_problem(body: bytes, sig_text: bytes, public_key: Any) -> str | None:
    from cryptography.exceptions import InvalidSignature

    try:
        raw = base64.b64decode(sig_text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 64 or encode_signature(raw) != sig_text:
        return "signature file is not one line of base64 holding a 64-byte Ed25519 signature (was it edited?)"
    try:
        public_key.verify(raw, body)
    except InvalidSignature:
        try:
            claimed = json.loads(body).get("key_id")
        except (ValueError, AttributeError):
            claimed = None
        expected = key_id(public_key)
        if isinstance(claimed, str) and claimed != expected:
            return f"signed by key {claimed[:16]!r}, not by the given public key {expected}"
        return "bad signature: the manifest or the signature was changed after signing, or another key signed it"
    return None


def parse_rows(fmt: str, data: bytes) -> list[dict[str, Any]]:
    """The exported rows of a CSV or JSONL export, or of an evidence pack's audit entries
    (raises ValueError when it is not one)."""
    if fmt == "zip":
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return parse_rows("jsonl", zf.read(PACK_ENTRIES))
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ValueError(f"not an evidence pack ({exc})") from None
    text = data.decode("utf-8")
    if fmt == "jsonl":
        # split on "\n" only: canonical JSON keeps U+2028 and the like raw, and splitlines() cuts there
        rows = [json.loads(line) for line in text.split("\n") if line.strip()]
        if not all(isinstance(r, dict) and set(r) == set(FIELDS) for r in rows):
            raise ValueError("a line is not an audit entry")
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != tuple(FIELDS):
        raise ValueError(f"the header is not {','.join(FIELDS)}")
    rows = []
    for r in reader:
        row: dict[str, Any] = dict(r)
        row["seq"] = int(row["seq"])
        row["client_addr"] = row["client_addr"] or None
        rows.append(row)
    return rows


def _rows_sha256(rows: list[dict[str, Any]]) -> str:
    return hashlib.sha256("".join(canonical_json(r) + "\n" for r in rows).encode("utf-8")).hexdigest()


def _format_problems(manifest: Mapping[str, Any], data: bytes) -> list[str]:
    fmt = manifest.get("format")
    if fmt not in MIME:
        return [f"manifest names an unknown format {fmt!r}"]
    if fmt == "pdf":
        return [] if data.startswith(b"%PDF-") else ["the file is not a PDF although the manifest says pdf"]
    try:
        rows = parse_rows(fmt, data)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        return [f"the file is not a {fmt} audit export: {exc}"]
    problems = []
    if len(rows) != manifest.get("entries"):
        problems.append(f"the file holds {len(rows)} entries, the manifest says {manifest.get('entries')}")
    if _rows_sha256(rows) != manifest.get("entries_sha256"):
        problems.append("the entries in the file do not hash to the manifest's entries_sha256")
    return problems


def load_manifest(path: Path | str) -> dict[str, Any]:
    return dict(json.loads(Path(f"{path}{MANIFEST_SUFFIX}").read_bytes()))


def verify_export(path: Path | str, *, public_key_pem: bytes | None = None, settings: Any = None) -> list[str]:
    """What is wrong with the export at ``path`` (empty: intact): the signature over
    FILE.manifest.json, the file's SHA-256 and size against the manifest, and its format.

    ``public_key_pem`` defaults to the console's own key (``settings``, else the environment)."""
    path = Path(path)
    if public_key_pem is None:
        from core.settings import Settings

        public_key_pem = existing_public_pem(settings or Settings.from_env())
    public_key = load_public(public_key_pem)
    problems: list[str] = []
    data = _read(path, "file", problems)
    body = _read(Path(f"{path}{MANIFEST_SUFFIX}"), "manifest", problems)
    sig = _read(Path(f"{path}{SIG_SUFFIX}"), "signature", problems)
    if body is None or sig is None:
        return problems
    bad_sig = _signature_problem(body, sig, public_key)
    if bad_sig:
        problems.append(bad_sig)
    try:
        manifest = json.loads(body)
        if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
            raise ValueError(f"not a {KIND} manifest")
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(f"manifest is not readable: {exc}")
        return problems
    if data is None:
        return problems
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.get("sha256") or len(data) != manifest.get("bytes"):
        problems.append(f"file changed: its SHA-256 is {digest}, the manifest says {manifest.get('sha256')}")
    else:
        problems.extend(_format_problems(manifest, data))
    return problems


def _live_hashes(engine: Any, seqs: list[int]) -> dict[int, str]:
    from sqlalchemy import select

    from governance.tables import AuditEntry

    out: dict[int, str] = {}
    with engine.connect() as conn:
        for i in range(0, len(seqs), 500):
            chunk = seqs[i:i + 500]
            out.update(conn.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(chunk))).all())
    return out


def check_against_db(ctx: Any, actor: Actor, path: Path | str) -> list[str]:
    """What no longer matches the live chain (empty: the export still matches): each exported
    row's hash at its seq (CSV, JSONL), the manifest's ``entries_sha256`` recomputed from the
    database with the same query, seq range and PII masking (every format, the PDF included),
    and the chain head at export time. Needs ``audit.read``; audited."""
    from governance.audit_pii import mask_record, model_names
    from governance.rbac import require

    require(ctx, actor, "audit.read", "*")
    path = Path(path)
    try:
        manifest = load_manifest(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the manifest of {path}: {exc}") from None
    problems: list[str] = []
    seqs_hashes: dict[int, str] = {}
    if manifest.get("format") in ("csv", "jsonl", "zip"):
        try:
            rows = parse_rows(manifest["format"], path.read_bytes())
            seqs_hashes = {int(r["seq"]): str(r["hash"]) for r in rows}
        except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
            problems.append(f"cannot read the exported rows: {exc}")
    head = manifest.get("chain_head") or {}
    wanted = sorted(set(seqs_hashes) | ({int(head["seq"])} if head.get("seq") else set()))
    live = _live_hashes(ctx.engine, wanted)
    for seq, exported in sorted(seqs_hashes.items()):
        if seq not in live:
            problems.append(f"seq {seq}: no longer in the database")
        elif live[seq] != exported:
            problems.append(f"seq {seq}: changed in the database since the export "
                            f"(hash {exported[:12]} exported, {live[seq][:12]} now)")
    if head.get("seq") and live.get(int(head["seq"])) != head.get("hash"):
        problems.append(f"the chain head at export time (seq {head['seq']}) no longer matches the database")
    first, last = manifest.get("first_seq"), manifest.get("last_seq")
    query = {k: v for k, v in (manifest.get("query") or {}).items() if k in QUERY_KEYS}
    records = ctx.audit.query(**query) if first is not None else []
    records = [r for r in records if first <= r.seq <= last]
    masked, models = manifest.get("pii_masked") or {}, model_names(ctx)
    records = [mask_record(r, masked, models) for r in records]
    if entries_sha256(records) != manifest.get("entries_sha256"):
        problems.append(f"the database's entries for this query (seq {first}..{last}: {len(records)} now, "
                        f"{manifest.get('entries')} exported) no longer hash to the manifest's entries_sha256")
    ctx.audit.append(actor, "audit.verify_export", "audit_log", "success" if not problems else "failed",
                     reason="; ".join(problems)[:1000],
                     details={"file": manifest.get("file"), "sha256": manifest.get("sha256"),
                              "problems": len(problems)})
    return problems
