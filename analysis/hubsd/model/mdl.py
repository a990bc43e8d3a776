"""Light reading of the Vensim ``.mdl`` text: sector groups and the sketch's views.

PySD parses the equations; this module only knows the file's layout, so the sector of every
variable can be found without translating the model, and the sketch (from which PySD's
``split_views`` takes its modules) can be checked against the groups.
"""

from __future__ import annotations

import re

SKETCH_MARKER = "\\\\\\---/// Sketch information"
_GROUP = re.compile(r"^\*{10,}\s*\n\s*\.(?P<name>[^\n]+?)\s*\n\*{10,}~", re.M)
_LHS = re.compile(r"^(?P<name>[A-Za-z][^=(~|\n]*?)\s*(=|\(\s*$|\(\s*\[|\(\s*\()", re.M)
_VIEW_HEADER = (
    "\\\\\\---/// Sketch information - do not modify anything except names\n"
    "V300  Do not put anything below this section - it will be ignored\n"
    "*{name}\n"
    "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0\n"
)
_FOOTER = ":L<%^E!@\n9:Current\n15:0,0,0,0,0,0\n19:100,0\n5:Time\n24:2005\n25:2045\n26:2045\n"
CONTROL_GROUP = "Control"


def _blocks(equations: str) -> list[str]:
    return [b.strip() for b in equations.split("|")]


def parse_groups(equations: str) -> dict[str, list[str]]:
    """Variables of each sector group, in file order.

    Parameters
    ----------
    equations : str
        The equation section of a ``.mdl`` file (the text before the sketch).

    Returns
    -------
    dict
        Group name -> variable names as written in the file. The ``Control`` group is left out.
    """
    groups: dict[str, list[str]] = {}
    current = None
    for block in _blocks(equations):
        header = _GROUP.search(block)
        if header:
            current = header.group("name").strip()
            if current != CONTROL_GROUP:
                groups[current] = []
            continue
        head = block.lstrip("{UTF-8}").strip()
        match = _LHS.match(head)
        if match and current and current != CONTROL_GROUP:
            groups[current].append(match.group("name").strip())
    return groups


def sector_of(equations: str) -> dict[str, str]:
    """Map every variable name (Vensim spelling) to its sector group."""
    return {var: group for group, names in parse_groups(equations).items() for var in names}


def render_sketch(groups: dict[str, list[str]]) -> str:
    """A sketch section with one view per group, variables laid out on a grid."""
    out = []
    for name, variables in groups.items():
        lines = [_VIEW_HEADER.format(name=name)]
        for i, var in enumerate(variables, start=1):
            x = 120 + 220 * ((i - 1) % 6)
            y = 80 + 90 * ((i - 1) // 6)
            lines.append(f"10,{i},{var},{x},{y},60,22,8,3,0,0,0,0,0,0\n")
        out.append("".join(lines))
    return "".join(out) + "///---\\\\\\\n" + _FOOTER


def parse_views(text: str) -> dict[str, list[str]]:
    """Views of the sketch section and the variable names placed on each."""
    if SKETCH_MARKER not in text:
        return {}
    sketch = text.split(SKETCH_MARKER, 1)[1]
    views: dict[str, list[str]] = {}
    current = None
    for line in sketch.splitlines():
        if line.startswith("*"):
            current = line[1:].strip()
            views[current] = []
        elif line.startswith("10,") and current is not None:
            views[current].append(line.split(",")[2])
    return views
