"""Owns the audit hash chain's format: the hashed fields and their order, the canonical JSON,
one entry's hash, the genesis link, and the verification report. Pure: no database, no I/O.

governance.audit (the log: append, query, verify) and governance.audit_verify (the fast
recomputation) both build on it, so neither imports the other's internals.

Entry hash (one link of the chain)::

    hash = SHA-256( canonical_json({seq, ts, actor, action, resource, outcome, reason,
                                    details, source, client_addr, prev_hash}) )

where ``canonical_json`` is ``json.dumps(..., sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` encoded as UTF-8, ``details`` is itself the stored canonical JSON *text*
and the first entry's ``prev_hash`` is 64 zeros (:data:`GENESIS`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
OUTCOMES = ("success", "denied", "failed")
SOURCES = ("ui", "job", "cli", "mcp")
FIELDS = ("seq", "ts", "actor", "action", "resource", "outcome", "reason", "details", "source",
          "client_addr", "prev_hash", "hash")
COLUMNS = ", ".join(FIELDS)

encode = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses for str


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators, UTF-8 text: the one serialisation that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def utc_ts(moment: datetime | None = None) -> str:
    """ISO-8601 UTC with microseconds, e.g. ``2026-11-22T01:55:00.123456Z`` (sorts as text)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(seq: int, ts: str, actor: str, action: str, resource: str, outcome: str, reason: str,
               details: str, source: str, client_addr: str | None, prev_hash: str) -> str:
    """SHA-256 hex of the entry's canonical JSON (keys in sorted order, written out by hand).

    Equal, byte for byte, to ``canonical_json`` of the dict of these fields (a unit test checks
    it); building the string directly is what lets ``verify`` check a million entries quickly.
    """
    e = encode
    addr = "null" if client_addr is None else e(client_addr)
    doc = (f'{{"action":{e(action)},"actor":{e(actor)},"client_addr":{addr},'
           f'"details":{e(details)},"outcome":{e(outcome)},"prev_hash":{e(prev_hash)},'
           f'"reason":{e(reason)},"resource":{e(resource)},"seq":{int(seq)},'
           f'"source":{e(source)},"ts":{e(ts)}}}')
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()



@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    count: int
    head: str
    broken_seq: int | None = None
    problem: str = ""
    anchored_seq: int | None = None  # newest signed checkpoint the chain matches (governance.audit_anchor)
    anchored_at: str = ""
    warning: str = ""  # e.g. no checkpoint configured: the chain alone cannot catch a rewrite
    # the chain starts after a recorded purge (governance.audit_retention): entries 1..purged_seq
    # are gone and entry purged_seq + 1 chains from purged_head; ``count`` stays the head's seq
    purged_seq: int = 0
    purged_head: str = ""
    purged_at: str = ""
    purge_status: str = ""  # "signed", "unsigned" or "signature not checked (no checkpoint key)"

    def line(self) -> str:
        if self.ok:
            anchor = ("" if self.anchored_seq is None
                      else f" anchored at seq {self.anchored_seq}, {self.anchored_at}")
            if self.purged_seq:
                return (f"OK {self.count - self.purged_seq} entries (purged before seq {self.purged_seq + 1} "
                        f"on {self.purged_at[:10]}, {self.purge_status}) head={self.head}{anchor}")
            return f"OK {self.count} entries head={self.head}{anchor}"
        where = "" if self.broken_seq is None else f" at seq {self.broken_seq}"
        return f"BROKEN{where}: {self.problem}"
