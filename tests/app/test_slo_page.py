"""The SLO page on stored snapshots: the incident shows as a page alert with the hours; no
snapshot -> a hint; a failed evaluation -> the last snapshot and the error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.actor import Actor
from tests.app.conftest import ADMIN, new_app, open_url_path, sign_in_as, texts
from tests.unit.health.logstore_helper import write_logs

START = datetime(2026, 9, 1, tzinfo=UTC)
INCIDENT = (START + timedelta(days=2, hours=9), START + timedelta(days=2, hours=12))


@pytest.fixture(scope="module")
def slo_results(installation):  # type: ignore[no-untyped-def]
    from monitoring.slo.service import run_slo_check

    ctx = installation.ctx
    write_logs(ctx.settings.logstore_dir, "breast-cancer", START, START + timedelta(days=3), incident=INCIDENT,
               seed=5)
    run_slo_check(ctx, Actor(ADMIN, "cli"), "breast-cancer", at=INCIDENT[0] + timedelta(hours=2))
    return installation


def _page(inst, username: str):  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), inst, username).run()
    open_url_path(at, "slos").run()
    assert not at.exception, at.exception
    return at


def test_slo_page_shows_the_page_alert(slo_results, vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = _page(slo_results, "vera")
    text = texts(at)
    assert "availability: 99.9% over 30d" in text
    assert "Alert: PAGE" in text
    assert "Page alert at" in text and "09:00" not in text.split("Page alert at")[1].split("\n")[0].split("first")[0]
    alerts = at.dataframe[0].value
    assert list(alerts["severity"]) == ["page", "page", "ticket", "ticket"]
    assert "yes" in set(alerts["firing"])


def test_slo_page_without_snapshots_and_after_a_failure(slo_results, vigil_env) -> None:  # type: ignore[no-untyped-def]
    from core.runs import record_run

    at = _page(slo_results, "dora")  # sees diabetes only: nothing stored
    assert "No SLO evaluation is stored for diabetes" in texts(at)
    with pytest.raises(RuntimeError):
        with record_run(slo_results.ctx.engine, "slo", model="breast-cancer", actor="scheduler"):
            raise RuntimeError("Prometheus at http://prom:9090 does not answer")
    import streamlit as st

    st.cache_data.clear()  # the loaders cache for 20 s
    at = _page(slo_results, "vera")
    text = texts(at)
    assert "does not answer" in text and "last stored snapshot" in text and "Alert: PAGE" in text
