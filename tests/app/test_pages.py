"""What each page shows, and what happens when a dependency is down or a write is confirmed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.actor import Actor
from tests.app.conftest import ADMIN, BY_ROLE, PASSWORD, new_app, sign_in_as, texts


def _on(vigil_env, role_or_user: str, page: str):  # type: ignore[no-untyped-def]
    username = BY_ROLE.get(role_or_user, role_or_user)
    at = sign_in_as(new_app(), vigil_env, username).run()
    if page != "pages/overview.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


# -- sign-in -----------------------------------------------------------------------------------
def _submit(at, username: str, password: str):  # type: ignore[no-untyped-def]
    at.text_input(key="sign_in.username").input(username)
    at.text_input(key="sign_in.password").input(password)
    at.button[0].click().run()
    return at


def test_wrong_password_and_unknown_user_get_the_same_generic_message(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance.identity import SIGN_IN_FAILED

    at = new_app().run()
    _submit(at, "rita", "not-her-password")
    assert [e.value for e in at.error] == [SIGN_IN_FAILED]
    _submit(at, "no-such-user", "whatever-password")
    assert [e.value for e in at.error] == [SIGN_IN_FAILED]
    assert [t.value for t in at.title] == ["Vigil"]  # still on the sign-in page
    assert "breast-cancer" not in texts(at)


def test_signing_in_with_the_form_opens_the_overview_and_sign_out_closes_it(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance.identity import resolve_session
    from ui import state

    at = _submit(new_app().run(), "vera", PASSWORD)
    assert [t.value for t in at.title] == ["Overview"]
    token = at.session_state[state.AUTH_TOKEN]
    assert resolve_session(vigil_env.ctx, token) == "vera"
    at.sidebar.button(key="auth.sign_out").click().run()
    assert [t.value for t in at.title] == ["Vigil"]
    assert resolve_session(vigil_env.ctx, token) is None  # the session is over in the database


def test_a_session_revoked_elsewhere_signs_out_at_once(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance.identity import sign_out

    at = sign_in_as(new_app(), vigil_env, "otto").run()
    assert [t.value for t in at.title] == ["Overview"]
    from ui import state

    sign_out(vigil_env.ctx, at.session_state[state.AUTH_TOKEN])
    at.run()
    assert [t.value for t in at.title] == ["Vigil"]
    assert "Your session has ended" in texts(at)


def test_a_forged_token_is_not_a_session(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from ui import state

    at = new_app()
    at.session_state[state.AUTH_TOKEN] = "made-up-token"
    at.run()
    assert [t.value for t in at.title] == ["Vigil"]


def test_demo_mode_lists_the_demo_accounts_on_the_sign_in_page(vigil_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    at = new_app().run()
    assert "Demo mode" not in texts(at)
    monkeypatch.setenv("VIGIL_DEMO", "true")
    at = new_app().run()
    shown = texts(at)
    assert "Demo mode" in shown
    for role in ("viewer", "operator", "reviewer", "security", "auditor", "admin"):
        assert f"`{role}` / `demo-{role}`" in shown
    assert "`reviewer2` / `demo-reviewer2`" in shown  # the second reviewer of a two-reviewer stage


# -- overview ----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", list(BY_ROLE))
def test_overview_lists_the_models_with_their_registry_state(vigil_env, role: str) -> None:  # type: ignore[no-untyped-def]
    at = _on(vigil_env, role, "pages/overview.py")
    shown = texts(at)
    for model in vigil_env.ctx.models.models:
        assert model.name in shown
        assert model.description.split()[0] in shown
        assert model.registered_model in shown
    assert shown.count("No versions registered in MLflow yet.") == 2  # empty registry: no error
    assert "Champion: none" in shown
    assert "Task: classification" in shown and "Task: regression" in shown
    assert shown.count("No health snapshot yet.") == 2
    assert "Latest job runs" in shown
    assert not [w for w in at.warning if "degraded" in w.value]  # nothing is degraded
    summary = at.dataframe[0].value
    assert list(summary["model"]) == ["breast-cancer", "diabetes"]
    assert set(summary["champion"]) == {"none"}


def test_overview_shows_the_latest_job_runs(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from core.runs import record_run

    with record_run(vigil_env.ctx.engine, "drift", model="diabetes", actor="scheduler") as run:
        run.message = "checked 11 features"
    at = _on(vigil_env, "viewer", "pages/overview.py")
    frames = [df.value for df in at.dataframe]
    runs = next(f for f in frames if "job" in f.columns)
    assert {"drift"} <= set(runs["job"])
    assert "checked 11 features" in set(runs["message"])


def test_overview_with_mlflow_down_is_degraded_not_broken(vigil_env, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'missing' / 'mlflow.db'}")
    at = _on(vigil_env, "viewer", "pages/overview.py")
    shown = texts(at)
    assert "MLflow is degraded" in shown
    assert "breast-cancer" in shown and "diabetes" in shown  # the rest of the page still shows
    assert "Latest job runs" in shown
    assert set(at.dataframe[0].value["champion"]) == {"MLflow degraded"}


# -- system ------------------------------------------------------------------------------------
def test_system_shows_services_configuration_and_schedules(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = _on(vigil_env, "operator", "pages/system.py")
    ok = [s.value for s in at.success]
    assert any(v.startswith("**Database**: ok") for v in ok)
    assert any(v.startswith("**MLflow**: ok") for v in ok)
    assert any("**Prometheus**: not configured" in i.value for i in at.info)
    assert "Audit chain" not in texts(at)  # operators do not read the audit log
    settings = at.dataframe[0].value
    assert "sign-in mode (VIGIL_AUTH_MODE)" in set(settings["setting"])
    models = at.dataframe[1].value
    assert set(models["model"]) == {"breast-cancer", "diabetes"}
    schedules = at.dataframe[2].value
    assert dict(zip(schedules["job"], schedules["cron"], strict=True))["drift"] == "*/15 * * * *"


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_system_shows_the_audit_chain_to_audit_readers(vigil_env, role: str) -> None:  # type: ignore[no-untyped-def]
    at = _on(vigil_env, role, "pages/system.py")
    assert any("Audit chain intact: OK" in s.value for s in at.success)


def test_system_reports_a_dead_prometheus_as_degraded(vigil_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PROMETHEUS_URL", f"http://scraper:s3cret@127.0.0.1:{port}")
    at = _on(vigil_env, "admin", "pages/system.py")
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("**Prometheus**: degraded") and "ConnectionError" in w for w in warnings)
    assert "s3cret" not in texts(at)
    assert "s3cret" not in at.dataframe[0].value.to_string()  # masked in the configuration too
    assert any(s.value.startswith("**Database**: ok") for s in at.success)


def test_a_bad_config_stops_with_the_key_and_file(vigil_env, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "models.yaml"
    bad.write_text("models:\n  - name: x\n    registered_model: y\n    logs: z\n    features: []\n")
    monkeypatch.setenv("VIGIL_CONFIG", str(bad))
    at = new_app().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert str(bad) in error and "models[0].features" in error
    assert not at.text_input  # no sign-in form, no page


# -- audit -------------------------------------------------------------------------------------
def test_auditor_reads_filters_and_exports_the_audit_log(vigil_env) -> None:  # type: ignore[no-untyped-def]
    ctx = vigil_env.ctx
    before = len(ctx.audit.query(action="audit.export", actor="aldo"))
    at = _on(vigil_env, "auditor", "pages/audit.py")
    assert any(s.value.startswith("Chain intact: OK") for s in at.success)
    table = at.dataframe[0].value
    assert "access.grant" in set(table["action"])  # the fixture's grants are there
    at.text_input(key="audit.actor").input("nobody-did-this").run()
    assert "No audit entries match these filters." in texts(at)
    at.text_input(key="audit.actor").input(ADMIN).run()
    assert set(at.dataframe[0].value["actor"]) == {ADMIN}

    at.button(key="audit.export").click().run()
    assert "Export the audit entries" in texts(at)  # the confirmation dialog
    assert not at.get("download_button")  # nothing is exported before confirming
    at.button(key="confirm.ok").click().run()
    assert not at.exception
    [download] = at.get("download_button")
    assert download.label.startswith("Download vigil-audit-") and download.label.endswith(".csv")
    assert len(ctx.audit.query(action="audit.export", actor="aldo")) == before + 1  # audited


def test_cancelling_the_export_exports_nothing(vigil_env) -> None:  # type: ignore[no-untyped-def]
    ctx = vigil_env.ctx
    before = len(ctx.audit.query(action="audit.export"))
    at = _on(vigil_env, "admin", "pages/audit.py")
    at.button(key="audit.export").click().run()
    at.button(key="confirm.cancel").click().run()
    assert not at.get("download_button")
    assert len(ctx.audit.query(action="audit.export")) == before


# -- access ------------------------------------------------------------------------------------
def _grant_form(at, username: str, role: str, reason: str):  # type: ignore[no-untyped-def]
    at.selectbox(key="access.grant_user").select(username)
    at.selectbox(key="access.grant_role").select(role)
    at.text_input(key="access.grant_reason").input(reason)
    at.button(key="FormSubmitter:access.grant_form-Grant...").click().run()
    return at


def test_admin_grants_and_revokes_with_confirmation(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance import identity

    ctx = vigil_env.ctx
    identity.create_user(ctx, Actor(ADMIN, "cli"), "gina", PASSWORD)
    gina = sign_in_as(new_app(), vigil_env, "gina").run()
    assert "No access yet" in texts(gina)

    at = _on(vigil_env, "admin", "pages/access.py")
    users = at.dataframe[0].value
    assert {"vera", "otto", "rita", "aldo", ADMIN, "gina"} <= set(users["username"])
    _grant_form(at, "gina", "auditor", "TICKET-7 <b>quarterly review</b>")
    assert "Grant **auditor** on ***** to **gina**" in texts(at)  # the confirmation dialog
    at.button(key="confirm.ok").click().run()
    assert "Granted auditor on * to gina" in texts(at)
    grants = at.dataframe[1].value
    row = grants[grants["user"] == "gina"].iloc[0]
    assert row["role"] == "auditor" and row["reason"] == "TICKET-7 <b>quarterly review</b>"

    gina.run()  # gina's next rerun: the grant works at once
    assert "Overview" in [t.value for t in gina.title]
    gina.switch_page("pages/audit.py").run()
    assert "Audit log" in [t.value for t in gina.title]

    at.selectbox(key="access.revoke_grant").select(int(row["id"]))
    at.text_input(key="access.revoke_reason").input("review done")
    at.button(key="FormSubmitter:access.revoke_form-Revoke...").click().run()
    at.button(key="confirm.ok").click().run()
    assert f"Revoked grant #{row['id']}" in texts(at)

    gina.run()  # and the revocation stops it at once
    assert "No access yet" in texts(gina)


def test_granting_yourself_a_role_is_refused_with_a_clear_message(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = _on(vigil_env, "admin", "pages/access.py")
    _grant_form(at, ADMIN, "reviewer", "I want to approve my own releases")
    at.button(key="confirm.ok").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("may not grant a role to themselves" in e for e in errors)
    denied = vigil_env.ctx.audit.query(actor=ADMIN, outcome="denied", action="access.grant")
    assert denied  # the refusal is in the audit log


# -- other sign-in modes -----------------------------------------------------------------------
def test_proxy_mode_trusts_the_header_only_when_enabled(vigil_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ui.auth

    monkeypatch.setattr(ui.auth, "proxy_username", lambda header: "otto")
    at = new_app().run()  # local mode: the header means nothing
    assert [t.value for t in at.title] == ["Vigil"]

    monkeypatch.setenv("VIGIL_AUTH_MODE", "proxy")
    at = new_app().run()
    assert [t.value for t in at.title] == ["Overview"]
    at.switch_page("pages/system.py").run()
    assert [t.value for t in at.title] == ["System"]

    monkeypatch.setattr(ui.auth, "proxy_username", lambda header: None)
    at = new_app().run()
    assert "did not identify you" in texts(at)


def test_oidc_mode_signs_in_through_the_identity_provider(vigil_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_AUTH_MODE", "oidc")
    at = new_app()
    at.user = {"is_logged_in": False}
    at.run()
    assert any(b.label == "Sign in with single sign-on" for b in at.button)

    at = new_app()
    at.user = {"is_logged_in": True, "email": "new.person@example.com", "name": "New Person"}
    at.run()
    assert not at.exception
    assert "No access yet" in texts(at)  # a new identity starts with no grants
    assert "New Person" in "\n".join(m.value for m in at.sidebar.markdown)


def test_an_unreachable_database_stops_with_a_clear_message(vigil_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://vigil:hunter22@127.0.0.1:{port}/vigil")
    at = new_app().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("Vigil cannot start:") and "does not answer" in error
    assert "hunter22" not in error  # the password is not shown
    assert not at.text_input


def test_oidc_sign_in_of_a_service_account_is_refused_once_with_the_generic_message(vigil_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from governance import identity
    from governance.identity import SIGN_IN_FAILED

    identity.create_user(vigil_env.ctx, Actor(ADMIN, "cli"), "robot@example.com", None, is_service=True)
    monkeypatch.setenv("VIGIL_AUTH_MODE", "oidc")
    at = new_app()
    at.user = {"is_logged_in": True, "email": "robot@example.com", "name": "Robot"}
    at.run()
    assert not at.exception
    assert SIGN_IN_FAILED in texts(at)
    assert any(b.label == "Sign in with single sign-on" for b in at.button)
    failures = len(vigil_env.ctx.audit.query(action="auth.sign_in", outcome="failed"))
    at.run()  # no new attempt on every rerun
    assert len(vigil_env.ctx.audit.query(action="auth.sign_in", outcome="failed")) == failures
