"""House rules that keep the codebase in one shape, checked on every run."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BELOW_UI = ("core", "governance", "monitoring", "jobs", "demo", "mcp_server")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_below_the_ui_imports_streamlit() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for package in BELOW_UI
        for p in (ROOT / package).rglob("*.py")
        if "streamlit" in _imports(p)
    ]
    assert offenders == [], f"only app.py, pages/ and ui/ may import streamlit: {offenders}"


def test_every_requirement_is_pinned_exactly() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-r"):
                continue
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", line), f"{name}: not pinned: {line}"


def test_alibi_detect_is_not_in_the_default_install() -> None:
    text = (ROOT / "requirements.txt").read_text().lower()
    assert "alibi" not in text, "alibi-detect is BSL-licensed and pins numpy<2: optional extra only"


def test_pandas_stays_below_3_for_evidently() -> None:
    pins = dict(
        line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert int(pins["pandas"].split(".")[0]) < 3


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_")))
def test_every_job_explains_itself(module: str) -> None:
    out = subprocess.run([sys.executable, "-m", f"jobs.{module}", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout.lower() and f"jobs.{module}" in out.stdout


def test_importing_core_switches_telemetry_off() -> None:
    code = ("import os; [os.environ.pop(k, None) for k in ('DO_NOT_TRACK','MLFLOW_DISABLE_TELEMETRY')]; "
            "import core; print(os.environ['DO_NOT_TRACK'], os.environ['MLFLOW_DISABLE_TELEMETRY'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["true", "true"]


# ---- pages and ui call services only -------------------------------------------------------------
# (shared/ARCHITECTURE.md, "Seams to keep": pages/ and ui/ import no SQLAlchemy, no engine, no
# table module, no store path; the services check permissions and own every query.)

FRONT = ("pages", "ui")
FORBIDDEN_MODULES = re.compile(
    r"^(sqlalchemy(\..*)?|core\.db|core\.tables|governance\.tables|monitoring\.\w+\.tables)$")
# ctx.engine and the store directories belong to the services and jobs
FORBIDDEN_ATTRIBUTES = frozenset({"engine", "artifacts_dir", "logstore_dir", "quarantine_dir",
                                  "mlflow_artifacts_dir"})


def _front_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for package in FRONT:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def _modules_imported(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` anywhere in the file (functions included)
    may load, with ``from a.b import c`` counted as both ``a.b`` and ``a.b.c``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in {
                "import_module", "__import__"}:
            names.update(str(a.value) for a in node.args[:1] if isinstance(a, ast.Constant))
    return names


def _attributes_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def test_the_architecture_checker_sees_what_it_must_refuse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy.orm\nfrom core import db\n\ndef f(ctx):\n"
                   "    from monitoring.slo.tables import SLOSnapshot\n"
                   "    from monitoring.health import tables\n"
                   "    return ctx.engine, ctx.settings.quarantine_dir\n")
    found = {m for m in _modules_imported(bad) if FORBIDDEN_MODULES.match(m)}
    assert found == {"sqlalchemy.orm", "core.db", "monitoring.slo.tables", "monitoring.health.tables"}
    assert _attributes_used(bad) & FORBIDDEN_ATTRIBUTES == {"engine", "quarantine_dir"}
    fine = tmp_path / "fine.py"
    fine.write_text("from core.redact import redact_url\nfrom monitoring.slo.service import latest_snapshots\n"
                    "from governance.registry import champion_of\n")
    assert not {m for m in _modules_imported(fine) if FORBIDDEN_MODULES.match(m)}
    blind = tmp_path / "blind.py"
    blind.write_text("from monitoring.slo.service import latest_snapshots\nfrom governance import job_runs\n"
                     "def f(ctx, user):\n    latest_snapshots(ctx, 'm', viewer=user)\n"
                     "    return latest_snapshots(ctx, 'm'), job_runs.last_run(ctx, 'slo', 'm')\n")
    assert [(line, name, kw) for line, _, name, kw in _service_calls(blind)] == [
        (4, "latest_snapshots", {"viewer"}), (5, "latest_snapshots", set()), (5, "last_run", set())]


def test_pages_and_ui_import_no_database_or_table_module() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in _modules_imported(p) if FORBIDDEN_MODULES.match(m))
        for p in _front_files()
    }
    offenders = {path: mods for path, mods in offenders.items() if mods}
    assert offenders == {}, f"pages/ and ui/ call services only (no SQLAlchemy, core.db, tables): {offenders}"


def test_pages_and_ui_touch_no_engine_and_no_store_path() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_attributes_used(p) & FORBIDDEN_ATTRIBUTES)
                 for p in _front_files()}
    offenders = {path: attrs for path, attrs in offenders.items() if attrs}
    assert offenders == {}, f"pages/ and ui/ leave the engine and store paths to services: {offenders}"


SERVICE_MODULES = re.compile(r"^(monitoring\.\w+\.service|governance\.job_runs|governance\.system)$")


def _service_calls(path: Path) -> list[tuple[int, str, str, set[str]]]:
    """(line, module, function, keywords) of every call in ``path`` to a read service's function,
    whether imported by name or called on the imported service module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    functions: dict[str, tuple[str, str]] = {}
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                local = alias.asname or alias.name
                if SERVICE_MODULES.match(node.module):
                    functions[local] = (node.module, alias.name)
                elif SERVICE_MODULES.match(f"{node.module}.{alias.name}"):
                    modules[local] = f"{node.module}.{alias.name}"
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = None
        if isinstance(node.func, ast.Name) and node.func.id in functions:
            target = functions[node.func.id]
        elif (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
              and node.func.value.id in modules):
            target = (modules[node.func.value.id], node.func.attr)
        if target:
            calls.append((node.lineno, *target, {k.arg for k in node.keywords if k.arg}))
    return calls


def test_pages_and_ui_always_tell_a_read_service_who_is_looking() -> None:
    """A read whose ``viewer`` is left out runs as a trusted internal caller: never from the UI."""
    import importlib
    import inspect

    offenders = []
    for path in _front_files():
        for line, module, name, keywords in _service_calls(path):
            function = getattr(importlib.import_module(module), name, None)
            if callable(function) and "viewer" in inspect.signature(function).parameters \
                    and "viewer" not in keywords:
                offenders.append(f"{path.relative_to(ROOT)}:{line} {module}.{name}")
    assert offenders == [], f"pass viewer= to every read service: {offenders}"


# ---- no import cycles anywhere ---------------------------------------------------------------

PACKAGES = ("core", "governance", "monitoring", "jobs", "ui", "demo")


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> set[str]:
    """Every module (or module.name) imported at run time, at the top or inside a function;
    imports under ``if TYPE_CHECKING:`` are for annotations only and never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            for n in ast.walk(node)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    modules = {_module_name(p, root): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    return {m: {n for n in _runtime_imports(p) if n in modules and n != m and not m.startswith(n + ".")}
            for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    import graphlib

    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_no_module_imports_itself_back_through_others() -> None:
    """A lazy import inside a function is still a cycle: two modules that need each other are
    one module, or share a third (the audit, drift and explain cycles were split this way)."""
    graph = import_graph()
    assert graph["monitoring.drift.service"], "the import graph was not read"
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def test_the_cycle_check_finds_a_planted_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from core.b import g\n    return g\n")
    (pkg / "b.py").write_text("from core.a import f\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.a import f\n")
    graph = import_graph(tmp_path, ("core",))
    assert sorted(set(find_cycle(graph) or [])) == ["core.a", "core.b"]
    assert graph["core.c"] == set()  # an annotation-only import is no dependency
