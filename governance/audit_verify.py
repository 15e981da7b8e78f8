"""Owns recomputing the audit chain quickly: one streaming pass, or seq ranges in parallel on
SQLite.

Per entry, in seq order (see governance.audit_chain for the hash):
1. ``seq`` is the previous seq + 1: a gap is a deleted entry, a smaller or repeated number an
   inserted or reordered one;
2. ``prev_hash`` equals the previous entry's stored ``hash``;
3. ``hash`` equals SHA-256 of the entry's canonical JSON, rebuilt here field by field with the
   same escaping ``json.dumps(ensure_ascii=False)`` uses (a unit test proves them equal).

Because rule 2 compares with the *stored* hash of the previous entry, every entry can be
checked knowing only its predecessor: a large SQLite log is split into seq ranges that worker
processes check at the same time (each reads the entry just before its range), and the first
problem of the lowest range is the first problem of the chain, the same answer as one pass.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from governance.audit_chain import COLUMNS, GENESIS, OUTCOMES, SOURCES, VerifyReport, encode

Problem = tuple[int, str]  # (seq, what is wrong)
PARALLEL_MIN_ENTRIES = 200_000


def check_rows(batches: Iterable[list[tuple[Any, ...]]], expected_seq: int, prev: str,
               progress: Callable[[int], None] | None = None) -> tuple[int, str, Problem | None]:
    """Check rows (batches of raw tuples in FIELDS order); return (next seq, last hash, problem)."""
    sha, enc = hashlib.sha256, encode
    quoted = {v: f'"{v}"' for v in (*OUTCOMES, *SOURCES)}
    for batch in batches:
        for row in batch:
            try:
                seq, ts, actor, action, resource, outcome, reason, details, source, addr, p, h = row
                if seq != expected_seq:
                    if seq > expected_seq:
                        return expected_seq, prev, (expected_seq, (
                            f"entry missing: expected seq {expected_seq}, next stored entry is seq {seq} "
                            "(deleted entries)"))
                    return expected_seq, prev, (expected_seq, (
                        f"entry out of order: seq {seq} appears where seq {expected_seq} was expected"))
                if p != prev:
                    return expected_seq, prev, (seq, (
                        f"prev_hash {p[:16]}... does not match the hash of seq {seq - 1} ({prev[:16]}...): "
                        "an entry was inserted, removed or replaced before it"))
                # p == prev is a hex digest (no escaping needed); outcome and source come from small
                # closed sets and are looked up; every other text is escaped as json.dumps does.
                a = "null" if addr is None else enc(addr)
                o = quoted.get(outcome) or enc(outcome)
                s = quoted.get(source) or enc(source)
                doc = (f'{{"action":{enc(action)},"actor":{enc(actor)},"client_addr":{a},'
                       f'"details":{enc(details)},"outcome":{o},"prev_hash":"{p}",'
                       f'"reason":{enc(reason)},"resource":{enc(resource)},"seq":{seq},'
                       f'"source":{s},"ts":{enc(ts)}}}')
                if sha(doc.encode("utf-8")).hexdigest() != h:
                    return expected_seq, prev, (seq, (
                        f"hash mismatch: the stored hash {str(h)[:16]}... does not match the entry's "
                        "content (the entry was edited)"))
                prev = h
                expected_seq += 1
            except (TypeError, ValueError, AttributeError, UnicodeError) as exc:  # NULLs, wrong types
                return expected_seq, prev, (expected_seq, f"malformed entry ({type(exc).__name__}: {exc})")
        if progress is not None:
            progress(expected_seq - 1)
    return expected_seq, prev, None


def _batches(cursor: Any, batch_size: int) -> Iterable[list[tuple[Any, ...]]]:
    while True:
        batch = cursor.fetchmany(batch_size)
        if not batch:
            return
        yield batch


def _check_range(path: str, lo: int | None, hi: int, batch_size: int,
                 first: tuple[int, str] = (1, GENESIS)) -> tuple[int, str, Problem | None]:
    """Worker: check entries with lo <= seq <= hi (lo None: from the chain's start ``first``, i.e.
    (seq 1, genesis), or the first entry kept by a purge and the recorded hash it chains from)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        if lo is None:
            expected, prev = first
            cursor = conn.execute(f"SELECT {COLUMNS} FROM audit_log WHERE seq <= ? ORDER BY seq", (hi,))
        else:
            before = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (lo - 1,)).fetchone()
            # a missing predecessor is reported by the range before this one
            expected, prev = lo, (before[0] if before else "<missing>")
            cursor = conn.execute(
                f"SELECT {COLUMNS} FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq", (lo, hi))
        expected, prev, problem = check_rows(_batches(cursor, batch_size), expected, prev)
        if problem is None and expected != hi + 1:
            problem = (expected, f"entry missing: expected seq {expected}, the next stored entry has a "
                                 "higher seq (deleted entries)")
        return expected, prev, problem
    finally:
        conn.close()


def verify_sqlite_parallel(path: str, *, workers: int, batch_size: int,
                           progress: Callable[[int], None] | None = None,
                           start: tuple[int, str] = (0, GENESIS)) -> VerifyReport | None:
    """Check a SQLite file's chain in ``workers`` processes; None when too small to be worth it.

    ``start`` is (last purged seq, its hash) after a purge (governance.audit_retention), else
    (0, genesis): the chain is checked from the entry after it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60) as conn:
        low, high = conn.execute("SELECT min(seq), max(seq) FROM audit_log").fetchone()
    cut, cut_hash = start
    if high is None or high - cut < PARALLEL_MIN_ENTRIES or workers < 2:
        return None
    step = -(-(high - cut) // workers)
    bounds = [(None if k == 0 else cut + k * step + 1, min(high, cut + (k + 1) * step)) for k in range(workers)]
    bounds = [(lo, hi) for lo, hi in bounds if lo is None or lo <= hi]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=len(bounds), mp_context=multiprocessing.get_context(method)) as pool:
        futures = [pool.submit(_check_range, path, lo, hi, batch_size, (cut + 1, cut_hash)) for lo, hi in bounds]
        results = []
        for future in futures:
            results.append(future.result())
            if progress is not None and results[-1][2] is None:
                progress(results[-1][0] - 1)
    for expected, prev, problem in results:
        if problem is not None:
            return VerifyReport(False, problem[0] - 1, prev, problem[0], problem[1])
    expected, prev, _ = results[-1]
    return VerifyReport(True, expected - 1, prev)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))
