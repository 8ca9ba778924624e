"""The package's shape: the frame loop short, its steps in modules of their own, no import cycles."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tracker"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports (``from . import x`` names module x, not its
    package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & set(MODULES)


def test_import_helper_sees_relative_imports():
    steps = imported_modules("tracker.steps.box", MODULES["tracker.steps.box"])
    assert {"tracker.steps.regression", "tracker.targets", "tracker.config"} <= steps
    assert "tracker.cli.bench" in imported_modules("tracker.cli.main", MODULES["tracker.cli.main"])


def test_no_two_modules_import_each_other():
    imports = {name: imported_modules(name, path) for name, path in MODULES.items()}
    mutual = sorted((a, b) for a in imports for b in imports[a] if a < b and a in imports.get(b, ()))
    assert mutual == []


def test_the_frame_loop_module_and_every_class_stay_short():
    assert len((PACKAGE / "siamfc.py").read_text(encoding="utf-8").splitlines()) <= 300
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300:
                long.append(f"{name}.{node.name}")
    assert long == []


def test_top_level_holds_at_most_twelve_modules():
    assert len(list(PACKAGE.glob("*.py"))) <= 12


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("tracker.steps")))
def test_each_step_module_opens_with_one_line_on_its_purpose(name):
    doc = ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8")))
    assert doc, f"{name} has no docstring"
    first = doc.splitlines()[0]
    assert first.endswith(".") and len(first) <= 100, first
