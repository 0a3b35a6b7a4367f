"""The package's imports go one way: each unit imports only the units below it.

Every import statement counts, at module level or inside a function (a lazy import still
ties the two units together). A unit is a package of slowfast_atfr or, for the two parts of
`models` with rules of their own, a sub-package. ARCHITECTURE.md draws the same layers.
"""

import ast
import pathlib
from typing import Dict, Iterator, Optional, Set, Tuple

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent / "slowfast_atfr"
PACKAGE = PACKAGE_DIR.name

# unit -> the units it may import (besides itself). Siblings of one layer (datasets and
# models; checkpoint and evaluation) never import each other.
ALLOWED: Dict[str, Set[str]] = {
    "utils": set(),
    "config": {"utils"},
    "datasets": {"utils", "config"},
    "models.varlen": {"utils"},
    "models.atfr": {"utils", "config", "models.varlen"},
    "models": {"utils", "config", "models.varlen", "models.atfr"},
    "solver": {"utils", "config", "models", "models.varlen", "models.atfr"},
    "checkpoint": {"utils", "config", "models", "models.varlen", "models.atfr"},
    "evaluation": {"utils", "config"},
    "visualization": {"utils", "config", "datasets", "models", "models.varlen", "models.atfr",
                      "checkpoint", "evaluation"},
    "engine": {"utils", "config", "datasets", "models", "models.varlen", "models.atfr",
               "solver", "checkpoint", "evaluation", "visualization"},
}


def module_name(path: pathlib.Path, package_dir: pathlib.Path = PACKAGE_DIR) -> str:
    parts = (PACKAGE,) + path.relative_to(package_dir).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> Optional[str]:
    """The unit of a dotted module name; None for the top-level package itself."""
    inner = module.split(".")[1:]
    if not inner:
        return None
    if inner[0] == "models" and len(inner) > 1 and f"models.{inner[1]}" in ALLOWED:
        return f"models.{inner[1]}"
    return inner[0]


def _is_module(dotted: str, package_dir: pathlib.Path) -> bool:
    path = package_dir.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: pathlib.Path,
                     package_dir: pathlib.Path) -> Iterator[Tuple[int, str]]:
    """(line, module) of every import in `path`, lazy ones included."""
    module = module_name(path, package_dir)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                # `from pkg import submodule` imports the submodule, not only the package.
                target = f"{base}.{alias.name}"
                yield node.lineno, target if _is_module(target, package_dir) else base


def violations(package_dir: pathlib.Path = PACKAGE_DIR) -> Iterator[str]:
    for path in sorted(package_dir.rglob("*.py")):
        unit = unit_of(module_name(path, package_dir))
        for line, target in imported_modules(path, package_dir):
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            target_unit = unit_of(target)
            if unit is None or target_unit == unit:
                continue
            if target_unit is None or target_unit not in ALLOWED[unit]:
                rel = path.relative_to(package_dir.parent)
                yield f"{rel}:{line} ({unit}) imports {target} ({target_unit})"


def test_every_unit_has_rules():
    units = {unit_of(module_name(p)) for p in PACKAGE_DIR.rglob("*.py")} - {None}
    assert units == set(ALLOWED), "a new package needs its place in ALLOWED"


def test_imports_go_one_way():
    found = list(violations())
    assert not found, "imports against the layers:\n" + "\n".join(found)


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_allowed_imports_have_no_cycle(unit):
    """The rules themselves form a layering: no unit reaches itself through ALLOWED."""
    seen, todo = set(), list(ALLOWED[unit])
    while todo:
        other = todo.pop()
        assert other != unit, f"{unit} reaches itself through ALLOWED"
        if other not in seen:
            seen.add(other)
            todo.extend(ALLOWED[other])


def test_a_lazy_import_against_the_layers_is_found(tmp_path):
    """The checker sees imports inside functions and `from pkg import submodule` forms."""
    fake = tmp_path / PACKAGE
    for unit in ("utils", "config", "models"):
        (fake / unit).mkdir(parents=True)
        (fake / unit / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "models" / "build.py").write_text("")
    (fake / "utils" / "late.py").write_text(
        "def f():\n    from slowfast_atfr.models import build\n")
    (fake / "config" / "ok.py").write_text("from slowfast_atfr.utils import late\n")
    assert list(violations(fake)) == [
        f"{PACKAGE}/utils/late.py:2 (utils) imports {PACKAGE}.models.build (models)"]
