"""A signed statement about the audit chain: "entry ``seq`` had hash ``head``" (Ed25519).

The checkpoints of governance.audit_anchor and the purge records of governance.audit_retention
are both this statement; this module holds it, with signing and checking, and depends on
nothing else of governance's audit modules so that both can use it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from governance.audit_chain import canonical_json

KIND = "vigil-audit-checkpoint"
ALG = "ed25519"


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
