"""Anchoring the audit chain outside the database: signed checkpoints of its head.

The hash chain (governance.audit) catches an edited, inserted or deleted entry, but not someone
who can write the table directly (the database owner: triggers off, edit, recompute every later
hash) and not a deleted tail. A *checkpoint* closes that gap: the chain head ``(seq, hash,
count, time)`` signed with an Ed25519 key and written to a place the database role cannot
rewrite. ``verify`` then requires the entry at each checkpoint's ``seq`` to still carry the
checkpointed hash (a rewrite changes it) and the chain to reach that ``seq`` (a deleted tail
does not). Checkpoints are read and written through the sinks of governance.audit_sinks (a
directory on any fsspec filesystem, an append-only local ``.jsonl`` file, a webhook).

Why Ed25519 rather than HMAC: a verifier (the Audit page, ``jobs.audit verify``, an external
auditor) needs only the *public* key, which cannot sign; with HMAC every verifier would hold
a key that forges checkpoints. The private key is given to the checkpoint job only.

Environment (read here, not in core.settings, to keep this feature in one module):
``VIGIL_AUDIT_CHECKPOINT_URL`` (comma-separated sinks), ``VIGIL_AUDIT_CHECKPOINT_KEY_FILE`` or
``VIGIL_AUDIT_CHECKPOINT_KEY`` (PEM Ed25519 private key; signing), and
``VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE`` or ``VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY`` (PEM public
key; verifying; defaults to the public half of the private key).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from core.errors import ConfigError, ServiceUnavailable, VigilError
from governance.audit_chain import FIELDS, GENESIS, VerifyReport, canonical_json, utc_ts
from governance.audit_sinks import ENV_URL, CheckpointSink, make_sink
from governance.tables import AuditEntry

ENV_KEY, ENV_KEY_FILE = "VIGIL_AUDIT_CHECKPOINT_KEY", "VIGIL_AUDIT_CHECKPOINT_KEY_FILE"
ENV_PUBLIC_KEY = "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY"
ENV_PUBLIC_KEY_FILE = "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE"
KIND = "vigil-audit-checkpoint"
ALG = "ed25519"
DEFAULT_CHECKED = 10  # newest checkpoints per location that verify checks
NOT_CONFIGURED = (f"no audit checkpoint location configured ({ENV_URL}): a rewrite of the chain by the "
                  "database owner, or a deleted tail, cannot be detected")


class AnchorBroken(VigilError):
    """The chain no longer matches a checkpoint (or one is forged): nothing may be anchored."""


# -- checkpoints -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str
    count: int
    ts: str
    key_id: str
    signature: str = ""

    def payload(self) -> bytes:
        """The signed bytes: canonical JSON of every field but the signature."""
        return canonical_json({"kind": KIND, "alg": ALG, "seq": self.seq, "head": self.head,
                               "count": self.count, "ts": self.ts, "key_id": self.key_id}).encode("utf-8")

    def to_json(self) -> str:
        doc = json.loads(self.payload())
        doc["sig"] = self.signature
        return canonical_json(doc)

    @property
    def name(self) -> str:
        stamp = self.ts.replace("-", "").replace(":", "").replace(".", "")
        return f"{self.seq:012d}-{stamp}.json"

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        try:
            doc = json.loads(text)
            if doc.get("kind") != KIND or doc.get("alg") != ALG:
                raise ValueError(f"not an {ALG} {KIND}")
            cp = cls(seq=doc["seq"], head=doc["head"], count=doc["count"], ts=doc["ts"],
                     key_id=doc["key_id"], signature=doc["sig"])
            if not (isinstance(cp.seq, int) and isinstance(cp.count, int) and cp.seq >= 0
                    and all(isinstance(v, str) for v in (cp.head, cp.ts, cp.key_id, cp.signature))):
                raise ValueError("fields of the wrong type")
            return cp
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a checkpoint ({exc})") from None


def key_id(public_key: Any) -> str:
    """First 16 hex digits of SHA-256 of the raw public key: names the key in each checkpoint."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(cp: Checkpoint, private_key: Any) -> Checkpoint:
    cp = replace(cp, key_id=key_id(private_key.public_key()), signature="")
    return replace(cp, signature=base64.b64encode(private_key.sign(cp.payload())).decode("ascii"))


