"""Reading YAML input files: one loader, messages that name the file and line.

Hub files, scenarios, calibration specs, reality checks and sweep specs are all read here.
With ``lines=True`` every mapping carries the line it starts on as ``"__line__"``, so a later
check can name the line of an offending entry.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from hubsd.core.errors import HubsdError


class LineLoader(yaml.SafeLoader):
    """A safe YAML loader that records the line of every mapping as ``__line__``."""


def _construct_mapping(loader, node, deep=False):
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(
    path: str | os.PathLike, error: type[HubsdError] = HubsdError, lines: bool = False
) -> object:
    """Parse a YAML file; an unreadable file or a syntax error raises ``error`` with file and line.

    Parameters
    ----------
    path : path
        The file.
    error : type
        The :class:`~hubsd.core.errors.HubsdError` subclass to raise (the caller's room's).
    lines : bool
        Record each mapping's line as ``"__line__"`` (:class:`LineLoader`).

    Returns
    -------
    object
        The parsed document.

    Raises
    ------
    HubsdError
        ``"<file>, line L: malformed YAML (column C): <problem>"`` or ``"cannot read <file>"``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=LineLoader if lines else yaml.SafeLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        column = f" (column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{path}{where}: malformed YAML{column}: {problem}") from None


def strip_lines(obj):
    """A copy of a document read with ``lines=True`` without its ``__line__`` keys."""
    if isinstance(obj, dict):
        return {k: strip_lines(v) for k, v in obj.items() if k != "__line__"}
    if isinstance(obj, list):
        return [strip_lines(v) for v in obj]
    return obj
