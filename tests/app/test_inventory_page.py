"""The Inventory page (admin edits, others only read) and the Overview's overdue-review reminder,
through AppTest. The shipped models file has diabetes reviewed 2025-10-20 every 365 days (due
2026-10-20: overdue) and breast-cancer reviewed 2026-10-15, high risk (every 180 days: due
2027-04-13)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from tests.app.conftest import ADMIN, new_app, sign_in_as, texts


def _open(vigil_env, username: str, page: str = "pages/inventory.py"):  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), vigil_env, username).run()
    if page != "pages/overview.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _table(at):  # type: ignore[no-untyped-def]
    frame = next(d.value for d in at.dataframe if "next review due" in getattr(d.value, "columns", []))
    return {r["model"]: r for r in frame.to_dict("records")}


def _before_2027_04_13() -> bool:
    return datetime.now(UTC).date().isoformat() <= "2027-04-13"


def test_viewer_reads_the_inventory_without_an_edit_form(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = _open(vigil_env, "vera")
    assert [t.value for t in at.title] == ["Inventory"]
    rows = _table(at)
    assert list(rows) == ["breast-cancer", "diabetes"]
    assert rows["diabetes"]["next review due"] == "2026-10-20" and rows["diabetes"]["overdue"]
    assert rows["diabetes"]["review"] == "overdue since 2026-10-20"
    assert rows["breast-cancer"]["risk tier"] == "high" and rows["breast-cancer"]["next review due"] == "2027-04-13"
    assert rows["breast-cancer"]["overdue"] == (not _before_2027_04_13())
    assert rows["diabetes"]["versions"] == "0"  # the registry exists and is empty
    assert "Edit an entry" not in texts(at)
    assert not at.selectbox and not at.text_input  # no form for a viewer
    # the CSV export: audited, and the file holds what the table shows
    at.button(key="inventory.export").click().run()
    assert not at.exception
    [download] = at.get("download_button")
    assert download.proto.label.startswith("Download model-inventory-")
    [entry] = [e for e in vigil_env.ctx.audit.query(action="inventory.export") if e.actor == "vera"][-1:]
    assert entry.details["format"] == "csv" and entry.details["models"] == ["breast-cancer", "diabetes"]
    at.radio(key="inventory.export_format").set_value("yaml")
    at.button(key="inventory.export").click().run()
    [download] = at.get("download_button")
    assert download.proto.label.endswith(".yaml")
    assert vigil_env.ctx.audit.query(action="inventory.export")[-1].details["format"] == "yaml"


def test_csv_export_matches_the_table(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from core.actor import Actor
    from governance.inventory import export_inventory

    at = _open(vigil_env, "dora")  # a viewer of diabetes only
    rows = _table(at)
    assert list(rows) == ["diabetes"]
    [record] = list(csv.DictReader(io.StringIO(export_inventory(vigil_env.ctx, Actor("dora", "ui")).decode())))
    assert (record["model"], record["next_review_due"], record["overdue"]) == ("diabetes", "2026-10-20", "True")


def test_admin_edits_an_entry_through_the_confirmation(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = _open(vigil_env, ADMIN)
    assert "Edit an entry" in texts(at)
    at.selectbox(key="inventory.edit.model").set_value("breast-cancer").run()
    at.text_input(key="inventory.owner.breast-cancer").input("Oncology ML <onc-ml@example.org>")
    at.selectbox(key="inventory.validation.breast-cancer").set_value("pending")
    at.text_input(key="inventory.reason.breast-cancer").input("owner moved teams")
    at.button[[b.label for b in at.button].index("Save...")].click().run()
    assert "Change the inventory of" in texts(at)  # the confirmation dialog
    at.button(key="confirm.ok").click().run()
    assert not at.exception
    assert "Saved the inventory of breast-cancer" in texts(at)
    rows = _table(at)
    assert rows["breast-cancer"]["owner"] == "Oncology ML <onc-ml@example.org>"
    assert rows["breast-cancer"]["validation"] == "pending"
    entry = vigil_env.ctx.audit.query(action="inventory.edit")[-1]
    assert (entry.actor, entry.resource, entry.outcome, entry.reason) == (
        ADMIN, "breast-cancer", "success", "owner moved teams")
    assert entry.details["changes"]["validation"] == {"old": "validated", "new": "pending"}
    assert entry.details["changes"]["owner"]["new"] == "Oncology ML <onc-ml@example.org>"
    assert set(entry.details["changes"]) == {"owner", "validation"}  # untouched fields are not "changed"


def test_overview_reminds_of_an_overdue_review(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = _open(vigil_env, "dora", "pages/overview.py")
    reminders = [w.value for w in at.warning if "review overdue" in w.value]
    assert len(reminders) == 1
    assert "diabetes" in reminders[0] and "since 2026-10-20" in reminders[0]
    if _before_2027_04_13():
        assert "breast-cancer" not in reminders[0]


def test_mlflow_down_shows_unavailable_versions_not_a_crash(vigil_env, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'missing' / 'mlflow.db'}")
    at = _open(vigil_env, "vera")
    rows = _table(at)
    assert {r["versions"] for r in rows.values()} == {"unavailable"}
    assert rows["diabetes"]["review"] == "overdue since 2026-10-20"  # the rest of the inventory shows
    assert any("MLflow (versions of diabetes) is degraded" in w.value for w in at.warning)


def test_overdue_rows_are_highlighted() -> None:
    from datetime import date

    from governance.inventory import InventoryRow
    from ui.inventory import frame, styled

    def row(model: str, overdue: bool) -> InventoryRow:
        return InventoryRow(model, model, "", "", None, "production", "pending", date(2025, 1, 1), 365,
                            date(2026, 1, 1), overdue, 1, "1")

    html = styled(frame([row("fine", False), row("late", True)])).to_html()
    assert "row1_col0" in html and "background-color" in html  # the overdue row carries the colour
    assert "row0_col0" not in html.split("</style>")[0]  # the other row does not