def signature_problem(cp: Checkpoint, public_key: Any) -> str | None:
    """None when ``cp`` was signed by the private half of ``public_key``; else why not."""
    from cryptography.exceptions import InvalidSignature

    expected = key_id(public_key)
    if cp.key_id != expected:
        return f"signed by key {cp.key_id[:16]!r}, not by the configured key {expected}"
    try:
        public_key.verify(base64.b64decode(cp.signature, validate=True), cp.payload())
    except (InvalidSignature, ValueError):
        return "bad signature: the checkpoint was edited or forged"
    return None


# -- configuration -----------------------------------------------------------------------------
def _pem(text: str | None, file: str | None, file_var: str) -> bytes | None:
    if file:
        try:
            return Path(file).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{file_var}: cannot read {file}: {exc.strerror or exc}") from None
    return text.encode("utf-8") if text else None


@dataclass(frozen=True)
class AnchorConfig:
    """Where checkpoints go and the keys that sign and check them (empty: not configured)."""

    sinks: tuple[CheckpointSink, ...] = ()
    private_pem: bytes | None = field(default=None, repr=False)
    public_pem: bytes | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, urls: Iterable[str] | None = None
                 ) -> AnchorConfig:
        from core.settings import Settings

        s = Settings.from_env(env)
        wanted = list(urls) if urls is not None else (s.audit_checkpoint_url or "").split(",")
        sinks = tuple(make_sink(u.strip()) for u in wanted if u.strip())
        return cls(sinks, _pem(s.audit_checkpoint_key, s.audit_checkpoint_key_file, ENV_KEY_FILE),
                   _pem(s.audit_checkpoint_public_key, s.audit_checkpoint_public_key_file, ENV_PUBLIC_KEY_FILE))

    @property
    def configured(self) -> bool:
        return bool(self.sinks)

    def private_key(self) -> Any:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        if self.private_pem is None:
            raise ConfigError(f"{ENV_KEY_FILE} (or {ENV_KEY}) must name the Ed25519 private key that "
                              "signs audit checkpoints")
        try:
            key = load_pem_private_key(self.private_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{ENV_KEY_FILE}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{ENV_KEY_FILE}: the checkpoint key must be Ed25519, "
                              f"not {type(key).__name__}")
        return key

    def public_key(self) -> Any:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        if self.public_pem is None:
            if self.private_pem is None:
                raise ConfigError(f"{ENV_PUBLIC_KEY_FILE} (or {ENV_PUBLIC_KEY}) must name the Ed25519 "
                                  "public key that checks audit checkpoints")
            return self.private_key().public_key()
        try:
            key = load_pem_public_key(self.public_pem)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{ENV_PUBLIC_KEY_FILE}: not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{ENV_PUBLIC_KEY_FILE}: the checkpoint key must be Ed25519")
        return key


# -- reading checkpoints and the chain -----------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """One checkpoint as read from a sink (``problem`` when it cannot be trusted)."""

    location: str
    checkpoint: Checkpoint | None
    problem: str | None = None


def read_checkpoints(config: AnchorConfig, public_key: Any, limit: int = DEFAULT_CHECKED) -> list[Found]:
    """The newest ``limit`` checkpoints of every readable sink, each with its signature checked."""
    found: list[Found] = []
    for sink in config.sinks:
        if not sink.readable:
            continue
        for location, text in sink.newest(limit):
            try:
                cp = Checkpoint.from_json(text)
            except ValueError as exc:
                found.append(Found(location, None, str(exc)))
                continue
            found.append(Found(location, cp, signature_problem(cp, public_key)))
    return found


