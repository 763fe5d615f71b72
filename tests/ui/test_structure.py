"""The ui's shape (issue 13): panels never import the window, no import cycles, small modules.

Import-linter enforces the layers in ``make test``; these checks cover what a contract cannot
say (cycles inside a package, TYPE_CHECKING imports included, and sizes).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

UI = Path(__file__).resolve().parents[2] / "app" / "ui"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # grimp reads every import statement, those under `if TYPE_CHECKING:` and in functions too.
    return grimp.build_graph("app")


def test_panels_never_import_the_window(graph: grimp.ImportGraph) -> None:
    assert not graph.chain_exists(importer="app.ui.panels", imported="app.ui.window", as_packages=True)


def test_results_and_widgets_never_import_panels_or_the_window(graph: grimp.ImportGraph) -> None:
    for low in ("app.ui.results", "app.ui.widgets", "app.ui.jobs", "app.ui.state"):
        for high in ("app.ui.panels", "app.ui.window"):
            assert not graph.chain_exists(importer=low, imported=high, as_packages=True), (low, high)


def test_no_import_cycle_in_the_ui(graph: grimp.ImportGraph) -> None:
    modules = sorted(m for m in graph.modules if m == "app.ui" or m.startswith("app.ui."))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(m: str) -> None:  # Tarjan's strongly connected components
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for n in graph.find_modules_directly_imported_by(m):
            if not n.startswith("app.ui"):
                continue
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            component = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                component.append(n)
                if n == m:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in modules:
        if m not in index:
            visit(m)
    assert cycles == []


def test_modules_classes_and_folders_stay_small() -> None:
    too_big = []
    for path in sorted(UI.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > 400:
            too_big.append(f"{path.relative_to(UI)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300:
                too_big.append(f"{path.relative_to(UI)}: class {node.name}")
    for folder in sorted({p.parent for p in UI.rglob("*.py")}):
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        if len(modules) > 12:
            too_big.append(f"{folder.relative_to(UI)}: {len(modules)} modules")
    assert too_big == []


def test_the_temperature_slider_changes_the_plot_in_three_files() -> None:
    """The state holds T, the slider writes it, the plots listen: nothing in between."""
    state = (UI / "state.py").read_text()
    slider = (UI / "panels" / "calibration" / "temperature_control.py").read_text()
    plots = [(UI / "results" / "probability_plot.py").read_text(),
             (UI / "panels" / "calibration" / "reliability_plot.py").read_text()]
    assert "temperature_changed = Signal(float)" in state
    assert "self.state.set_temperature(" in slider
    assert all("state.temperature_changed.connect(" in plot for plot in plots)
