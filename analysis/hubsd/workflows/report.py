"""A browsable HTML report: a front page that leads with findings, and one page per notebook.

>>> index = build_report("outputs/pipeline/notebooks", "outputs/pipeline/report")

The front page (:mod:`hubsd.workflows.frontpage`) shows, when the notebooks come from a
pipeline folder (``<pipeline>/notebooks``, or ``pipeline=`` given), each hub's headline table,
figures and calibration quality from ``<pipeline>/runs/<hub>/``, the claims ledger
(``<pipeline>/claims/claims.csv``) if there is one, and then the notebooks with their summaries.

Each notebook is rendered as it was executed (nothing is re-run) with nbconvert's HTML exporter,
figures embedded, code cells hidden until the page's "Show code" button is pressed; a widget's
output shows the image it left (the explorer's last state), never a script from the web. Every
page is self-contained. The folder is built beside the target and renamed into place when
complete; an existing target is replaced only if it is an earlier report (it holds
``hubsd-report.json``) or empty.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from hubsd.core.atomic import atomic_folder
from hubsd.core.errors import HubsdError
from hubsd.workflows.frontpage import front_page

MARKER = "hubsd-report.json"
#: Inserted after ``<body>`` of every notebook page: code hidden, a button to show it.
CODE_TOGGLE = """
<style>
body.hubsd-hide-code .jp-CodeCell .jp-Cell-inputWrapper,
body.hubsd-hide-code .jp-CodeCell .jp-InputPrompt {display:none}
#hubsd-toggle {position:fixed;top:.6em;right:.6em;z-index:100;padding:.3em .8em;
 font:14px sans-serif;background:#fff;border:1px solid #888;border-radius:4px;cursor:pointer}
#hubsd-back {position:fixed;top:.6em;left:.6em;z-index:100;font:14px sans-serif}
</style>
<a id="hubsd-back" href="index.html">&larr; report</a>
<button id="hubsd-toggle" type="button" onclick="var b=document.body;
b.classList.toggle('hubsd-hide-code');
this.textContent=b.classList.contains('hubsd-hide-code')?'Show code':'Hide code';"
>Show code</button>
"""


class ReportError(HubsdError):
    """No notebooks to render, or an output folder that must not be replaced."""


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _static(nb):
    """The notebook without widget state: widget outputs render as the image they left."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data and len(data) > 1:
                del data["application/vnd.jupyter.widget-view+json"]
    return nb


#: Scripts nbconvert's page loads from the web (require.js, MathJax, Mermaid): none is needed
#: by these notebooks, and the pages must work offline, mailed or archived.
_WEB_SCRIPT = re.compile(
    r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>"
    r"|<script type=\"module\">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*</script>",
    re.DOTALL,
)


def _hide_code(body: str) -> str:
    """Code cells hidden by default (``<body class="hubsd-hide-code">``) with a toggle.

    Scripts from the web are dropped (:data:`_WEB_SCRIPT`): the page is self-contained.
    """
    body = _WEB_SCRIPT.sub("", body)
    start = body.find("<body")
    end = body.find(">", start) + 1
    if start < 0 or end <= 0:
        return body
    tag = body[start:end]
    if 'class="' in tag:
        tag = tag.replace('class="', 'class="hubsd-hide-code ', 1)
    else:
        tag = tag[:-1] + ' class="hubsd-hide-code">'
    return body[:start] + tag + CODE_TOGGLE + body[end:]


def _pipeline_of(notebooks: Path) -> Path | None:
    """The pipeline folder the notebooks belong to (``<pipeline>/notebooks``), if any."""
    parent = notebooks.resolve().parent
    return parent if (parent / "runs").is_dir() else None


def _summary(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            paras = [p for p in cell.source.split("\n\n") if not p.startswith("#")]
            if paras:
                return " ".join(paras[0].split())
    return ""


def build_report(
    notebooks: str | os.PathLike = "notebooks",
    out: str | os.PathLike = "outputs/report",
    pipeline: str | os.PathLike | None = None,
) -> Path:
    """Render every ``*.ipynb`` in ``notebooks`` to ``out/<name>.html`` plus ``out/index.html``.

    Parameters
    ----------
    notebooks : path
        Folder of executed notebooks.
    out : path
        Report folder (replaced if it holds an earlier report).
    pipeline : path, optional
        Pipeline folder whose ``runs/`` and ``claims/`` the front page shows; default: the
        notebooks' parent folder if it has ``runs/`` (as ``<pipeline>/notebooks`` has).

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown import markdown2html

    src = Path(notebooks)
    if not src.is_dir():
        raise ReportError(f"--notebooks {str(notebooks)!r} is not a folder")
    paths = sorted(p for p in src.glob("*.ipynb") if not p.name.startswith("."))
    if not paths:
        raise ReportError(f"no notebooks (*.ipynb) in {src}")
    target = Path(out).resolve()
    if target.exists() and (
        not target.is_dir() or (any(target.iterdir()) and not (target / MARKER).is_file())
    ):
        raise ReportError(
            f"--out {str(out)!r} exists and is not an earlier report (no "
            f"{MARKER}); give a new folder or remove it"
        )
    with atomic_folder(target) as tmp:
        exporter = HTMLExporter()
        entries = []
        for path in paths:
            nb = _static(nbformat.read(path, as_version=4))
            executed = any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
            body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
            (tmp / f"{path.stem}.html").write_text(_hide_code(body), encoding="utf-8")
            entries.append(
                {
                    "file": f"{path.stem}.html",
                    "notebook": path.name,
                    "title": _title(nb, path.stem),
                    "summary": _summary(nb),
                    "executed": executed,
                }
            )
        created = datetime.now(UTC).isoformat(timespec="seconds")
        runs = Path(pipeline).resolve() if pipeline is not None else _pipeline_of(src)
        index = front_page(entries, runs, str(src.resolve()), created, markdown2html)
        (tmp / "index.html").write_text(index, encoding="utf-8")
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "notebooks": str(src.resolve()),
                    "pipeline": str(runs) if runs is not None else None,
                    "pages": entries,
                    "created": created,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return target / "index.html"
