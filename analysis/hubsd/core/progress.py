"""Progress bars (tqdm) for long runs: calibration, large ensembles, sweeps.

A bar is drawn on standard error only where someone watches it: by default when standard error
is a terminal, so ``hubsd calibrate`` in a shell shows one while tests (pytest captures the
streams), notebooks (a kernel's standard error is not a terminal) and the pipeline's papermill
kernels stay silent and their committed outputs unchanged. ``HUBSD_PROGRESS=1`` forces bars on
(e.g. in a notebook, as text), ``HUBSD_PROGRESS=0`` off; a function's ``progress=True/False``
argument overrides both.

>>> with progress_bar(6, "fit", "start") as bar:
...     bar.update(1)
"""

from __future__ import annotations

import os
import sys

from hubsd.core.errors import HubsdError

#: Environment variable that forces progress bars on ("1") or off ("0").
ENV = "HUBSD_PROGRESS"
_ON, _OFF = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


class ProgressError(HubsdError):
    """A value of ``HUBSD_PROGRESS`` that is neither on nor off."""


def wanted(progress: bool | None = None) -> bool:
    """Whether to draw a bar: ``progress`` if given, else ``HUBSD_PROGRESS``, else a terminal.

    Parameters
    ----------
    progress : bool, optional
        An explicit choice (a function's ``progress=`` argument); None: decide from the
        environment variable, then from whether standard error is a terminal.

    Returns
    -------
    bool
        True to draw the bar on standard error.

    Raises
    ------
    ProgressError
        ``HUBSD_PROGRESS`` set to something other than 1/0 (true/false, yes/no, on/off).

    Examples
    --------
    >>> wanted(False)
    False
    """
    if progress is not None:
        return bool(progress)
    value = os.environ.get(ENV)
    if value is not None:
        low = value.strip().lower()
        if low in _ON:
            return True
        if low in _OFF:
            return False
        raise ProgressError(
            f"{ENV}={value!r}: use 1 (progress bars on) or 0 (off), or unset it (on in a terminal)"
        )
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def progress_bar(total: int | None, desc: str, unit: str = "it", progress: bool | None = None):
    """A tqdm bar on standard error, disabled unless :func:`wanted` says to draw it.

    Parameters
    ----------
    total : int or None
        Number of steps (None: a counter without a total).
    desc : str
        Label in front of the bar (``"calibrate krakow: fit"``).
    unit : str
        What one step is (``"start"``, ``"chunk"``, ``"point"``).
    progress : bool, optional
        Force the bar on or off (default: :func:`wanted`).

    Returns
    -------
    tqdm.tqdm
        A bar to ``update(n)`` and ``close()`` (or use as a context manager); a disabled bar
        does nothing. Safe to update from several threads.

    Examples
    --------
    >>> bar = progress_bar(3, "profiles", "point", progress=False)
    >>> bar.update(1); bar.close()
    """
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not wanted(progress),
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
