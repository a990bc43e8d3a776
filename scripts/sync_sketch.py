"""Rewrite the sketch section of a Vensim model so each sector group is one view.

The equations of ``models/hub.mdl`` are grouped by sector with Vensim group headers
(``.AI adoption``, ``.Workforce``, ...). PySD's ``split_views=True`` reads the views from the
sketch, not from the groups, so this script lays every variable of a group out on a view of
the same name (in a plain grid; arrows are left to whoever opens the model in Vensim).
Run it after adding or renaming a variable::

    python scripts/sync_sketch.py models/hub.mdl

``tests/test_model_file.py`` fails when the sketch and the groups disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))

from hubsd.model.mdl import SKETCH_MARKER, parse_groups, render_sketch


def main(path: str) -> None:
    mdl = Path(path)
    text = mdl.read_text(encoding="utf-8")
    equations = text.split(SKETCH_MARKER)[0].rstrip() + "\n\n"
    groups = parse_groups(equations)
    mdl.write_text(equations + render_sketch(groups), encoding="utf-8")
    print(f"{mdl}: {sum(len(v) for v in groups.values())} variables in {len(groups)} views")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/hub.mdl")
