"""Redraw the sketch of a Vensim model from its equations: one stock-and-flow view per sector.

The equations of ``models/hub.mdl`` are grouped by sector with Vensim group headers
(``.AI adoption``, ``.Workforce``, ...). PySD's ``split_views=True`` reads the views from the
sketch, not from the groups, and a reader opens the sketch in Vensim, so this script replaces
everything from the first sketch marker on by :func:`hubsd.model.sketch.render_sketch`: on the
view of each group, stocks as boxes, rates as valves with pipes, auxiliaries and influence
arrows from the equations, shadows for what other sectors supply. The equations above the
marker are written back unchanged (so :func:`hubsd.model.mdl.equations_hash` does not change).
Run it after any change to the equations::

    python scripts/sync_sketch.py models/hub.mdl
    python scripts/sync_sketch.py --check models/hub.mdl   # exit 1 if the sketch is stale

``tests/test_model_file.py`` fails when the sketch is not what the equations give.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))

from hubsd.model.mdl import SKETCH_MARKER
from hubsd.model.sketch import read_sketch, render_sketch


def synced(text: str) -> str:
    """The file's text with its sketch redrawn from its equations."""
    equations = text.split(SKETCH_MARKER)[0].rstrip() + "\n\n"
    return equations + render_sketch(equations)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"] or ["models/hub.mdl"]
    stale = 0
    for path in paths:
        mdl = Path(path)
        text = mdl.read_text(encoding="utf-8")
        new = synced(text)
        if check:
            stale += new != text
            print(f"{mdl}: {'out of date' if new != text else 'up to date'}")
            continue
        if new != text:
            mdl.write_text(new, encoding="utf-8")
        print(f"{mdl}: {'rewritten' if new != text else 'unchanged'}")
        for name, view in read_sketch(new).items():
            counts = ", ".join(f"{v} {k}" for k, v in view.counts().items())
            print(f"  {name}: {counts}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
