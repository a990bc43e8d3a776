"""Notebook kernels and reproducible notebooks (issue 15).

The notebooks name the ``hubsd`` kernel (JupyterLab offers it once the README's one-liner has
registered it); the pipeline and sweeps run them in the Python that runs hubsd whether or not it
is registered; an explicit kernel must be installed; every notebook that runs a hub prints what
the hub name resolved to, and the committed notebooks that run calibrated sets name the newest
ones (a new version shows up here, with what to do, instead of as an unexplained nbval diff).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

import hubsd.cli.commands as _cli_commands
from hubsd.inputs.calibrated import versions
from hubsd.inputs.hubs import HubError, available, describe
from hubsd.workflows import kernels
from hubsd.workflows.sweep import notebook_parameters

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TINY = Path(__file__).parent / "notebooks" / "tiny.ipynb"


def _no_kernels_installed(monkeypatch, tmp_path):
    """Jupyter sees only this temporary folder's kernels (and the native python3)."""
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")


def _probe(tmp_path, kernelspec: str) -> Path:
    """A notebook naming ``kernelspec`` that prints the Python it runs in."""
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("import sys\nprint(sys.executable, x)"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": kernelspec, "display_name": "x", "language": "python"}
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    return path


def _printed(path: Path) -> str:
    """A notebook's printed and displayed text (streams and text/plain results)."""
    nb = nbformat.read(path, as_version=4)
    return "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


@pytest.mark.parametrize("path", [*NOTEBOOKS, TINY], ids=lambda p: p.name)
def test_every_notebook_names_the_hubsd_kernel(path):
    spec = nbformat.read(path, as_version=4).metadata.get("kernelspec", {})
    assert (spec.get("name"), spec.get("display_name"), spec.get("language")) == (
        kernels.NOTEBOOK_KERNEL,
        kernels.NOTEBOOK_KERNEL_DISPLAY,
        "python",
    ), f"{path.name}: run `python scripts/set_kernelspec.py`"


def test_the_readme_registers_the_kernel_the_notebooks_name():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert kernels.REGISTER in readme


def test_papermill_runs_a_notebook_in_this_python_when_its_kernel_is_not_registered(
    tmp_path, monkeypatch
):
    _no_kernels_installed(monkeypatch, tmp_path)
    assert kernels.NOTEBOOK_KERNEL not in kernels.installed_kernels()
    src, out = _probe(tmp_path, kernels.NOTEBOOK_KERNEL), tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(src), str(out), parameters={"x": 7}, progress_bar=False,
        **kernels.papermill_kernel(None), **kernels.kernel_options(),
    )  # fmt: skip
    assert _printed(out).split() == [sys.executable, "7"]
    # the executed notebook still names the kernel JupyterLab should offer
    assert nbformat.read(out, as_version=4).metadata.kernelspec.name == kernels.NOTEBOOK_KERNEL


def test_the_readme_one_liner_registers_a_kernel_papermill_can_run(tmp_path, monkeypatch):
    """The README's command (with --prefix for --user, to stay in a temporary folder)."""
    _no_kernels_installed(monkeypatch, tmp_path)
    cmd = kernels.REGISTER.replace("python ", f"{sys.executable} ", 1).replace(
        "--user", f"--prefix {tmp_path}"
    )
    subprocess.run(cmd, shell=True, check=True, capture_output=True)
    assert kernels.NOTEBOOK_KERNEL in kernels.installed_kernels()
    kernels.check_kernel(kernels.NOTEBOOK_KERNEL)
    src, out = _probe(tmp_path, "anything"), tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(src), str(out), progress_bar=False,
        **kernels.papermill_kernel(kernels.NOTEBOOK_KERNEL), **kernels.kernel_options(),
    )  # fmt: skip
    assert _printed(out).split() == [sys.executable, "1"]


def test_an_unknown_kernel_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    _no_kernels_installed(monkeypatch, tmp_path)
    with pytest.raises(
        kernels.KernelError,
        match=r"no Jupyter kernel 'pyhton3'; did you mean 'python3'.*installed: python3 .*"
        r"ipykernel install --user --name hubsd",
    ):
        kernels.check_kernel("pyhton3")
    with pytest.raises(kernels.KernelError, match=r"no Jupyter kernel 'hubsd'; installed: python3"):
        kernels.check_kernel("hubsd")  # named by the notebooks, but not registered here
    spec = tmp_path / "spec.yaml"
    spec.write_text("list:\n  - {x: 1.0}\n", encoding="utf-8")
    out = tmp_path / "sweep"
    code = _cli_commands.main(
        ["sweep", str(TINY), str(spec), "--out", str(out), "--kernel", "nope"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "hubsd: error: no Jupyter kernel 'nope'" in err
    assert not out.exists()


# -- notebooks say which calibrated set they ran --------------------------------------------------


def _hub_notebooks():
    return [p for p in NOTEBOOKS if "hub" in notebook_parameters(p)]


@pytest.mark.parametrize("path", _hub_notebooks(), ids=lambda p: p.name)
def test_notebooks_with_a_hub_print_what_it_resolved_to(path):
    """Run for ``krakow@calibrated`` (the pipeline gives ``krakow@vN``), a notebook's first
    lines name the version; as committed (the hub file) they name the file."""
    default = ast.literal_eval(notebook_parameters(path)["hub"]["default"])
    assert describe(default) in _printed(path), (
        f"{path.name}: print(describe(hub)) (hubsd.inputs.hubs) before the first result"
    )


def test_committed_notebooks_ran_the_newest_calibrated_sets():
    """05 (every hub at its newest set) names each version it ran: after ``hubsd calibrate``
    saves a new version, this says so instead of a bare nbval mismatch of numbers."""
    text = _printed(REPO / "notebooks" / "05_hubs.ipynb")
    for hub in available():
        found = versions(hub)
        if found:
            assert f"{hub}@{found[-1]}" in text, (
                f"notebooks/05_hubs.ipynb was executed before {hub}@{found[-1]} was saved: "
                "re-execute the notebooks that run calibrated sets (05, 06, 07)"
            )


def test_describe_names_the_version_a_hub_name_resolves_to():
    newest = versions("krakow")[-1]
    assert describe("krakow") == "hub: krakow (data/hubs/krakow.yaml, the hub file)"
    assert describe("krakow@calibrated") == (
        f"hub: krakow@calibrated = krakow@{newest} (data/calibrated/krakow/{newest}.yaml over "
        "data/hubs/krakow.yaml)"
    )
    assert describe(f"krakow@{newest}").startswith(f"hub: krakow@{newest} (data/calibrated/")
    with pytest.raises(HubError, match=r"no calibrated version 'v99'; versions: v1"):
        describe("krakow@v99")
