"""core.settings reads every variable in one place: the process environment through
pydantic-settings, or an explicit mapping with the same rules; a bad value names its variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import ENV_VARIABLES, Settings

REPO = Path(__file__).resolve().parents[3]


def test_the_process_environment_is_read_and_empty_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIGIL_LOCKOUT_MINUTES", "20")
    monkeypatch.setenv("VIGIL_DEMO", " Yes ")
    monkeypatch.setenv("PROMETHEUS_TIMEOUT", "2.5")
    monkeypatch.setenv("VIGIL_METRICS_PORT", "9200")
    monkeypatch.setenv("VIGIL_JOB_USER", "")  # empty: the default
    s = Settings.from_env()
    assert (s.lockout_minutes, s.demo_mode) == (20, True)
    assert (s.prometheus_timeout_seconds, s.metrics_port) == (2.5, 9200)
    assert s.job_user == "scheduler" and s.metrics_host == "0.0.0.0" and s.scheduler_lease_ttl_seconds == 30.0
    # an explicit mapping does not see the process environment
    assert Settings.from_env({}).lockout_minutes == 15


@pytest.mark.parametrize(("key", "value", "message"), [
    ("PROMETHEUS_TIMEOUT", "soon", "PROMETHEUS_TIMEOUT: expected seconds, got 'soon'"),
    ("PROMETHEUS_INSECURE", "perhaps", "PROMETHEUS_INSECURE: expected true or false"),
    ("VIGIL_TOKEN_MAX_DAYS", "0", "VIGIL_TOKEN_MAX_DAYS: must be at least 1, got 0"),
    ("VIGIL_SCHEDULER_LEASE_TTL", "-3", "VIGIL_SCHEDULER_LEASE_TTL: must be a positive number of seconds"),
    ("VIGIL_METRICS_PORT", "http", "VIGIL_METRICS_PORT: expected an integer"),
])
def test_a_bad_value_of_a_module_setting_names_it(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({key: value})
    assert message in str(err.value) and "(environment)" in str(err.value)


def test_secrets_stay_out_of_repr() -> None:
    s = Settings.from_env({"PROMETHEUS_PASSWORD": "hunter2-password", "VIGIL_TOKEN": "vgl_secret_token",
                           "VIGIL_AUDIT_CHECKPOINT_KEY": "-----BEGIN PRIVATE KEY-----"})
    assert s.prometheus_password == "hunter2-password" and s.job_token == "vgl_secret_token"
    assert "hunter2" not in repr(s) and "vgl_secret" not in repr(s) and "PRIVATE KEY" not in repr(s)


def test_every_variable_the_settings_table_documents_is_read() -> None:
    import core.settings

    documented = set(re.findall(r"^\| ([A-Z_]+) \|", core.settings.__doc__ or "", flags=re.M))
    assert documented and documented <= set(ENV_VARIABLES)
