"""``hubsd report``: one HTML page per executed notebook and an index, folder replaced whole."""

from __future__ import annotations

import shutil
from pathlib import Path

from hubsd.cli.commands import main

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_report_renders_each_notebook_with_an_index(tmp_path, capsys):
    src = tmp_path / "nbs"
    src.mkdir()
    shutil.copy(NOTEBOOKS / "03_policies.ipynb", src)
    out = tmp_path / "report"
    assert main(["report", "--notebooks", str(src), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"Report: {out.resolve() / 'index.html'}"
    page = (out / "03_policies.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64") >= 3  # the three figures, embedded
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="03_policies.html"' in index and "03 · Policies" in index
    # an earlier report is replaced; a foreign folder is refused
    assert main(["report", "--notebooks", str(src), "--out", str(out)]) == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x", encoding="utf-8")
    assert main(["report", "--notebooks", str(src), "--out", str(foreign)]) == 2
    assert "not an earlier report" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]


def test_report_without_notebooks_is_bad_input(tmp_path, capsys):
    assert main(["report", "--notebooks", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "no notebooks" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