def _hashes_at(engine: Engine, seqs: Iterable[int]) -> dict[int, str]:
    wanted = sorted({s for s in seqs if s > 0})
    out: dict[int, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            out.update(conn.execute(select(AuditEntry.seq, AuditEntry.hash)
                                    .where(AuditEntry.seq.in_(chunk))).tuples().all())
    return out


def _problem(found: Found, count: int, hashes: Mapping[int, str], purged_seq: int = 0,
             purged_head: str = "") -> tuple[int | None, str] | None:
    """(seq, message naming the checkpoint) when the chain contradicts ``found``; None if it agrees.

    After a purge (governance.audit_retention) the entries up to ``purged_seq`` are gone: a
    checkpoint at the cut must match the recorded ``purged_head``; an older one is past proving.
    """
    cp, where = found.checkpoint, found.location
    if cp is None or found.problem:
        seq = cp.seq if cp is not None else None
        return seq, f"checkpoint {where}: {found.problem}"
    if 0 < cp.seq <= purged_seq:
        if cp.seq == purged_seq and cp.head != purged_head:
            return cp.seq, (f"checkpoint {where} ({cp.ts}) recorded hash {cp.head[:16]}... for seq {cp.seq}, "
                            f"the purge record says {purged_head[:16]}...: the purge record was edited")
        return None
    if cp.seq > count:
        return count + 1, (f"checkpoint {where} ({cp.ts}) recorded {cp.seq} entries but the chain has only "
                           f"{count}: entries {count + 1}..{cp.seq} were deleted (tail deletion)")
    actual = GENESIS if cp.seq == 0 else hashes.get(cp.seq)
    if actual != cp.head:
        return cp.seq, (f"checkpoint {where} ({cp.ts}) recorded hash {cp.head[:16]}... for seq {cp.seq}, "
                        f"the entry now has {str(actual)[:16]}...: the chain was rewritten after the "
                        "checkpoint was taken")
    return None


def check_checkpoints(engine: Engine, report: VerifyReport, config: AnchorConfig,
                      limit: int = DEFAULT_CHECKED) -> VerifyReport:
    """``report`` (a verified chain) checked against the newest checkpoints of every sink."""
    if not report.ok:
        return report
    if not config.configured:
        return replace(report, warning=NOT_CONFIGURED)
    if not any(s.readable for s in config.sinks):
        return replace(report, warning="audit checkpoints go to a webhook only: verify cannot read them "
                                       "(check a stored copy with --anchor)")
    found = read_checkpoints(config, config.public_key(), limit)
    if not found:
        where = ", ".join(s.label for s in config.sinks if s.readable)
        return replace(report, warning=f"no audit checkpoint at {where} yet: "
                                       "run python -m jobs.audit checkpoint")
    # a record that is not a checkpoint at all (a write cut short) hides nothing that deleting it
    # would not: it is reported as a warning; a readable checkpoint must have a valid signature
    unreadable = [f for f in found if f.checkpoint is None]
    found = [f for f in found if f.checkpoint is not None]
    warning = (f"ignored {len(unreadable)} unreadable checkpoint record(s), e.g. {unreadable[0].location}: "
               f"{unreadable[0].problem}" if unreadable else "")
    if not found:
        return replace(report, warning=warning)
    hashes = _hashes_at(engine, (f.checkpoint.seq for f in found))  # type: ignore[union-attr]
    problems = [p for f in found
                if (p := _problem(f, report.count, hashes, report.purged_seq, report.purged_head)) is not None]
    if problems:
        seq, message = min(problems, key=lambda p: (p[0] is None, p[0] or 0))
        more = f" (and {len(problems) - 1} more checkpoint problem(s))" if len(problems) > 1 else ""
        return replace(report, ok=False, broken_seq=seq, problem=message + more, warning=warning)
    latest = max((f.checkpoint for f in found if f.checkpoint is not None), key=lambda c: (c.seq, c.ts))
    return replace(report, anchored_seq=latest.seq, anchored_at=latest.ts, warning=warning)


def _rows_after(engine: Engine, after: int, batch_size: int) -> Iterator[list[Any]]:
    stmt = (select(*[getattr(AuditEntry, f) for f in FIELDS]).where(AuditEntry.seq > after)
            .order_by(AuditEntry.seq))
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=batch_size).execute(stmt)
        for partition in result.partitions():
            yield list(partition)


