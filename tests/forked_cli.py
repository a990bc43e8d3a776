"""``python -m hubsd.cli ARGS`` in a new process that starts with hubsd's dependencies loaded.

Tests of workspaces and of a model of one's own run the command line in a new process, in a
folder of their choosing, because hubsd reads the workspace (and ``$HUBSD_*``) when it is
imported. A fresh interpreter paid about 4.4 s of CPU for that, mostly importing NumPy, pandas,
xarray, SciPy, matplotlib and PySD, on every command (about 60 s of the test suite). Here the
new process is forked from the test process instead: it has those libraries already, and it
imports hubsd afresh (every ``hubsd`` module is dropped from ``sys.modules`` first), in its own
folder, with its own environment, standard streams, ``sys.path`` (``$PYTHONPATH`` first) and
Python's default warning filters, so what hubsd does at import and after is what a new
interpreter would do. Its streams are pipes and it is a real process with its own pid:
concurrent commands race for a folder as two ``hubsd`` commands would.

The console script itself (``hubsd ...`` through its entry point in a new interpreter) is
tested by ``tests/test_cli.py::test_console_script_is_declared_and_runs`` and, installed from
the wheel into a new virtual environment, by ``tests/test_wheel.py``.
"""

from __future__ import annotations

import io
import os
import runpy
import selectors
import signal
import subprocess
import sys
import time
import traceback
import warnings

#: Python's warning filters in a new interpreter without ``-W`` (``warnings.filters``, 3.11).
_DEFAULT_FILTERS = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
)


def _child(args, cwd, env, out_fd, err_fd) -> None:  # pragma: no cover - runs in the child
    code = 1
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.close(out_fd)
        os.close(err_fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = open(0, closefd=False, encoding="utf-8")  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False, encoding="utf-8")  # noqa: SIM115
        raw = open(2, "wb", closefd=False)  # noqa: SIM115
        sys.stderr = io.TextIOWrapper(
            raw, encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import faulthandler

        faulthandler.disable()
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        extra = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        tests = os.path.dirname(os.path.abspath(__file__))
        rest = [p for p in sys.path if p not in ("", tests, os.path.dirname(tests))]
        sys.path[:] = [os.getcwd(), *extra, *(p for p in rest if p not in extra)]
        warnings.resetwarnings()
        for action, category, module in _DEFAULT_FILTERS:
            warnings.filterwarnings(action, category=category, module=module, append=True)
        for name in [m for m in sys.modules if m == "hubsd" or m.startswith("hubsd.")]:
            del sys.modules[name]
        sys.argv = ["-m", *args]
        try:
            runpy.run_module("hubsd.cli", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 - as an interpreter reports an uncaught error
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class ForkedCLI:
    """A running ``hubsd`` command: ``communicate``, ``wait``, ``poll``, ``kill``, ``returncode``
    and ``pid`` as :class:`subprocess.Popen` with ``stdout=PIPE, stderr=PIPE, text=True``."""

    def __init__(self, args, cwd, env):
        self.args = ["hubsd", *args]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
            pid = os.fork()
        if pid == 0:
            os.close(out_r)
            os.close(err_r)
            _child(list(args), str(cwd), dict(env), out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        self.pid = pid
        self.returncode = None
        self._fds = {out_r: bytearray(), err_r: bytearray()}
        self._out, self._err = out_r, err_r

    def _reap(self, flags=0) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, flags)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        return self._reap(os.WNOHANG)

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            for fd in self._fds:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        self._fds[key.fd] += chunk
                    else:
                        sel.unregister(key.fd)
                        os.close(key.fd)
        self._reap()
        return (self._fds[self._out].decode("utf-8"), self._fds[self._err].decode("utf-8"))

    def wait(self, timeout: float | None = None) -> int:
        self.communicate(timeout)
        return self.returncode


def popen(args, cwd, env) -> ForkedCLI:
    """Start ``hubsd ARGS`` in ``cwd`` with environment ``env`` (a new process; see above)."""
    return ForkedCLI(args, cwd, env)


def run(args, cwd, env, timeout: float = 600) -> subprocess.CompletedProcess:
    """``hubsd ARGS`` in ``cwd`` with environment ``env``, to its end (as ``subprocess.run``)."""
    proc = popen(args, cwd, env)
    try:
        out, err = proc.communicate(timeout)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
