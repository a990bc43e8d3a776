"""Light reading of the Vensim ``.mdl`` text: sector groups, equation structure, the sketch's views.

PySD parses the equations for simulation; this module only reads the file's layout and the
structure of its equations (which variables each equation reads, which rates fill or drain each
stock), so the sector of every variable can be found without translating the model, the sketch
(from which PySD's ``split_views`` takes its modules) can be drawn from the equations
(:mod:`hubsd.model.sketch`) and checked against the groups, and the model has an identity that a
redrawn sketch does not change (:func:`equations_hash`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

SKETCH_MARKER = "\\\\\\---/// Sketch information"
_GROUP = re.compile(r"^\*{10,}\s*\n\s*\.(?P<name>[^\n]+?)\s*\n\*{10,}~", re.M)
_LHS = re.compile(r"^(?P<name>[A-Za-z][^=(~|\n]*?)\s*(=|\(\s*$|\(\s*\[|\(\s*\()", re.M)
_INTEG = re.compile(r"^\s*INTEG\s*\(", re.I)
_BRACES = re.compile(r"\{[^}]*\}")
CONTROL_GROUP = "Control"
#: The simulation clock: read by equations, defined by Vensim itself (no equation in the file).
TIME = "Time"


@dataclass(frozen=True)
class Variable:
    """One variable of the model file, as its equation reads.

    Attributes
    ----------
    name : str
        The name as written on the left of its equation.
    group : str
        Its sector group (``Control`` for the simulation control variables).
    kind : str
        ``"stock"`` (an ``INTEG``), ``"lookup"`` (a table function) or ``"auxiliary"`` (every
        other equation, constants, ``SMOOTH`` and ``DELAY`` included).
    uses : tuple of str
        Variables its equation reads, in order of first appearance (``Time`` included). For a
        stock, those of its initial value and of rate terms that are not plain rate names; its
        rates are in ``inflows`` and ``outflows``.
    inflows, outflows : tuple of str
        For a stock, the rates its ``INTEG`` adds and subtracts.
    """

    name: str
    group: str
    kind: str
    uses: tuple[str, ...] = ()
    inflows: tuple[str, ...] = ()
    outflows: tuple[str, ...] = ()


def _blocks(equations: str) -> list[str]:
    return [b.strip() for b in equations.split("|")]


def _canonical(name: str) -> str:
    """Vensim's identity of a name: case, spaces and underscores do not matter."""
    return re.sub(r"[\s_]+", " ", name.strip()).lower()


def _equation_blocks(equations: str):
    """(group, name, text before the first ``~``) of every equation, in file order."""
    current = None
    for block in _blocks(equations.split(SKETCH_MARKER, 1)[0]):
        header = _GROUP.search(block)
        if header:
            current = header.group("name").strip()
            continue
        head = block.removeprefix("{UTF-8}").strip()
        match = _LHS.match(head)
        if match and current:
            yield current, match.group("name").strip(), head.split("~", 1)[0]


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
    for block in _blocks(equations.split(SKETCH_MARKER, 1)[0]):
        header = _GROUP.search(block)
        if header and header.group("name").strip() != CONTROL_GROUP:
            groups[header.group("name").strip()] = []
    for group, name, _ in _equation_blocks(equations):
        if group != CONTROL_GROUP:
            groups[group].append(name)
    return groups


def sector_of(equations: str) -> dict[str, str]:
    """Map every variable name (Vensim spelling) to its sector group."""
    return {var: group for group, names in parse_groups(equations).items() for var in names}


def _split_top(text: str, seps: str) -> list[tuple[str, str]]:
    """Split at separators outside parentheses: (separator before, piece) pairs."""
    out, depth, start, sep = [], 0, 0, ""
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch in seps and depth == 0:
            prev = text[start:i].strip()
            if ch in "+-" and not prev:  # a leading sign belongs to the piece that follows
                sep, start = ch, i + 1
                continue
            if ch in "+-" and re.search(r"[*/^(,]$|\d[eE]$", prev):
                continue  # a sign after an operator, or an exponent: not a binary + or -
            out.append((sep, text[start:i]))
            sep, start = ch, i + 1
    out.append((sep, text[start:]))
    return [(s, p.strip()) for s, p in out if p.strip()]


def _integ_args(rhs: str) -> tuple[str, str]:
    body = rhs[_INTEG.match(rhs).end() :]
    depth = 1
    for i, ch in enumerate(body):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            body = body[:i]
            break
    args = [piece for _, piece in _split_top(body, ",")]
    if len(args) != 2:
        raise ValueError(f"INTEG with {len(args)} arguments: {rhs.strip()[:60]!r}")
    return args[0], args[1]


