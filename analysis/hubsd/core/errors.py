"""The root of every error hubsd raises on purpose.

Each room defines its own subclasses (``ParameterError``, ``HubError``, ``CalibrationError``,
...), all derived from :class:`HubsdError`, so ``except hubsd.HubsdError`` catches any refusal
of bad input or failed run that the package explains, and nothing else.
"""

from __future__ import annotations


class HubsdError(ValueError):
    """An input hubsd refuses or a request it cannot honour; the message says what and why.

    A subclass of :class:`ValueError` so that code written against earlier versions, which
    caught ``ValueError``, keeps working.
    """
