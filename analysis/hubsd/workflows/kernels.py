"""Notebook kernels started by papermill (the pipeline, sweeps): which Python, and quiet.

**Which kernel.** The notebooks name the kernel ``hubsd`` in their metadata (registered once by
the README's one-liner, ``python -m ipykernel install --user --name hubsd``), so JupyterLab
offers the right environment. Papermill would start that name and fail where it is not
registered (a fresh clone, CI), or start whatever environment it was registered from. The
pipeline and sweeps therefore run notebooks, by default, in the Python that runs hubsd itself
(as ``pytest --nbval-current-env`` does): :func:`papermill_kernel` gives papermill the native
``python3`` name with a kernel manager that always resolves it to ``sys.executable``, whatever
kernelspecs are installed. An explicit kernel (``hubsd sweep --kernel NAME``) must be installed
and is used as registered.

ipykernel 7 prints "Kernel is running over TCP without encryption ..." on its standard error
whenever it is started over TCP without CurveZMQ keys, which every papermill kernel used to be:
one warning per notebook in the pipeline's console. jupyter_client (8.10 on) can provision the
keys itself (``KernelManager.transport_encryption``); with ``"auto"`` it does so for kernels that
declare CurveZMQ support in their kernelspec (ipykernel's do), so the kernel's traffic is
encrypted and the warning has no cause. Older jupyter_client or a pyzmq without CurveZMQ: the
kernels start as before.

>>> papermill.execute_notebook(src, dst, **papermill_kernel(None), **kernel_options())
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import zmq
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from traitlets import default
from traitlets.config import Config

from hubsd.core.errors import HubsdError
from hubsd.core.hints import did_you_mean

#: The kernel the notebooks name in their metadata (``kernelspec.name``).
NOTEBOOK_KERNEL = "hubsd"
#: Its display name in JupyterLab's kernel menu.
NOTEBOOK_KERNEL_DISPLAY = "Python (hubsd)"
#: The one-liner that registers it for the current user (README, ``pyproject.toml``).
REGISTER = (
    f"python -m ipykernel install --user --name {NOTEBOOK_KERNEL} "
    f'--display-name "{NOTEBOOK_KERNEL_DISPLAY}"'
)
#: The name papermill is given for "this Python" (jupyter_client treats it as an IPython kernel).
CURRENT_ENV = "python3"


class KernelError(HubsdError):
    """A Jupyter kernel asked for by name that is not installed."""


class _CurrentEnvSpecs(KernelSpecManager):
    """Kernelspecs where ``python3`` is always ipykernel in this Python (``sys.executable``)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name == CURRENT_ENV:
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())
        return super().get_kernel_spec(kernel_name)


class CurrentEnvKernelManager(AsyncKernelManager):
    """Papermill's kernel manager for notebooks run in the Python that runs hubsd."""

    @default("kernel_spec_manager")
    def _current_env_specs(self) -> KernelSpecManager:
        return _CurrentEnvSpecs(data_dir=self.data_dir)


def installed_kernels() -> list[str]:
    """Names of the Jupyter kernels installed (``jupyter kernelspec list``), sorted."""
    return sorted(KernelSpecManager().find_kernel_specs())


def check_kernel(kernel: str | None) -> None:
    """Refuse a kernel name that is not installed (None, this Python, is always fine).

    Raises
    ------
    KernelError
        The name is not an installed kernelspec; the message lists the installed ones.
    """
    if kernel is None:
        return
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        known = installed_kernels()
        hint = did_you_mean(kernel, known)
        raise KernelError(
            f"no Jupyter kernel {kernel!r}{hint}; installed: {', '.join(known) or 'none'} "
            f"(leave the kernel out to use this Python; register hubsd's with `{REGISTER}`)"
        ) from None


def papermill_kernel(kernel: str | None) -> dict:
    """Keyword arguments for ``papermill.execute_notebook`` choosing the kernel.

    Parameters
    ----------
    kernel : str or None
        An installed kernel's name, or None for the Python that runs hubsd (whatever the
        notebook's metadata names and whatever kernelspecs are installed).

    Returns
    -------
    dict
        ``kernel_name`` (and, for None, ``kernel_manager_class``) for papermill.

    Raises
    ------
    KernelError
        ``kernel`` is not installed (:func:`check_kernel`).

    Examples
    --------
    >>> papermill_kernel(None)["kernel_name"]
    'python3'
    """
    check_kernel(kernel)
    if kernel is None:
        return {"kernel_name": CURRENT_ENV, "kernel_manager_class": CurrentEnvKernelManager}
    return {"kernel_name": kernel}


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