def parse_model(equations: str) -> dict[str, Variable]:
    """The structure of every equation: its group, kind, the variables it reads, its rates.

    Names are found in the right-hand sides by Vensim's rule (case, spaces and underscores do
    not matter; the longest name wins), so function names such as ``SMOOTH`` or ``STEP`` are
    never taken for variables. ``tests/test_model_file.py`` checks the result against PySD's own
    dependency graph.

    Parameters
    ----------
    equations : str
        The equation section of a ``.mdl`` file (the text before the sketch).

    Returns
    -------
    dict
        Variable name (as written) -> :class:`Variable`, in file order, the control variables
        (``INITIAL TIME``, ...) included. ``Time`` has no equation and is not a key.
    """
    blocks = list(_equation_blocks(equations))
    spelled = {_canonical(name): name for _, name, _ in blocks}
    spelled.setdefault(_canonical(TIME), TIME)
    alternation = "|".join(
        r"[\s_]+".join(re.escape(word) for word in key.split())
        for key in sorted(spelled, key=len, reverse=True)
    )
    names = re.compile(rf"(?<![\w.])(?:{alternation})(?![\w.])", re.I)

    def reads(text: str, exclude: str = "") -> tuple[str, ...]:
        found = (spelled[_canonical(m.group(0))] for m in names.finditer(_BRACES.sub(" ", text)))
        return tuple(dict.fromkeys(n for n in found if n != exclude))

    model: dict[str, Variable] = {}
    for group, name, head in blocks:
        rest = head[len(name) :].lstrip()
        if not rest.startswith("="):
            model[name] = Variable(name, group, "lookup")
            continue
        rhs = rest[1:]
        if not _INTEG.match(rhs):
            model[name] = Variable(name, group, "auxiliary", reads(rhs, name))
            continue
        rate, initial = _integ_args(rhs)
        flows: dict[str, list[str]] = {"+": [], "-": []}
        uses = list(reads(initial, name))
        for sign, term in _split_top(rate, "+-"):
            if _canonical(term) in spelled:
                flows["-" if sign == "-" else "+"].append(spelled[_canonical(term)])
            else:  # a rate term that is an expression: drawn as influences on the stock
                uses += reads(term, name)
        model[name] = Variable(
            name, group, "stock", tuple(dict.fromkeys(uses)), tuple(flows["+"]), tuple(flows["-"])
        )
    return model


def equations_hash(path: str | os.PathLike) -> str:
    r"""The model's identity: SHA-256 of its equations, not of its sketch.

    The text before the first sketch marker (the whole file if it has no sketch), with line
    endings normalised to ``\\n`` and trailing white space removed, encoded as UTF-8. Everything
    PySD simulates is in that text; the sketch (views, positions, arrows) and the settings after
    it only draw the model, so a redrawn or re-synced sketch (``scripts/sync_sketch.py``) keeps
    the same identity, and any change to an equation, unit, range or comment gives a new one.
    Use it in provenance to name the model a result was computed with.

    Parameters
    ----------
    path : path
        The Vensim ``.mdl`` file.

    Returns
    -------
    str
        64 hexadecimal characters.

    Examples
    --------
    >>> equations_hash("models/hub.mdl")  # doctest: +SKIP
    '3f1c...'
    """
    text = Path(path).read_bytes().decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    equations = text.split(SKETCH_MARKER, 1)[0].rstrip() + "\n"
    return hashlib.sha256(equations.encode("utf-8")).hexdigest()


def parse_views(text: str) -> dict[str, list[str]]:
    """Views of the sketch section and the variables defined on each.

    Parameters
    ----------
    text : str
        A whole ``.mdl`` file.

    Returns
    -------
    dict
        View name -> names of its variables that are not shadow (ghost) copies, in sketch
        order: the variables PySD's ``split_views`` puts in the view's module.
    """
    if SKETCH_MARKER not in text:
        return {}
    sketch = text.split(SKETCH_MARKER, 1)[1].split("///---\\\\\\", 1)[0]
    views: dict[str, list[str]] = {}
    current = None
    for line in sketch.splitlines():
        if line.startswith("*"):
            current = line[1:].strip()
            views[current] = []
        elif line.startswith("10,") and current is not None:
            fields = line.split(",")
            if int(fields[8]) % 2:  # an even ``bits`` field marks a shadow variable
                views[current].append(fields[2])
    return views
