"""Benchmark: audit exports an auditor hands on (targets: a CSV of 100,000 entries under 10 s, the
PDF report of 10,000 entries under 30 s).

    python -m benchmarks.audit_export_speed [--entries 100000] [--pdf-entries 10000] [--runs 3]

Builds a fresh data directory whose SQLite audit log holds a valid chain of ``--entries`` entries
(benchmarks.audit_verify.build: the real migrations, hashes from governance.audit_chain), signs in
an auditor through the real services, then, ``--runs`` times each, times:

- ``governance.audit.export_audit(ctx, auditor, "csv")`` over those entries (permission check,
  query, CSV, the export's own audit entry); anchor in the same rounds: Python's ``csv`` module
  writing the same rows read with plain ``sqlite3`` (no permission, no audit, no record objects);
- ``governance.audit_report.render_pdf`` of the first ``--pdf-entries`` entries (records already
  read); anchors: the CSV export of the same entries, and ``render_html`` of them.

Writes the "audit-export-speed" section of RESULTS.md with medians, CPU seconds and ratios.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
UNTIL = "2026-06-01T00:00:00.000000Z"  # the built entries are from January 2026; later ones are set-up


def _cpu() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds of ``runs`` calls, and the last call's result."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        started, cpu0 = time.perf_counter(), _cpu()
        result = fn()
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu() - cpu0)
    return walls, cpus, result


def plain_csv(db_path: Path, limit: int) -> bytes:
    """The anchor: the same columns and rows with sqlite3 and csv only."""
    from governance.audit_chain import COLUMNS, FIELDS

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    with sqlite3.connect(db_path) as conn:
        writer.writerows(("" if v is None else v for v in row) for row in conn.execute(
            f"SELECT {COLUMNS} FROM audit_log WHERE ts < ? ORDER BY seq LIMIT ?", (UNTIL, limit)))
    return buffer.getvalue().encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--pdf-entries", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = p.parse_args(argv)

    from pypdf import PdfReader

    from benchmarks.audit_verify import build
    from core.actor import Actor
    from core.context import AppContext
    from core.settings import Settings
    from governance import access, identity
    from governance.audit import export_audit
    from governance.audit_export import export_signed
    from governance.audit_report import render_html, render_pdf
    from governance.rbac import grant

    with tempfile.TemporaryDirectory(prefix="vigil-export-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        db_path = data_dir / "vigil.db"
        build_s = build(db_path, args.entries)
        settings = Settings.from_env({"VIGIL_DATA_DIR": str(data_dir),
                                      "VIGIL_CONFIG": str(REPO / "config" / "models.yaml")})
        ctx = AppContext.create(settings)
        admin = Actor("root", "cli")
        access.bootstrap_admin(ctx, "root", "root-password")
        identity.create_user(ctx, admin, "ada", "ada-password")
        grant(ctx, admin, "ada", "auditor", "*", reason="benchmark")
        auditor = Actor("ada", "cli")

        csv_s, csv_cpu, data = timed(lambda: export_audit(ctx, auditor, "csv", until=UNTIL), args.runs)
        rows = data.count(b"\n") - 1
        anchor_s, anchor_cpu, anchor = timed(lambda: plain_csv(db_path, args.entries), args.runs)
        assert rows == args.entries == anchor.count(b"\n") - 1, (rows, args.entries)

        records = ctx.audit.query(until=UNTIL, limit=args.pdf_entries)
        small_csv = export_audit(ctx, auditor, "csv", until=UNTIL, limit=args.pdf_entries)
        report = {"scope": {"until": UNTIL, "limit": args.pdf_entries},
                  "verification": ctx.audit.verify().line(),
                  "entries_sha256": hashlib.sha256(small_csv).hexdigest(), "generated_by": "ada",
                  "generated_at": datetime.now(UTC)}
        pdf_s, pdf_cpu, pdf = timed(lambda: render_pdf(records, **report), args.runs)
        csv10_s, _, _ = timed(lambda: export_audit(ctx, auditor, "csv", until=UNTIL, limit=args.pdf_entries),
                              args.runs)
        html_s, _, page = timed(lambda: render_html(records, **report), args.runs)
        # what an auditor runs (jobs.audit export --out, the Audit page): PII masking, the manifest,
        # the signature and, for the PDF, the chain verification line on its cover
        signed_csv_s, signed_csv_cpu, _ = timed(lambda: export_signed(ctx, auditor, "csv", until=UNTIL), args.runs)
        signed_pdf_s, signed_pdf_cpu, _ = timed(
            lambda: export_signed(ctx, auditor, "pdf", until=UNTIL, limit=args.pdf_entries), args.runs)
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        ctx.engine.dispose()

    med = statistics.median
    csv_verdict = "meets" if max(med(csv_s), med(signed_csv_s)) < 10 else "MISSES"
    pdf_verdict = "meets" if max(med(pdf_s), med(signed_pdf_s)) < 30 else "MISSES"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    markdown = "\n".join([
        f"## audit-export-speed: CSV export of {args.entries:,} entries, PDF report of {args.pdf_entries:,}",
        "",
        f"Machine: {_machine()}. Script: `python -m benchmarks.audit_export_speed`. SQLite audit log of "
        f"{args.entries:,} chained entries (built in {build_s:.1f} s), exported by an auditor.",
        "",
        f"| measure (median of {args.runs}) | wall s | CPU s | wall runs |",
        "|---|---|---|---|",
        f"| `export_audit(..., \"csv\")`, {args.entries:,} entries ({len(data) / 2**20:.1f} MiB; permission, "
        f"query, CSV, audit entry) | {med(csv_s):.2f} | {med(csv_cpu):.2f} | {runs(csv_s)} |",
        f"| anchor: `sqlite3` + `csv.writer`, same rows | {med(anchor_s):.2f} | {med(anchor_cpu):.2f} | "
        f"{runs(anchor_s)} |",
        f"| ratio export / anchor | {med(csv_s) / med(anchor_s):.1f} | | |",
        f"| `render_pdf`, {args.pdf_entries:,} entries ({pages} pages, {len(pdf) / 2**20:.1f} MiB) | "
        f"{med(pdf_s):.2f} | {med(pdf_cpu):.2f} | {runs(pdf_s)} |",
        f"| anchor: `export_audit(..., \"csv\")` of the same {args.pdf_entries:,} | {med(csv10_s):.2f} | | "
        f"{runs(csv10_s)} |",
        f"| `render_html`, same entries ({len(page) / 2**20:.1f} MiB) | {med(html_s):.2f} | | "
        f"{runs(html_s)} |",
        f"| ratio PDF / CSV of the same entries | {med(pdf_s) / med(csv10_s):.0f} | | |",
        f"| signed export as users run it, CSV of {args.entries:,} (`export_signed`: PII masking, manifest, "
        f"Ed25519 signature, audit entry) | {med(signed_csv_s):.2f} | {med(signed_csv_cpu):.2f} | "
        f"{runs(signed_csv_s)} |",
        f"| signed export as users run it, PDF of {args.pdf_entries:,} (plus the chain verification of the "
        f"whole log for its cover) | {med(signed_pdf_s):.2f} | {med(signed_pdf_cpu):.2f} | {runs(signed_pdf_s)} |",
        f"| targets | CSV of {args.entries:,} under 10 s: {csv_verdict}; PDF of {args.pdf_entries:,} under "
        f"30 s: {pdf_verdict} | | |",
        "",
        f"Load average at the end (1/5/15 min): {load}. The machine is shared, so wall times vary with other",
        "work; CPU seconds (this process) are the steadier figure. The PDF's cost is fpdf2 laying out one",
        f"cell per value ({args.pdf_entries * 7:,} in the entries table), each measured and shortened to its",
        "column.",
    ])
    print(markdown)
    if not args.no_write:
        from benchmarks._results import write_section

        write_section("audit-export-speed", markdown)
    return 0 if csv_verdict == pdf_verdict == "meets" else 1


def _machine() -> str:
    from benchmarks._results import machine_line

    return machine_line()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
