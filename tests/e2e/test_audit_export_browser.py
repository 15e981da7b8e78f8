"""The demo's auditor exports the audit log as a signed PDF report from the Audit page (in a real
browser) and from the command line; `python -m jobs.audit verify-export` accepts both with nothing
but the console's public key, and refuses each after one changed byte."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import REPO_ROOT


def _verify(exported: Path, public_key: Path, tmp_path: Path) -> None:
    """verify-export on an auditor's machine (the public key, no data directory, no database):
    intact, then one changed byte."""
    env = {"PATH": "/usr/bin:/bin", "VIGIL_DATA_DIR": str(tmp_path / "nowhere"),
           "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere"}
    command = [sys.executable, "-m", "jobs.audit", "verify-export", str(exported), "--public-key", str(public_key)]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK {exported}")
    data = bytearray(exported.read_bytes())
    data[len(data) // 2] ^= 0x01
    exported.write_bytes(bytes(data))
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "file changed" in done.stdout


def test_auditor_downloads_a_signed_export_that_verifies(page, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(server.url)
    page.get_by_role("textbox", name="Username").fill("auditor")
    page.get_by_role("textbox", name="Password").fill("demo-auditor")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.locator("[data-testid='stSidebarNav']").get_by_text("Audit log", exact=True).click()
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    page.get_by_text("PDF report", exact=True).click()
    page.get_by_role("button", name="Export...").click()
    page.get_by_role("dialog").get_by_role("button", name="Export", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name="Download vigil-audit-").click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf.zip")
    archive = tmp_path / download.suggested_filename
    download.save_as(archive)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "export")
    [exported] = [p for p in (tmp_path / "export").iterdir() if p.suffix == ".pdf"]
    assert exported.read_bytes().startswith(b"%PDF-")
    public_key = server.data_dir / "keys" / "export-signing.pub.pem"
    _verify(exported, public_key, tmp_path / "page")

    # the same from the command line: the last 30 days as a PDF report
    since = f"{datetime.now(UTC) - timedelta(days=30):%Y-%m-%dT%H:%M:%SZ}"
    out = tmp_path / "cli" / "audit-30d.pdf"
    out.parent.mkdir()
    done = subprocess.run([sys.executable, "-m", "jobs.audit", "export", "--as", "auditor", "--format", "pdf",
                           "--since", since, "--out", str(out)], cwd=REPO_ROOT, env=server.env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_bytes().startswith(b"%PDF-") and Path(f"{out}.manifest.json").exists()
    _verify(out, public_key, tmp_path / "cli")