def take_checkpoint(engine: Engine, config: AnchorConfig, *,
                    batch_size: int = 20_000) -> tuple[Checkpoint, list[str]]:
    """Check the chain since the newest trusted checkpoint, then sign its head and write it everywhere.

    Refuses (AnchorBroken) when the chain contradicts a checkpoint, a checkpoint is forged, or the
    chain after the newest checkpoint is broken: a rewritten chain is never anchored.
    """
    from governance.audit_retention import chain_start
    from governance.audit_verify import check_rows

    if not config.configured:
        raise ConfigError(f"{ENV_URL} is not set: nowhere to write audit checkpoints")
    private_key = config.private_key()
    found = read_checkpoints(config, config.public_key(), limit=1)
    start = chain_start(engine, config)  # after a purge the chain starts at the recorded cut
    if start.problem is not None:
        raise AnchorBroken(f"BROKEN at seq {start.seq + 1}: {start.problem}")
    base_seq, base_head = start.seq, start.prev
    trusted = [f for f in found if f.checkpoint is not None and not f.problem]
    for f in found:  # an unreadable record (a write cut short) is skipped: the chain is checked further
        if f.checkpoint is not None and f.problem:
            raise AnchorBroken(f"BROKEN at seq {f.checkpoint.seq}: checkpoint {f.location}: {f.problem}")
    if trusted:
        newest = max(trusted, key=lambda f: (f.checkpoint.seq, f.checkpoint.ts))  # type: ignore[union-attr]
        hashes = _hashes_at(engine, [newest.checkpoint.seq])  # type: ignore[union-attr]
        with engine.connect() as conn:
            last = conn.execute(select(func.max(AuditEntry.seq))).scalar_one() or 0
        problem = _problem(newest, int(last), hashes, start.seq, start.prev)
        if problem is not None:
            raise AnchorBroken(f"BROKEN at seq {problem[0]}: {problem[1]}")
        if newest.checkpoint.seq > start.seq:  # type: ignore[union-attr]
            base_seq, base_head = newest.checkpoint.seq, newest.checkpoint.head  # type: ignore[union-attr]
    expected, head, broken = check_rows(_rows_after(engine, base_seq, batch_size), base_seq + 1, base_head)
    if broken is not None:
        raise AnchorBroken(f"BROKEN at seq {broken[0]}: {broken[1]}")
    seq = expected - 1
    cp = sign(Checkpoint(seq=seq, head=head, count=seq, ts=utc_ts(), key_id=""), private_key)
    written, failures = [], []
    for sink in config.sinks:
        try:
            written.append(sink.write(cp))
        except ServiceUnavailable as exc:
            failures.append(str(exc))
    if failures:
        done = f" (written to {', '.join(written)})" if written else ""
        raise ServiceUnavailable("; ".join(failures) + done)
    return cp, written


def write_checkpoint(ctx: Any, actor: Any, config: AnchorConfig) -> tuple[Checkpoint, list[str]]:
    """The service behind ``jobs.audit checkpoint``: needs ``audit.checkpoint``; the outcome,
    a refusal to sign a broken chain included, is itself audited."""
    from governance.rbac import Action, require

    require(ctx, actor, Action.AUDIT_CHECKPOINT, "*")
    try:
        cp, written = take_checkpoint(ctx.engine, config)
    except AnchorBroken as exc:
        ctx.audit.append(actor, "audit.checkpoint", "audit_log", "failed", reason=str(exc)[:500])
        raise
    ctx.audit.append(actor, "audit.checkpoint", "audit_log", "success",
                     details={"seq": cp.seq, "head": cp.head, "ts": cp.ts, "key_id": cp.key_id,
                              "written": written})
    return cp, written
