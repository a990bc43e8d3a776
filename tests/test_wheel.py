"""A wheel that works: built, installed into a fresh virtual environment, run from elsewhere.

The wheel is built offline from a copy of the sources (``pip wheel --no-deps
--no-build-isolation --no-index``, so nothing is written into the checkout) and installed with
``--no-deps --no-index`` into a new virtual environment outside the repository. The
dependencies (PySD, SciPy, ...) are those of the running environment, made visible through a
``.pth`` file written after the install, so the test needs no network. The installed
``hubsd`` must then find its model, hubs, scenarios, observations, specs, calibrated sets and
notebooks as package data (``hubsd/_bundle``, through importlib.resources), run the commands a
user runs first from an unrelated folder, and refuse to save a calibrated set into the
installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "analysis" / "hubsd"
#: Top-level folders that ship as package data, with their place in the wheel.
BUNDLED = {
    "models": "hubsd/_bundle/models",
    "data": "hubsd/_bundle/data",
    "notebooks": "hubsd/_bundle/notebooks",
}


def _bundled_files(folder: str) -> list[str]:
    root = REPO / folder
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in {".mdl", ".yaml", ".csv", ".md", ".ipynb"}
        and not any(
            part.startswith(".") or part in {"outputs", "__pycache__"}
            for part in p.relative_to(root).parts
        )
    )


def test_every_subpackage_is_in_the_build_config():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {"hubsd"} | {f"hubsd.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    mapped = config["tool"]["setuptools"]["package-dir"]
    for folder, place in BUNDLED.items():
        assert mapped[place.replace("/", ".")] == folder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a copy of the sources."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*", "outputs")
    for folder in ("analysis", *BUNDLED):
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = out.glob("hubsd-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """A fresh virtual environment with the wheel installed; its ``bin`` folder."""
    root = tmp_path_factory.mktemp("venv")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True, timeout=300)
    python = root / "bin" / "python"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the dependencies: this environment's site-packages, after the venv's own (written only
    # now, so pip never sees this environment's hubsd)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_hubsd_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return root / "bin"


def _env():
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "HUBSD_WORKSPACE"}}
    return env


def _hubsd(bin_: Path, args, cwd, timeout=900):
    return subprocess.run(
        [str(bin_ / "hubsd"), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_wheel_carries_the_bundled_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, place in BUNDLED.items():
        missing = [f for f in _bundled_files(folder) if f"{place}/{f}" not in names]
        assert not missing, f"{folder}/ files missing from the wheel: {missing[:5]}"
    assert not any(n.endswith(".py") and "_bundle" in n for n in names)  # no generated code


@pytest.mark.slow
def test_installed_wheel_runs_from_an_unrelated_folder(venv, tmp_path):
    # the calibration inputs, as `hubsd calibrate --hub krakow` reads them: the bundled spec
    # and every bundled observation file, and the objective's model values at the middle of
    # the ranges (the fit itself, the report and the saved set are tested through the command
    # line in tests/test_calibrate_refits.py; a fit here cost the suite 45 s of CPU)
    where = subprocess.run(
        [
            str(venv / "python"),
            "-c",
            "import numpy as np, hubsd, hubsd.core.paths as p\n"
            "from hubsd.calibration.spec import load_spec\n"
            "from hubsd.calibration.fit import Objective\n"
            "spec = load_spec('krakow')\n"
            "pred = Objective(spec).predictions(np.full((1, len(spec.free)), 0.5))\n"
            "print(p.INSTALLED, p.REPO, hubsd.__file__, spec.path, len(spec.points),\n"
            "      len(spec.data_files), int(np.isfinite(pred).all()))",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0] == "True"
    assert all(Path(w).is_relative_to(venv.parent) for w in where[1:4]), where
    assert Path(where[3]).name == "krakow.yaml" and int(where[4]) > 10, where
    bundled_data = sorted((REPO / "data" / "observed").glob("*.csv"))
    assert int(where[5]) == len(bundled_data) > 0 and where[6] == "1", where

    done = _hubsd(venv, ["run"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "outputs" / "run-krakow" / "krakow_scenarios.nc").is_file()
    assert "smart_mix" in done.stdout

    done = _hubsd(venv, ["validate", "--samples", "20"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = (tmp_path / "outputs" / "validate-krakow" / "validation.md").read_text("utf-8")
    assert "behaviour reproduction" in report  # the bundled calibrated set, spec and data

    # never into site-packages: saving needs a workspace (refused before fitting)
    done = _hubsd(venv, ["calibrate", "--hub", "krakow", "--no-intervals"], tmp_path)
    assert done.returncode == 2
    assert "hubsd init DIR" in done.stderr
    bundle = Path(where[1])
    assert sorted(p.name for p in (bundle / "data" / "calibrated" / "krakow").iterdir()) == sorted(
        p.name for p in (REPO / "data" / "calibrated" / "krakow").glob("v*.yaml")
    )


@pytest.mark.slow
def test_installed_wheel_makes_a_workspace_with_the_notebooks(venv, tmp_path):
    done = _hubsd(venv, ["init", "ws"], tmp_path)
    assert done.returncode == 0, done.stderr
    ws = tmp_path / "ws"
    assert (ws / "notebooks" / "00_explorer.ipynb").is_file()
    assert (ws / "hubs" / "krakow.yaml").is_file()
    text = (ws / "hubs" / "krakow.yaml").read_text(encoding="utf-8")
    (ws / "hubs" / "gdansk.yaml").write_text(
        text.replace("name: Kraków", "name: Gdańsk"), encoding="utf-8"
    )
    done = _hubsd(venv, ["hubs"], ws)
    assert done.returncode == 0, done.stderr
    assert "krakow: Kraków" in done.stdout and "gdansk: Gdańsk" in done.stdout
