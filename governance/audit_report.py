"""Owns the audit report a person reads: a PDF (fpdf2) and the same report as HTML, rendered from
audit records that the caller has already read with permission (governance.audit's export
service checks ``audit.export``, audits the export and signs the file; this module draws only).

The PDF: a cover (scope and period, who generated it and when, the chain verification line, the
entry count), summary tables (entries by outcome, actions by outcome, refusals by actor and action,
access changes, releases and rollbacks), a bar chart of entries per day by outcome, then every
entry (seq, time, actor, action, resource, outcome, reason; long values shortened with "…").
Every page's footer holds "page X of Y" and ``entries_sha256``. The numbers come from
governance.audit_report_summary, shared with the HTML.

Text is drawn with DejaVu Sans, the TrueType font matplotlib (a pinned dependency) ships, else the
system's copy; a character the font cannot draw (CJK, emoji) or an invisible control character
is shown as U+FFFD. Without either font it falls back to Helvetica (Latin-1). The same inputs
give the same bytes: the document's dates are ``generated_at``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.audit_chain import OUTCOMES
from governance.audit_report_summary import ReportSummary, printable, short_ts, summarize

if TYPE_CHECKING:
    from fpdf import FPDF

    from governance.audit import AuditRecord

TITLE = "Vigil audit report"
LIST_LIMIT = 300  # rows of the access-change and release lists; every entry is in the entries table
TABLE_LIMIT = 80  # rows of the action and refusal tables
OUTCOME_RGB = {"success": (46, 125, 50), "denied": (198, 40, 40), "failed": (239, 108, 0)}
ENTRY_COLUMNS = (("seq", 16), ("time (UTC)", 31), ("actor", 32), ("action", 36), ("resource", 42),
                 ("outcome", 16), ("reason", 0))  # width 0: the rest of the line
ROW_H = 4.2
NOTE = ("Long values are shortened with \u2026 and characters the report's font cannot draw (or invisible "
        "control characters) are shown as \ufffd; the CSV and JSONL exports hold every value exactly.")


def _font_dir() -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    candidates = [Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"] if spec and spec.origin else []
    candidates.append(Path("/usr/share/fonts/truetype/dejavu"))
    for folder in candidates:
        if (folder / "DejaVuSans.ttf").is_file() and (folder / "DejaVuSans-Bold.ttf").is_file():
            return folder
    return None


def _scope_lines(scope: dict[str, Any]) -> list[tuple[str, str]]:
    def shown(value: Any) -> str:
        if value is None or value == "":
            return "any"
        return value.isoformat() if isinstance(value, datetime) else str(value)

    return [(str(key), shown(value)) for key, value in scope.items()] or [("filters", "none (every entry)")]


# -- PDF ----------------------------------------------------------------------------------------
def _document(entries_sha256: str, generated_at: datetime) -> tuple[FPDF, set[int], str]:
    from fpdf import FPDF

    class Report(FPDF):
        def footer(self) -> None:
            self.set_y(-11)
            self.set_font(self.font_family, "", 7)
            self.set_text_color(90, 90, 90)
            self.cell(0, 4, f"{TITLE} \u00b7 entries SHA-256 {entries_sha256}")
            self.set_x(self.l_margin)
            self.cell(0, 4, f"page {self.page_no()} of {{nb}}", align="R")

    pdf = Report(orientation="landscape", unit="mm", format="A4")
    pdf.set_margins(10, 10, 10)
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_creation_date(generated_at)
    pdf.set_title(TITLE)
    pdf.set_creator("Vigil")
    folder = _font_dir()
    if folder is None:
        pdf.set_font("helvetica", size=9)
        return pdf, set(range(32, 127)) | set(range(160, 256)), "?"
    pdf.add_font("dejavu", "", str(folder / "DejaVuSans.ttf"))
    pdf.add_font("dejavu", "B", str(folder / "DejaVuSans-Bold.ttf"))
    pdf.set_font("dejavu", size=9)
    drawable = set(pdf.current_font.cmap)  # type: ignore[union-attr]
    return pdf, drawable, "\ufffd" if 0xFFFD in drawable else "?"


class _Writer:
    """fpdf2 plus the report's conventions: safe text, headings, tables that repeat their header."""

    def __init__(self, pdf: FPDF, drawable: set[int], replacement: str):
        self.pdf, self.drawable, self.replacement = pdf, drawable, replacement
        self.ellipsis = "\u2026" if 0x2026 in drawable else "..."
        self.family = pdf.font_family

    def text(self, value: object) -> str:
        return printable(value, self.drawable, self.replacement)

    def fit(self, value: str, width: float) -> str:
        """``value`` shortened with an ellipsis to fit a cell ``width`` mm wide (margins included)."""
        room = width - 2 * self.pdf.c_margin
        measure = self.pdf.get_string_width
        if measure(value) <= room:
            return value
        lo, hi = 0, len(value)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if measure(value[:mid] + self.ellipsis) <= room:
                lo = mid
            else:
                hi = mid - 1
        return value[:lo] + self.ellipsis

    def heading(self, title: str, size: int = 13) -> None:
        pdf = self.pdf
        if pdf.will_page_break(30):
            pdf.add_page()
        pdf.ln(3)
        pdf.set_font(self.family, "B", size)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(0, size * 0.55, self.text(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(self.family, "", 9)
        pdf.ln(1)

    def paragraph(self, value: str, size: float = 9) -> None:
        self.pdf.set_font(self.family, "", size)
        self.pdf.set_text_color(60, 60, 60)
        self.pdf.multi_cell(0, size * 0.5, self.text(value), align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(0, 0, 0)

    def table(self, columns: Sequence[tuple[str, float]], rows: Sequence[Sequence[object]], *,
              size: float = 7.5, outcome_col: int | None = None) -> None:
        """One line per row, values shortened to their column; the header repeats on a new page."""
        pdf = self.pdf
        fill_w = pdf.epw - sum(w for _, w in columns)
        widths = [w or fill_w for _, w in columns]
        h = size * 0.56

        def header() -> None:
            pdf.set_font(self.family, "B", size)
            pdf.set_fill_color(225, 230, 238)
            for (name, _), w in zip(columns, widths, strict=True):
                pdf.cell(w, h + 0.6, name, fill=True)
            pdf.ln(h + 0.6)
            pdf.set_font(self.family, "", size)

        header()
        pdf.set_fill_color(244, 246, 249)
        for i, row in enumerate(rows):
            if pdf.will_page_break(h):
                pdf.add_page()
                header()
                pdf.set_fill_color(244, 246, 249)
            for j, (value, w) in enumerate(zip(row, widths, strict=True)):
                if j == outcome_col:
                    pdf.set_text_color(*OUTCOME_RGB.get(str(value), (0, 0, 0)))
                pdf.cell(w, h, self.fit(self.text(value), w), fill=i % 2 == 1)
                if j == outcome_col:
                    pdf.set_text_color(0, 0, 0)
            pdf.ln(h)

    def chart(self, summary: ReportSummary, height: float = 60) -> None:
        """Stacked bars: entries per bucket, one colour per outcome, with a legend and a y scale."""
        pdf = self.pdf
        if not summary.per_bucket:
            self.paragraph("No entries in the period.")
            return
        if pdf.will_page_break(height + 20):
            pdf.add_page()
        x0, y0, width = pdf.l_margin + 12, pdf.get_y() + 2, pdf.epw - 12
        top = max(sum(counts) for _, counts in summary.per_bucket) or 1
        slot = min(width / len(summary.per_bucket), 14.0)  # one day's bar is not the page wide
        pdf.set_draw_color(150, 150, 150)
        pdf.line(x0, y0 + height, x0 + slot * len(summary.per_bucket), y0 + height)
        pdf.line(x0, y0, x0, y0 + height)
        pdf.set_font(self.family, "", 6.5)
        for value in sorted({top, top // 2, 0}):
            pdf.set_xy(pdf.l_margin, y0 + height * (1 - value / top) - 1.5)
            pdf.cell(11, 3, f"{value:,}", align="R")
        every = max(1, round(len(summary.per_bucket) / 12))  # about a dozen labels at most
        for i, (label, counts) in enumerate(summary.per_bucket):
            bottom = y0 + height
            for outcome, n in zip(OUTCOMES, counts, strict=True):
                if n:
                    bar = height * n / top
                    pdf.set_fill_color(*OUTCOME_RGB[outcome])
                    pdf.rect(x0 + i * slot + slot * 0.15, bottom - bar, slot * 0.7, bar, style="F")
                    bottom -= bar
            if i % every == 0:
                pdf.set_xy(x0 + i * slot - 8 + slot / 2, y0 + height + 0.5)
                pdf.cell(16, 3, label, align="C")
        pdf.set_xy(x0, y0 + height + 5)
        for outcome in OUTCOMES:
            pdf.set_fill_color(*OUTCOME_RGB[outcome])
            pdf.rect(pdf.get_x(), pdf.get_y() + 0.8, 3, 3, style="F")
            pdf.set_x(pdf.get_x() + 4)
            pdf.cell(22, 4.5, outcome)
        pdf.ln(7)


def _cover(w: _Writer, summary: ReportSummary, scope: dict[str, Any], verification: str,
           generated_by: str, generated_at: datetime, entries_sha256: str) -> None:
    pdf = w.pdf
    pdf.add_page()
    pdf.set_font(w.family, "B", 22)
    pdf.cell(0, 14, "Audit report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(w.family, "", 11)
    pdf.cell(0, 6, w.text("Vigil \u2014 the console's tamper-evident audit log (SHA-256 hash chain)"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    period = (f"{short_ts(summary.first_ts)} to {short_ts(summary.last_ts)} UTC (seq {summary.first_seq} "
              f"to {summary.last_seq})" if summary.total else "no entries")
    report = [("entries in this report", f"{summary.total:,}"), ("entries span", period),
              ("generated by", generated_by),
              ("generated at", f"{generated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"),
              ("entries SHA-256", entries_sha256)]
    for title, facts in (("Scope", _scope_lines(scope)), ("Report", report)):
        w.heading(title, 11)
        for key, value in facts:
            pdf.set_font(w.family, "B", 10)
            pdf.cell(70, 6, w.fit(w.text(key), 70))
            pdf.set_font(w.family, "", 10)
            pdf.multi_cell(0, 6, w.text(value), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    ok = verification.startswith("OK")
    pdf.set_font(w.family, "B", 12)
    pdf.set_text_color(*(OUTCOME_RGB["success"] if ok else OUTCOME_RGB["denied"]))
    pdf.cell(0, 8, "Chain verification: " + ("intact" if ok else "NOT intact"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(w.family, "", 9)
    pdf.multi_cell(0, 5, w.text(verification), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    w.paragraph("Each entry's hash covers its content and the previous entry's hash, so an edited, removed "
                "or reordered entry breaks the chain at that entry. The entries SHA-256 printed in every "
                "footer ties this report to the signed manifest of its export. " + NOTE)


def _summary_pages(w: _Writer, s: ReportSummary) -> None:
    w.pdf.add_page()
    w.heading("Summary")
    w.table([("outcome", 40), ("entries", 30)],
            [*((o, f"{n:,}") for o, n in s.by_outcome), ("total", f"{s.total:,}")], size=9)
    w.heading(f"Entries per {s.bucket} by outcome", 11)
    w.chart(s)
    w.heading("Actions by outcome", 11)
    _capped(w, [("action", 70), *((o, 24) for o in OUTCOMES), ("total", 24)],
            [(a, *(f"{n:,}" for n in c), f"{sum(c):,}") for a, c in s.actions], TABLE_LIMIT, "actions")
    w.heading("Refusals (outcome denied) by actor and action", 11)
    _capped(w, [("actor", 70), ("action", 70), ("refusals", 24)],
            [(actor, action, f"{n:,}") for actor, action, n in s.refusals], TABLE_LIMIT, "pairs")
    for title, records in (("Access changes (grants, revocations, accounts, tokens)", s.access_changes),
                           ("Releases and rollbacks", s.releases)):
        w.heading(title, 11)
        _capped(w, ENTRY_COLUMNS, [_entry_row(r) for r in records], LIST_LIMIT, "entries", outcome_col=5)


def _capped(w: _Writer, columns: Sequence[tuple[str, float]], rows: list[Any], limit: int, what: str,
            outcome_col: int | None = None) -> None:
    if not rows:
        w.paragraph("None in this report.")
        return
    w.table(columns, rows[:limit], outcome_col=outcome_col)
    if len(rows) > limit:
        w.paragraph(f"The first {limit:,} of {len(rows):,} {what}; every entry is listed under Entries.", 8)


def _entry_row(r: AuditRecord) -> tuple[object, ...]:
    return (r.seq, short_ts(r.ts), r.actor, r.action, r.resource, r.outcome, r.reason)


def render_pdf(records: Sequence[AuditRecord], *, scope: dict[str, Any], verification: str,
               entries_sha256: str, generated_by: str, generated_at: datetime) -> bytes:
    """The audit report of ``records`` as PDF bytes (see the module docstring for what it holds)."""
    summary = summarize(records)
    pdf, drawable, replacement = _document(entries_sha256, generated_at)
    # machine-readable for a verifier: the entry count and the hash of its export's entries
    pdf.set_subject(f"{summary.total} audit entries; entries SHA-256 {entries_sha256}")
    w = _Writer(pdf, drawable, replacement)
    _cover(w, summary, scope, verification, generated_by, generated_at, entries_sha256)
    _summary_pages(w, summary)
    pdf.add_page()
    w.heading(f"Entries ({summary.total:,}, in seq order)")
    w.table(ENTRY_COLUMNS, [_entry_row(r) for r in sorted(records, key=lambda r: r.seq)], size=7,
            outcome_col=5)
    return bytes(pdf.output())


# -- HTML ---------------------------------------------------------------------------------------
def render_html(records: Sequence[AuditRecord], *, scope: dict[str, Any], verification: str,
                entries_sha256: str, generated_by: str, generated_at: datetime) -> str:
    """The same report as one self-contained HTML page (no script, no external resource); every
    value is HTML-escaped and nothing is shortened."""
    from governance.audit_report_html import page

    return page(summarize(records), sorted(records, key=lambda r: r.seq), scope=_scope_lines(scope),
                verification=verification, entries_sha256=entries_sha256, generated_by=generated_by,
                generated_at=f"{generated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
