"""A browsable HTML report of the executed notebooks: one page per notebook and an index.

>>> index = build_report("notebooks", "outputs/report")

Each notebook is rendered as it was committed (executed; nothing is re-run) with nbconvert's
HTML exporter, figures embedded. The folder is built beside the target and renamed into place
when complete; an existing target is replaced only if it is an earlier report (it holds
``hubsd-report.json``) or empty.
"""

from __future__ import annotations

import html
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from hubsd.core.atomic import atomic_folder
from hubsd.core.errors import HubsdError

MARKER = "hubsd-report.json"


class ReportError(HubsdError):
    """No notebooks to render, or an output folder that must not be replaced."""


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _summary(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            paras = [p for p in cell.source.split("\n\n") if not p.startswith("#")]
            if paras:
                return " ".join(paras[0].split())
    return ""


def build_report(
    notebooks: str | os.PathLike = "notebooks", out: str | os.PathLike = "outputs/report"
) -> Path:
    """Render every ``*.ipynb`` in ``notebooks`` to ``out/<name>.html`` plus ``out/index.html``.

    Returns the path of ``index.html``.
    """
    import nbformat
    from nbconvert import HTMLExporter

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
            nb = nbformat.read(path, as_version=4)
            executed = any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
            body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
            (tmp / f"{path.stem}.html").write_text(body, encoding="utf-8")
            entries.append(
                {
                    "file": f"{path.stem}.html",
                    "notebook": path.name,
                    "title": _title(nb, path.stem),
                    "summary": _summary(nb),
                    "executed": executed,
                }
            )
        items = "\n".join(
            f'<li><a href="{html.escape(e["file"])}">{html.escape(e["title"])}</a> '
            f"<code>{html.escape(e['notebook'])}</code>"
            + ("" if e["executed"] else " <em>(not executed)</em>")
            + f"<p>{html.escape(e['summary'])}</p></li>"
            for e in entries
        )
        created = datetime.now(UTC).isoformat(timespec="seconds")
        index = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hubsd notebooks</title>
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.4}}
li{{margin-bottom:1em}} p{{margin:.2em 0;color:#444}}</style></head>
<body><h1>hubsd notebooks</h1>
<p>Executed notebooks from <code>{html.escape(str(src.resolve()))}</code>, rendered {created}.</p>
<ol>
{items}
</ol></body></html>
"""
        (tmp / "index.html").write_text(index, encoding="utf-8")
        (tmp / MARKER).write_text(
            json.dumps(
                {"notebooks": str(src.resolve()), "pages": entries, "created": created}, indent=2
            )
            + "\n",
            encoding="utf-8",
        )
    return target / "index.html"
