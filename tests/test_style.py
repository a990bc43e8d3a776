"""Style of the package: ruff's lint rules (with the numpy docstring rules ``D``) and format.

The configuration is in ``pyproject.toml``. A public function of ``hubsd`` documents its
parameters, what it returns and an example, numpy style, so ``help(hubsd.run)`` answers the
questions a user has before a first run.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hubsd

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "analysis/hubsd"
RUFF = Path(sys.executable).with_name("ruff")

needs_ruff = pytest.mark.skipif(
    not RUFF.is_file(),
    reason=f"ruff is not installed next to {sys.executable} (pip install -e '.[test]')",
)


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RUFF), *args, PACKAGE], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@needs_ruff
def test_ruff_check():
    result = _ruff("check", "--output-format", "concise")
    assert result.returncode == 0, f"ruff check {PACKAGE}:\n{result.stdout}{result.stderr}"


@needs_ruff
def test_ruff_format():
    result = _ruff("format", "--check")
    assert result.returncode == 0, (
        f"ruff format --check {PACKAGE} (run `ruff format {PACKAGE}`):\n"
        f"{result.stdout}{result.stderr}"
    )


def _sections(doc: str) -> set[str]:
    """Numpy-style section titles: a line of text underlined by dashes of the same length."""
    lines = inspect.cleandoc(doc).splitlines()
    return {
        title.strip()
        for title, under in zip(lines, lines[1:], strict=False)
        if title.strip()
        and re.fullmatch(r"-{3,}", under.strip())
        and len(under.strip()) == len(title.strip())
    }


PUBLIC_FUNCTIONS = sorted(
    name for name in hubsd.__all__ if inspect.isfunction(getattr(hubsd, name))
)


def test_public_functions_are_found():
    assert {
        "run",
        "run_scenarios",
        "run_ensemble",
        "calibrate",
        "validate_model",
        "sobol",
        "morris",
        "parameter_table",
        "load_hub",
        "check_parameters",
    } <= set(PUBLIC_FUNCTIONS)


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_function_has_numpy_docstring(name):
    func = getattr(hubsd, name)
    doc = inspect.getdoc(func)
    assert doc, f"hubsd.{name} has no docstring"
    needed = {"Returns", "Examples"}
    if inspect.signature(func).parameters:
        needed.add("Parameters")
    missing = needed - _sections(doc)
    assert not missing, f"hubsd.{name}: docstring lacks the section(s) {sorted(missing)}"
