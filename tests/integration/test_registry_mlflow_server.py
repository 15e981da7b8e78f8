"""governance.registry.ModelRegistry against a real MLflow server process on 127.0.0.1."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import core  # noqa: F401  (telemetry off)
from core.errors import InvalidInput, NotFound, ServiceUnavailable
from governance.registry import ModelRegistry
from tests.mlflow_server import free_port, mlflow_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
MLP = "vigil-test-mlp"
TREE = "vigil-test-tree"
FEATURES = ["a", "b", "c"]


def _log_torch_version(hidden: int, accuracy: float) -> str:
    import mlflow
    import mlflow.pytorch
    import torch

    from demo.models import BreastCancerMLP

    torch.manual_seed(hidden)
    model = BreastCancerMLP(np.zeros(3), np.ones(3), hidden=[hidden]).eval()
    reference = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=FEATURES)
    reference["site"] = ["x", "y", "x", "z"]
    with mlflow.start_run():
        mlflow.log_metrics({"accuracy": accuracy, "roc_auc": 0.9})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "reference.parquet"
            reference.to_parquet(path, index=False)
            mlflow.log_artifact(str(path), artifact_path="reference")
        info = mlflow.pytorch.log_model(
            model, name="model", serialization_format="pickle", pip_requirements=["torch"]
        )
    return str(mlflow.register_model(info.model_uri, MLP, tags={"hidden": str(hidden)}).version)


@pytest.fixture(scope="module")
def server(mlflow_server: str) -> Iterator[str]:  # noqa: F811
    """The server with two torch versions of MLP and one sklearn version of TREE."""
    import mlflow
    import mlflow.sklearn
    from sklearn.tree import DecisionTreeRegressor

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    try:
        mlflow.set_experiment("registry-tests")
        _log_torch_version(2, 0.80)
        _log_torch_version(4, 0.95)
        tree = DecisionTreeRegressor(max_depth=2, random_state=0).fit(
            np.arange(20.0).reshape(10, 2), np.arange(10.0)
        )
        with mlflow.start_run():
            mlflow.log_metric("rmse", 1.5)
            info = mlflow.sklearn.log_model(
                tree,
                name="model",
                pip_requirements=["scikit-learn"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        mlflow.register_model(info.model_uri, TREE)
    finally:
        mlflow.set_tracking_uri(before)
        mlflow.set_registry_uri(before)
    # The adapter must not depend on MLflow's process-wide URI: point it somewhere useless.
    mlflow.set_tracking_uri(f"http://127.0.0.1:{free_port()}")
    mlflow.set_registry_uri(f"http://127.0.0.1:{free_port()}")
    try:
        yield mlflow_server
    finally:
        mlflow.set_tracking_uri(before)
        mlflow.set_registry_uri(before)


def test_versions_come_newest_first_with_their_metrics(server: str) -> None:
    versions = ModelRegistry(server).list_versions(MLP)
    assert [v.version for v in versions] == ["2", "1"]
    assert versions[0].metrics["accuracy"] == pytest.approx(0.95)
    assert versions[1].metrics["accuracy"] == pytest.approx(0.80)
    assert versions[0].run_id and versions[0].status == "READY"
    assert versions[0].tags["hidden"] == "4"
    assert versions[0].created_at.tzinfo is not None
    assert versions[0].created_at >= versions[1].created_at


def test_champion_alias_follows_set_alias(server: str) -> None:
    registry = ModelRegistry(server)
    registry.set_alias(MLP, "champion", "1")
    champion = registry.champion(MLP)
    assert champion is not None and champion.version == "1" and champion.is_champion
    registry.set_alias(MLP, "champion", 2)
    assert registry.champion(MLP).version == "2"  # type: ignore[union-attr]
    by_version = {v.version: v.aliases for v in registry.list_versions(MLP)}
    assert by_version == {"2": ("champion",), "1": ()}


def test_model_without_alias_has_no_champion(server: str) -> None:
    assert ModelRegistry(server).champion(TREE) is None


def test_load_model_gives_torch_module_in_eval_mode(server: str) -> None:
    import torch

    model = ModelRegistry(server).load_model(MLP, "2")
    assert isinstance(model, torch.nn.Module)
    assert not model.training
    out = model(torch.zeros(5, 3))
    assert out.shape == (5, 1) and bool(((out > 0) & (out < 1)).all())


def test_load_model_gives_sklearn_estimator(server: str) -> None:
    tree = ModelRegistry(server).load_model(TREE, "1")
    assert tree.predict(np.array([[0.0, 1.0]])).shape == (1,)
    assert ModelRegistry(server).flavor(TREE, 1) == "sklearn"


def test_reference_data_is_the_logged_frame(server: str) -> None:
    frame = ModelRegistry(server).reference_data(MLP, "1")
    assert list(frame.columns) == FEATURES + ["site"]
    assert len(frame) == 4 and frame["site"].tolist() == ["x", "y", "x", "z"]


def test_missing_reference_data_is_not_found(server: str) -> None:
    with pytest.raises(NotFound, match="reference"):
        ModelRegistry(server).reference_data(TREE, "1")


def test_log_artifact_attaches_a_file_to_the_versions_run(server: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    report = tmp_path / "shap.json"
    report.write_text('{"ok": true}')
    registry = ModelRegistry(server)
    registry.log_artifact(MLP, "1", report, "explain")
    run_id = registry.list_versions(MLP)[-1].run_id
    listed = [f.path for f in MlflowClient(server).list_artifacts(run_id, "explain")]
    assert listed == ["explain/shap.json"]
    with pytest.raises(InvalidInput, match="no such file"):
        registry.log_artifact(MLP, "1", tmp_path / "absent.json", "explain")


def test_missing_model_and_version_are_not_found(server: str) -> None:
    registry = ModelRegistry(server)
    with pytest.raises(NotFound, match="no-such-model"):
        registry.list_versions("no-such-model")
    with pytest.raises(NotFound, match="no version 42"):
        registry.load_model(MLP, "42")
    with pytest.raises(NotFound, match="no version 42"):
        registry.set_alias(MLP, "champion", "42")
    assert registry.champion(MLP) is not None  # the alias did not move


class _Recorder:
    """urllib.request.urlopen as the registry calls it, recording (url, timeout, status)."""

    def __init__(self) -> None:
        import urllib.request

        self.real = urllib.request.urlopen
        self.calls: list[tuple[str, float | None, int | None]] = []

    def __call__(self, url: str, *args: object, timeout: float | None = None, **kwargs: object) -> object:
        try:
            response = self.real(url, *args, timeout=timeout, **kwargs)  # type: ignore[arg-type]
        except Exception:
            self.calls.append((url, timeout, None))
            raise
        self.calls.append((url, timeout, response.status))
        return response


def test_ping_asks_the_live_servers_health_endpoint_with_a_bounded_timeout(
        server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    from governance.registry import PING_TIMEOUT_S

    recorder = _Recorder()
    monkeypatch.setattr(urllib.request, "urlopen", recorder)
    ModelRegistry(server).ping()  # raises ServiceUnavailable when the server does not answer
    assert recorder.calls == [(f"{server}/health", PING_TIMEOUT_S, 200)]


class _Refusing503:
    """A server that answers every request with HTTP 503 and counts them."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                outer.hits += 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _refuse  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_dead_or_failing_server_is_unavailable_after_a_bounded_number_of_attempts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import urllib.request

    from governance.registry import PING_TIMEOUT_S

    for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    recorder = _Recorder()
    monkeypatch.setattr(urllib.request, "urlopen", recorder)
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailable, match="does not answer"):
        ModelRegistry(dead).ping()
    assert recorder.calls == [(f"{dead}/health", PING_TIMEOUT_S, None)]  # one try, bounded timeout
    failing = _Refusing503()
    try:
        with pytest.raises(ServiceUnavailable):
            ModelRegistry(failing.url).list_versions(MLP)
        # MLflow's retries are lowered (its default retries for minutes): one retry per request
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
        assert 1 <= failing.hits <= 2
    finally:
        failing.close()
