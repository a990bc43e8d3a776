"""The package's layering: rooms import only from rooms below them, no cycles, small modules.

The rooms of ``analysis/hubsd/``, lowest first (``hubsd/__init__.py`` is the public API above
them all)::

    core -> model -> inputs -> engine -> plots -> calibration -> validation -> studies
         -> workflows -> cli

These tests read the source (``ast``), so they see every import, including one hidden inside
a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hubsd

PACKAGE = Path(hubsd.__file__).parent
ROOMS = ["core", "model", "inputs", "engine", "plots", "calibration", "validation", "studies",
         "workflows", "cli"]
MAX_LINES = 800
#: Imports allowed inside functions: optional or heavy dependencies loaded only when needed.
LAZY_OK = {"pysd", "dask", "distributed", "papermill", "nbformat", "nbconvert", "SALib",
           "matplotlib", "seaborn", "tqdm", "multiprocessing", "mmap", "concurrent", "ipywidgets",
           "IPython", "ema_workbench", "sklearn", "numba"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("hubsd", *parts)).removesuffix(".__init__")
        out[name] = path
    return out


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported hubsd module, inside a function) for every import of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = set()  # ``if TYPE_CHECKING:`` imports exist for annotations, never at run time
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            typing_only |= {id(n) for n in ast.walk(node)}
    local = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local |= {id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module.split(".")[0] == "hubsd":  # "from hubsd.x import y": y may be a module
                names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            if isinstance(node, ast.ImportFrom) and node.level:
                out.append((node.lineno, "<relative import>", id(node) in local))
            continue
        out += [(node.lineno, n, id(node) in local) for n in names]
    return out


MODULES = _modules()


def test_every_module_is_in_a_room():
    stray = [m for m in MODULES if m != "hubsd" and _room(m) not in ROOMS]
    assert not stray, f"modules outside the rooms {ROOMS}: {stray}"


@pytest.mark.parametrize("module", [m for m in MODULES if m != "hubsd"])
def test_no_upward_or_relative_import(module):
    room = ROOMS.index(_room(module))
    bad = []
    for line, name, _ in _imports(MODULES[module]):
        if name == "<relative import>":
            bad.append(f"line {line}: relative import (use absolute hubsd.<room>.<module>)")
        elif name == "hubsd":
            bad.append(f"line {line}: imports the package's public API from inside it")
        elif name.startswith("hubsd.") and _room(name) in ROOMS and ROOMS.index(_room(name)) > room:
            bad.append(f"line {line}: {name} is in a higher room")
    assert not bad, f"{module}: " + "; ".join(bad)


def test_no_import_cycle():
    graph = {m: {n for _, n, _ in _imports(p) if n in MODULES and n != m}
             for m, p in MODULES.items() if m != "hubsd"}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("module", list(MODULES))
def test_no_function_local_import_of_the_package_or_light_modules(module):
    bad = [f"line {line}: {name}" for line, name, local in _imports(MODULES[module])
           if local and name.split(".")[0] not in LAZY_OK]
    assert not bad, f"{module} imports inside functions: {bad}"


@pytest.mark.parametrize("module", list(MODULES))
def test_module_size(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES})"


def test_every_error_derives_from_hubsd_error():
    classes = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                classes.append((module, node.name))
    assert classes
    for module, name in classes:
        obj = getattr(__import__(module, fromlist=[name]), name)
        assert issubclass(obj, hubsd.HubsdError), f"{module}.{name} is not a HubsdError"


def test_public_api():
    for name in ("run", "run_scenarios", "run_ensemble", "calibrate", "validate_model", "sobol",
                 "morris", "parameter_table", "load_hub", "check_parameters"):
        assert callable(getattr(hubsd, name)), name
        assert name in hubsd.__all__
    assert list(__import__("inspect").signature(hubsd.run_ensemble).parameters)[:3] == [
        "hub", "params", "outputs"]
