"""The drift domain's seams, checked on every run: the Drift page and its ui helpers reach storage
only through the drift services; the drift package has no import cycle; no private SciPy name is
imported (a SciPy upgrade must not break the statistics silently)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DRIFT = ROOT / "monitoring" / "drift"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_drift_page_and_ui_import_no_storage() -> None:
    files = [ROOT / "pages" / "drift.py", *sorted((ROOT / "ui").glob("drift_*.py"))]
    for path in files:
        bad = sorted(n for n in _imported(path)
                     if n.split(".")[0] == "sqlalchemy" or n.startswith("core.db")
                     or (n.startswith("monitoring.") and n.split(".")[-1] == "tables"))
        assert bad == [], f"{path.relative_to(ROOT)} imports storage: {bad}"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_drift_package_has_no_import_cycle() -> None:
    modules = {_module(p): p for p in DRIFT.rglob("*.py")}
    graph = {m: {n for n in _imported(p) if n in modules and n != m and not m.startswith(n + ".")}
             for m, p in modules.items()}
    seen: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        if seen.get(m) == 1:
            raise AssertionError(f"import cycle: {' -> '.join(path[path.index(m):] + [m])}")
        if seen.get(m) == 2:
            return
        seen[m] = 1
        for n in sorted(graph[m]):
            visit(n, path + [n])
        seen[m] = 2

    for m in sorted(graph):
        visit(m, [m])
    assert "monitoring.drift.profile" in graph["monitoring.drift.compare"]  # the graph is really read


def test_no_private_scipy_import() -> None:
    for path in DRIFT.rglob("*.py"):
        private = sorted(n for n in _imported(path) if n.startswith("scipy") and any(
            part.startswith("_") for part in n.split(".")))
        assert private == [], f"{path.relative_to(ROOT)} imports private SciPy names: {private}"
