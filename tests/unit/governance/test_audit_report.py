"""The PDF (and HTML) audit report: it opens, every page renders, every entry and footer is there,
the summary numbers are the ones counted by hand, and hostile text cannot break or disguise it."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from core.actor import Actor
from core.errors import PermissionDenied
from governance.audit import AuditRecord
from governance.audit_report import render_html, render_pdf
from governance.audit_report_summary import summarize
from governance.rbac import require
from tests.conftest import server_missing

SHA = "3f" * 32
AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
DAY1 = date(2026, 11, 2)
HOSTILE = "emoji 🚀👩‍⚖️ CJK 中文審計 <script>alert(1)</script> \u202eevil\u202c nul\x00 line\nbreak"
ENTRY_LINE = re.compile(r"^(\d+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ", re.M)


def rec(seq: int, day: date, actor: str, action: str, outcome: str = "success", reason: str = "",
        resource: str = "diabetes") -> AuditRecord:
    ts = f"{day.isoformat()}T{seq % 24:02d}:{seq % 60:02d}:07.123456Z"
    return AuditRecord(seq, ts, actor, action, resource, outcome, reason, {}, "ui", None, "0" * 64, "1" * 64)


def render(records: list[AuditRecord], verification: str = "OK 9 entries head=" + "ab" * 32,
           **scope: object) -> bytes:
    return render_pdf(records, scope=scope or {"since": "2026-11-01", "until": "2026-12-01"},
                      verification=verification, entries_sha256=SHA, generated_by="ada (auditor)",
                      generated_at=AT)


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def entries_table_seqs(texts: list[str]) -> list[int]:
    """Seqs listed under the "Entries (N, in seq order)" heading, in the order printed."""
    start = next(i for i, t in enumerate(texts) if re.search(r"Entries \([\d,]+, in seq order\)", t))
    return [int(m.group(1)) for t in texts[start:] for m in ENTRY_LINE.finditer(t)]


# Nine entries over four days (the third day has none), counted by hand below.
HAND = [
    rec(1, DAY1, "alice", "model.view"),
    rec(2, DAY1, "bob", "release.approve", "denied", "bob may not release.approve on diabetes"),
    rec(3, DAY1, "bob", "release.approve", "denied", "bob may not release.approve on diabetes"),
    rec(4, DAY1 + timedelta(days=1), "carol", "access.grant", resource="user:dave"),
    rec(5, DAY1 + timedelta(days=1), "mallory", "access.grant", "denied", "mallory may not access.manage"),
    rec(6, DAY1 + timedelta(days=3), "scheduler", "drift.run", "failed", "no data"),
    rec(7, DAY1 + timedelta(days=3), "alice", "model.rollback", reason="p95 latency over budget"),
    rec(8, DAY1 + timedelta(days=3), "carol", "user.create", resource="user:dave"),
    rec(9, DAY1 + timedelta(days=3), "alice", "release.request"),
]


def test_summary_counts_equal_the_hand_counts() -> None:
    s = summarize(HAND)
    assert (s.total, s.first_seq, s.last_seq) == (9, 1, 9)
    assert dict(s.by_outcome) == {"success": 5, "denied": 3, "failed": 1}
    assert dict(s.actions) == {"release.approve": (0, 2, 0), "access.grant": (1, 1, 0),
                               "model.view": (1, 0, 0), "drift.run": (0, 0, 1), "model.rollback": (1, 0, 0),
                               "user.create": (1, 0, 0), "release.request": (1, 0, 0)}
    assert [a for a, _ in s.actions[:3]] == ["access.grant", "release.approve", "drift.run"]  # busiest, A-Z
    assert s.refusals == (("bob", "release.approve", 2), ("mallory", "access.grant", 1))
    assert [r.seq for r in s.access_changes] == [4, 8]  # the refused grant (5) changed nothing
    assert [r.seq for r in s.releases] == [2, 3, 7, 9]
    assert s.bucket == "day"
    assert s.per_bucket == (("2026-11-02", (1, 2, 0)), ("2026-11-03", (1, 1, 0)), ("2026-11-04", (0, 0, 0)),
                            ("2026-11-05", (3, 0, 1)))


def test_summary_pages_print_the_hand_counts() -> None:
    texts = pages_text(render(HAND))
    summary = "\n".join(texts[1:texts.index(next(t for t in texts if "in seq order)" in t))])
    for line in ("success 5", "denied 3", "failed 1", "total 9", "release.approve 0 2 0 2",
                 "access.grant 1 1 0 2", "bob release.approve 2", "mallory access.grant 1"):
        assert line in summary, line
    assert "Entries per day by outcome" in summary
    access = summary.split("Access changes")[1].split("Releases and rollbacks")[0]
    releases = summary.split("Releases and rollbacks")[1]
    assert sorted(int(m.group(1)) for m in ENTRY_LINE.finditer(access)) == [4, 8]
    assert sorted(int(m.group(1)) for m in ENTRY_LINE.finditer(releases)) == [2, 3, 7, 9]


def test_long_periods_are_charted_per_week() -> None:
    # 2026-01-01 is a Thursday: its week starts on Monday 2025-12-29; 2026-04-15's on 2026-04-13
    records = [rec(i + 1, date(2026, 1, 1) + timedelta(days=i), "alice", "model.view") for i in range(105)]
    s = summarize(records)
    assert s.bucket == "week"
    assert s.per_bucket[0] == ("2025-12-29", (4, 0, 0)) and s.per_bucket[-1] == ("2026-04-13", (3, 0, 0))
    assert len(s.per_bucket) == 16 and sum(c[0] for _, c in s.per_bucket) == 105


def test_pdf_opens_and_lists_every_entry_once_in_seq_order() -> None:
    records = [rec(seq, DAY1 + timedelta(days=seq // 40), f"user{seq % 5}", "model.view")
               for seq in range(1, 301)]
    pdf = render(records[::-1])  # given newest first: the table is still in seq order
    texts = pages_text(pdf)
    assert entries_table_seqs(texts) == list(range(1, 301))
    cover = texts[0]
    subject = PdfReader(io.BytesIO(pdf)).metadata.subject
    assert subject == f"300 audit entries; entries SHA-256 {SHA}"  # what a verifier compares
    assert "entries in this report 300" in cover and "seq 1 to 300" in cover
    assert "ada (auditor)" in cover and "2026-12-01 09:30:00 UTC" in cover
    assert "Scope\nsince 2026-11-01\nuntil 2026-12-01" in cover and "Chain verification: intact" in cover


def test_every_page_renders_and_its_footer_numbers_it_and_holds_the_hash(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        server_missing("pdftoppm (package poppler-utils)")
    records = [rec(seq, DAY1, "alice", "model.view", reason=f"entry {seq}") for seq in range(1, 121)]
    pdf = render(records)
    texts = pages_text(pdf)
    assert len(texts) >= 4  # cover, summary, at least two pages of entries
    for number, text in enumerate(texts, start=1):
        assert f"page {number} of {len(texts)}" in text
        assert f"entries SHA-256 {SHA}" in text
    (tmp_path / "report.pdf").write_bytes(pdf)
    done = subprocess.run(["pdftoppm", "-r", "20", "-png", str(tmp_path / "report.pdf"), str(tmp_path / "p")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    images = sorted(tmp_path.glob("p-*.png"))
    assert len(images) == len(texts) and all(image.stat().st_size > 500 for image in images)


def test_a_broken_chain_is_said_on_the_cover() -> None:
    cover = pages_text(render(HAND, verification="BROKEN at seq 3: hash mismatch (the entry was edited)"))[0]
    assert "Chain verification: NOT intact" in cover
    assert "BROKEN at seq 3: hash mismatch (the entry was edited)" in cover


def test_long_values_are_shortened_with_an_ellipsis() -> None:
    reason = "because " + "the quarterly model risk committee asked for it " * 10
    texts = pages_text(render([rec(1, DAY1, "alice", "model.rollback", reason=reason)]))
    line = next(t for t in texts[-1].splitlines() if t.startswith("1 2026-11-02"))
    assert line.endswith("\u2026") and "because the quarterly model risk committee" in line
    assert reason.strip() not in "".join(texts)


def test_hostile_text_renders_as_plain_visible_text(tmp_path: Path) -> None:
    records = [rec(1, DAY1, "審計員", "access.grant", reason=HOSTILE, resource="user:<b>eve</b>"),
               rec(2, DAY1, "bob", "release.approve", "denied", reason=HOSTILE)]
    pdf = render(records, actor="審計員 <img src=x onerror=alert(1)>")
    text = "\n".join(pages_text(pdf))
    assert "<script>alert(1)</script>" in text and "user:<b>eve</b>" in text  # shown as typed, inert
    assert "CJK \ufffd\ufffd\ufffd\ufffd" in text  # glyphs DejaVu lacks are marked, not dropped
    assert "\u202e" not in text and "\x00" not in text  # no invisible reordering or control bytes
    assert "\ufffdevil\ufffd nul\ufffd line break" in text
    if shutil.which("pdftoppm"):
        (tmp_path / "r.pdf").write_bytes(pdf)
        assert subprocess.run(["pdftoppm", "-r", "20", "-png", str(tmp_path / "r.pdf"), str(tmp_path / "p")],
                              capture_output=True, timeout=60).returncode == 0

    page = render_html(records, scope={"actor": "<img src=x onerror=alert(1)>"}, verification="OK",
                       entries_sha256=SHA, generated_by="<i>ada</i>", generated_at=AT)
    assert "<script" not in page and "<img" not in page and "<i>ada" not in page and "<b>eve" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;i&gt;ada&lt;/i&gt;" in page
    assert "中文審計" in page and "🚀" in page  # a browser has fonts for these: kept whole
    assert "\u202e" not in page and "\x00" not in page


def test_without_dejavu_it_falls_back_to_latin_1(monkeypatch: pytest.MonkeyPatch) -> None:
    import governance.audit_report as audit_report

    monkeypatch.setattr(audit_report, "_font_dir", lambda: None)
    records = [rec(1, DAY1, "zoë", "access.grant", reason=HOSTILE), *HAND[1:]]
    pdf = render(records)
    texts = pages_text(pdf)
    fonts = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"]
    assert {str(f.get_object()["/BaseFont"]) for f in fonts.values()} == {"/Helvetica", "/Helvetica-Bold"}
    assert entries_table_seqs(texts) == list(range(1, 10))
    assert "zoë" in texts[-1] and "CJK ???? <script>alert(1)</script> ?evil? nul? line break" in texts[-1]


def test_the_same_inputs_give_the_same_bytes() -> None:
    # a manifest records the file's SHA-256: exporting the same entries again must not change it
    assert render(HAND) == render(HAND)
    assert render(HAND) != render(HAND[:-1])


def test_an_empty_report_still_opens_and_says_so() -> None:
    texts = pages_text(render([], verification="OK 0 entries head=" + "0" * 64))
    assert "entries in this report 0" in texts[0] and "no entries" in texts[0]
    assert entries_table_seqs(texts) == []
    assert all(f"page {i} of {len(texts)}" in t for i, t in enumerate(texts, start=1))


def test_html_report_holds_the_same_numbers_and_every_entry() -> None:
    page = render_html(HAND, scope={"since": "2026-11-01"}, verification="OK 9 entries head=x",
                       entries_sha256=SHA, generated_by="ada", generated_at=AT)
    entries = page.split("in seq order)</h2>")[1]
    assert re.findall(r"<tr><td>(\d+)</td>", entries) == [str(r.seq) for r in HAND]
    assert '<td>success</td><td class="n">5</td>' in page and '<td>total</td><td class="n">9</td>' in page
    assert "<td>bob</td><td>release.approve</td><td class=\"n\">2</td>" in page
    assert page.count("<rect ") == 6 + 3  # non-empty (day, outcome) bars: 2 + 2 + 0 + 2; 3 legend swatches
    assert SHA in page


def test_a_report_of_a_real_chain(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    log = sqlite_ctx.audit
    log.append(Actor("ann", "ui", "192.0.2.1"), "model.view", "diabetes")
    log.append(Actor("job", "job"), "drift.run", "diabetes", "failed", reason="no data")
    with pytest.raises(PermissionDenied):
        require(sqlite_ctx, Actor("eve", "cli"), "audit.export", "*")  # audited as a refusal
    line = log.verify().line()
    records = log.query()
    texts = pages_text(render_pdf(records, scope={}, verification=line, entries_sha256=SHA,
                                  generated_by="ann", generated_at=AT))
    assert line.split(" head=")[0] in texts[0] and "entries in this report 3" in texts[0]
    assert "eve audit.export 1" in "\n".join(texts)
    assert entries_table_seqs(texts) == [1, 2, 3]
