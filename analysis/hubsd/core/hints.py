"""The "did you mean" hint appended to every message about an unknown name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: object, known: Iterable[str], n: int = 2) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the ``n`` closest known names, or ``""``.

    Parameters
    ----------
    name : object
        The unknown name (turned into a string).
    known : iterable of str
        The valid names.
    n : int
        How many close names to offer at most.

    Returns
    -------
    str
        The hint, starting with ``"; "``, or an empty string when nothing is close.

    Examples
    --------
    >>> did_you_mean("krakw", ["krakow", "manila"])
    "; did you mean 'krakow'?"
    """
    close = difflib.get_close_matches(str(name), list(known), n=n, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
