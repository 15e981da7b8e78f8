"""Owns what the audit report says, computed once from the records: the counts behind its summary
tables and chart, and the display form of a user-typed value. Pure functions, no I/O, no clock;
governance.audit_report lays the result out as PDF or HTML, so both formats show the same numbers.

Which entries count as what (actions are the names the services audit under):
- a *refusal* is an entry with outcome ``denied`` (governance.rbac.require and its peers);
- an *access change* is a successful ``access.*`` (grant, revoke, bootstrap), ``user.*`` (create,
  set_password) or ``token.*`` (create, revoke) entry;
- a *release or rollback* is any ``release.*`` entry (request, approve, reject, expire, promote,
  deploy hook, alias restore), ``model.rollback`` or ``alias.external_change``, whatever its outcome.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from governance.audit_chain import OUTCOMES

if TYPE_CHECKING:
    from governance.audit import AuditRecord

ACCESS_PREFIXES = ("access.", "user.", "token.")
RELEASE_PREFIXES = ("release.",)
RELEASE_ACTIONS = ("model.rollback", "alias.external_change")
MAX_BARS = 62  # more days than this: the chart counts weeks, then months


@dataclass(frozen=True)
class ReportSummary:
    total: int
    first_seq: int | None
    last_seq: int | None
    first_ts: str
    last_ts: str
    by_outcome: tuple[tuple[str, int], ...]  # every outcome, in OUTCOMES order
    actions: tuple[tuple[str, tuple[int, ...]], ...]  # (action, counts in OUTCOMES order), busiest first
    refusals: tuple[tuple[str, str, int], ...]  # (actor, action, denied entries), most first
    access_changes: tuple[AuditRecord, ...]  # in seq order
    releases: tuple[AuditRecord, ...]  # in seq order
    bucket: str  # "day", "week" or "month": what one bar of the chart counts
    per_bucket: tuple[tuple[str, tuple[int, ...]], ...]  # (bucket label, counts in OUTCOMES order)


def is_access_change(record: AuditRecord) -> bool:
    return record.outcome == "success" and record.action.startswith(ACCESS_PREFIXES)


def is_release(record: AuditRecord) -> bool:
    return record.action.startswith(RELEASE_PREFIXES) or record.action in RELEASE_ACTIONS


def summarize(records: Sequence[AuditRecord]) -> ReportSummary:
    """The report's numbers; entries with an outcome outside OUTCOMES are counted in the total only."""
    by_outcome = Counter(r.outcome for r in records)
    per_action: dict[str, Counter[str]] = {}
    for r in records:
        per_action.setdefault(r.action, Counter())[r.outcome] += 1
    actions = sorted(((a, tuple(c[o] for o in OUTCOMES)) for a, c in per_action.items()),
                     key=lambda item: (-sum(item[1]), item[0]))
    refusals = Counter((r.actor, r.action) for r in records if r.outcome == "denied")
    bucket, per_bucket = _buckets(records)
    return ReportSummary(
        total=len(records),
        first_seq=min((r.seq for r in records), default=None),
        last_seq=max((r.seq for r in records), default=None),
        first_ts=min((r.ts for r in records), default=""),
        last_ts=max((r.ts for r in records), default=""),
        by_outcome=tuple((o, by_outcome[o]) for o in OUTCOMES),
        actions=tuple(actions),
        refusals=tuple((actor, action, n) for (actor, action), n in
                       sorted(refusals.items(), key=lambda item: (-item[1], item[0]))),
        access_changes=tuple(sorted((r for r in records if is_access_change(r)), key=lambda r: r.seq)),
        releases=tuple(sorted((r for r in records if is_release(r)), key=lambda r: r.seq)),
        bucket=bucket,
        per_bucket=per_bucket,
    )


def _day(ts: str) -> date | None:
    try:
        return date.fromisoformat(ts[:10])
    except ValueError:
        return None


def _buckets(records: Sequence[AuditRecord]) -> tuple[str, tuple[tuple[str, tuple[int, ...]], ...]]:
    """Entries per day (per ISO week from Monday, or per month, when there are more than MAX_BARS
    days) by outcome, every bucket between the first and the last entry included, empty ones too."""
    days = Counter((_day(r.ts), r.outcome) for r in records)
    known = [d for d, _ in days if d is not None]
    if not known:
        return "day", ()
    first, last = min(known), max(known)
    kinds = {
        "day": lambda d: d,
        "week": lambda d: d - timedelta(days=d.weekday()),
        "month": lambda d: d.replace(day=1),
    }
    for bucket, start_of in kinds.items():
        starts: list[date] = []
        d = start_of(first)
        while d <= last:
            starts.append(d)
            d = start_of(d + timedelta(days=32 if bucket == "month" else 7 if bucket == "week" else 1))
        if len(starts) <= MAX_BARS or bucket == "month":
            break
    index = {s: i for i, s in enumerate(starts)}
    counts = [[0] * len(OUTCOMES) for _ in starts]
    for (d, outcome), n in days.items():
        if d is not None and outcome in OUTCOMES:
            counts[index[start_of(d)]][OUTCOMES.index(outcome)] += n
    label = (lambda s: s.strftime("%Y-%m")) if bucket == "month" else (lambda s: s.isoformat())
    return bucket, tuple((label(s), tuple(c)) for s, c in zip(starts, counts, strict=True))


# -- display form of user-typed text ------------------------------------------------------------
def printable(text: object, drawable: Container[int], replacement: str) -> str:
    """``text`` as one line a report can draw: tab and line breaks become spaces; control and
    invisible format characters (bidirectional overrides, zero-width joiners) and characters the
    font has no glyph for (``drawable`` holds the code points it has) become ``replacement``, so
    nothing a user typed can hide, reorder or break the report's text."""
    text = "" if text is None else str(text)
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in "\t\n\r\x0b\x0c\u2028\u2029":
            out.append(" ")
        elif unicodedata.category(ch)[0] == "C" or ord(ch) not in drawable:
            out.append(replacement)
        else:
            out.append(ch)
    return "".join(out)


def short_ts(ts: str) -> str:
    """``2026-11-22T01:55:00.123456Z`` -> ``2026-11-22 01:55:00`` (UTC, to the second)."""
    return ts[:19].replace("T", " ") if len(ts) >= 19 and ts[10:11] == "T" else ts
