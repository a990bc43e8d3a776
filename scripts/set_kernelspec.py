"""Set the ``hubsd`` kernelspec in every notebook's metadata (outputs untouched).

JupyterLab then offers the kernel registered by the README's one-liner
(``python -m ipykernel install --user --name hubsd --display-name "Python (hubsd)"``);
nbval (``--nbval-current-env``) and hubsd's papermill runs ignore it and use the current Python.
``tests/test_notebooks_meta.py`` checks every notebook carries it.

    python scripts/set_kernelspec.py [NOTEBOOK ...]     # default: notebooks/*.ipynb
"""

import sys
from pathlib import Path

import nbformat

from hubsd.workflows.kernels import NOTEBOOK_KERNEL, NOTEBOOK_KERNEL_DISPLAY

KERNELSPEC = {
    "name": NOTEBOOK_KERNEL,
    "display_name": NOTEBOOK_KERNEL_DISPLAY,
    "language": "python",
}

paths = [Path(a) for a in sys.argv[1:]] or sorted(
    (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")
)
for path in paths:
    nb = nbformat.read(path, as_version=4)
    if nb.metadata.get("kernelspec") != KERNELSPEC:
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        nbformat.write(nb, path)
        print(f"{path}: kernelspec {NOTEBOOK_KERNEL}")
