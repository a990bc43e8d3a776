"""Notebook kernels started by papermill (the pipeline, sweeps): encrypted, hence quiet.

ipykernel 7 prints "Kernel is running over TCP without encryption ..." on its standard error
whenever it is started over TCP without CurveZMQ keys, which every papermill kernel used to be:
one warning per notebook in the pipeline's console. jupyter_client (8.10 on) can provision the
keys itself (``KernelManager.transport_encryption``); with ``"auto"`` it does so for kernels that
declare CurveZMQ support in their kernelspec (ipykernel's do), so the kernel's traffic is
encrypted and the warning has no cause. Older jupyter_client or a pyzmq without CurveZMQ: the
kernels start as before.

>>> papermill.execute_notebook(src, dst, **kernel_options())
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import zmq
from traitlets.config import Config


def _at_least(package: str, wanted: tuple[int, ...]) -> bool:
    try:
        parts = version(package).split(".")
    except PackageNotFoundError:
        return False
    numbers = []
    for part in parts[: len(wanted)]:
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits or 0))
    return tuple(numbers) >= wanted


def kernel_options() -> dict:
    """Keyword arguments for ``papermill.execute_notebook``: CurveZMQ-encrypted kernels.

    ``{"config": Config}`` setting ``KernelManager.transport_encryption = "auto"`` where
    jupyter_client supports it and pyzmq has CurveZMQ, else ``{}``.
    """
    if not (_at_least("jupyter_client", (8, 10)) and zmq.has("curve")):
        return {}
    config = Config()
    config.KernelManager.transport_encryption = "auto"
    return {"config": config}
