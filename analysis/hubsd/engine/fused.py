"""Fused backend of the ensemble engine: the whole run of each member in one numba loop.

The numpy backend (:func:`hubsd.engine.codegen.generate`) evaluates each equation on arrays of
members, one numpy call per operation, and each step's few hundred temporary arrays travel
through the caches. This backend writes the same statements (:func:`hubsd.engine.codegen.plan`)
for one member at a time, in scalars: a loop over the chunk's members around the loop over
time, compiled with numba (``error_model="numpy"``: ``x / 0`` is ``inf`` as in numpy;
``nogil``: chunks run on threads). Every operation is the numpy backend's, in the same order
on the same float64 values (no ``fastmath``, no fused multiply-add), the scalar helpers below
follow numpy's and the runtime's element by element (tables: numpy's ``interp`` C code, with
the slopes computed as it computes them), and ``**``, ``exp`` and ``log`` are the same C
library's, so the results equal the numpy backend's bit for bit (``tests/test_fused.py``: the
hub model with every parameter drawn, and the conformance models of the constructs it runs).

It runs models whose variables are all unsubscripted and use arithmetic, the numpy
functions but TANH (numpy's own SIMD ``tanh`` differs from the C library's by an ulp), IF THEN
ELSE, XIDZ/ZIDZ, tables, STEP, RAMP, PULSE, PULSE TRAIN, QUANTUM, MODULO, SMOOTH (N), DELAY
(N), DELAY FIXED, TREND, FORECAST, SAMPLE IF TRUE, ACTIVE INITIAL and macros; anything else
(subscripts, RANDOM, data variables, the VECTOR and ALLOCATE functions) and warm starts
(:mod:`hubsd.engine.warmstart`) run on the numpy backend. numba is optional
(``pip install 'hubsd[fast]'``); without it everything runs on numpy.

The kernel is compiled with numba's on-disk cache (the generated source is written under
``~/.cache/hubsd/fused``, or ``HUBSD_FUSED_CACHE``, named by its hash): the hub model's took
40 s to compile the first time (load 5.5 on two cores) and 1.4 s to load in a new process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubsd.core.atomic import write_text
from hubsd.engine.codegen import CONTROL_SOURCE, plan
from hubsd.engine.emitter import var_name
from hubsd.engine.nodes import SMALL_VENSIM
from hubsd.engine.runtime import RUNTIME
from hubsd.model.parameters import ParameterError

#: numpy functions the fused source may call (numba compiles them); the scalar helpers it may
#: call are :data:`_HELPERS` (below, with their definitions).
_NUMPY = {
    "np.exp",
    "np.log",
    "np.abs",
    "np.sqrt",
    "np.sin",
    "np.cos",
    "np.tan",
    "np.arcsin",
    "np.arccos",
    "np.arctan",
    "np.sinh",
    "np.cosh",  # not np.tanh: numpy's own (SIMD) tanh differs from the C library's by an ulp
    "np.trunc",
    "np.maximum",
    "np.minimum",
    "np.power",
    "np.logical_and",
    "np.logical_or",
    "np.logical_not",
    "np.empty",
    "np.nan",
    "np.inf",
    "np.pi",
}
_CALLED = re.compile(r"\b(np\.\w+|_\w+)\b")


def available() -> bool:
    """Whether numba can be imported (the fused backend's only extra requirement)."""
    return importlib.util.find_spec("numba") is not None


def cache_dir() -> Path:
    """Folder of the generated sources and numba's cache (``HUBSD_FUSED_CACHE`` overrides)."""
    env = os.environ.get("HUBSD_FUSED_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hubsd" / "fused"


@dataclass
class FusedProgram:
    """A fused simulation function: it computes every variable and saves those asked for."""

    source: str
    func: object
    names: tuple  # the variables it can save, by index (``sel`` of the kernel)
    params: tuple  # constants it reads (rows of ``PV``)

    def select(self, outputs: tuple) -> np.ndarray:
        """Indices of ``outputs`` among :attr:`names` (the kernel's ``sel``)."""
        index = {n: k for k, n in enumerate(self.names)}
        return np.array([index[o] for o in outputs], dtype=np.int64)


def savable(model) -> tuple:
    """Every variable the kernel of a model can save (its elements and control values)."""
    return tuple(model.outputs_available())


#: Constructs by the name the numpy backend's code calls them (what the refusal names).
_CONSTRUCTS = {
    "_random": "RANDOM functions",
    "_data": "data variables (GET XLS/DIRECT DATA, data files)",
    "np.tanh": "TANH",
}


def fused_plan(model):
    """The statements of the fused kernel: every savable variable, DELAY FIXED per member."""
    return plan(model, savable(model), fused=True)


def unsupported(model, pl=None) -> str | None:
    """Why the fused backend cannot run the model (None: it can): the construct it needs.

    ``pl``: the model's :func:`fused_plan`, if already made.
    """
    pl = fused_plan(model) if pl is None else pl
    if pl.dims:
        return "subscripts"
    stmts = pl.init + list(pl.hoisted) + pl.body + pl.ddt + pl.upd
    for stmt in stmts:
        for name in _CALLED.findall(stmt):
            numpy_ok = name.startswith("np.") and name in _NUMPY
            if (
                (name.startswith("np.") or name in RUNTIME)
                and not numpy_ok
                and name not in _HELPERS
            ):
                if name.startswith("_vector_"):
                    return "VECTOR and ALLOCATE functions"
                return _CONSTRUCTS.get(name, name)
    return None


def source(model, pl=None) -> tuple[str, tuple, tuple]:
    """The fused kernel's source, the variables it can save and the constants it reads.

    One kernel per model (and orders of DELAY N / SMOOTH N) serves every set of outputs: it
    computes every variable and, at each save, copies the selected ones (``sel``) into ``out``.
    ``pl``: the model's :func:`fused_plan`, if already made.
    """
    pl = fused_plan(model) if pl is None else pl
    names = pl.outputs
    ind, ind2, ind3 = "    " * 2, "    " * 3, "    " * 4
    lines = [
        "def kernel(PV, t0, tfinal, dt, saveper, steps, save_steps, sel, out):",
        "    n = PV.shape[1]",
        f"    vals = np.empty({len(names)})",
        "    for i in range(n):",
    ]
    lines += [f"{ind}{var_name(p)} = PV[{j}, i]" for j, p in enumerate(pl.params)]
    lines += [f"{ind}{var_name(c)} = {CONTROL_SOURCE[c]}" for c in pl.controls]
    lines += [f"{ind}t = t0", f"{ind}half_dt = dt / 2"]
    lines += [ind + x for x in pl.init]
    lines += [f"{ind}{k} = {src}" for src, k in pl.hoisted.items()]
    lines += [f"{ind}{k} = {src}" for src, k in pl.literals.items()]
    lines += [
        f"{ind}isave = 0",
        f"{ind}next_save = save_steps[0] if len(save_steps) > 0 else -1",
        f"{ind}for step in range(steps + 1):",
    ]
    lines += [ind2 + x for x in pl.body]
    lines.append(f"{ind2}if step == next_save:")
    lines += [f"{ind3}vals[{k}] = {var_name(o)}" for k, o in enumerate(names)]
    lines += [
        f"{ind3}for k in range(len(sel)):",
        f"{ind3}    out[k, isave, i] = vals[sel[k]]",
        f"{ind3}isave += 1",
        f"{ind3}next_save = save_steps[isave] if isave < len(save_steps) else -1",
        f"{ind2}if step == steps:",
        f"{ind3}break",
    ]
    lines += [ind2 + x for x in pl.ddt + pl.upd]
    lines.append(f"{ind2}t = t + dt")
    return "\n".join(lines) + "\n", names, pl.params


#: One compiled version for every chunk: arrays of any layout (views of the chunk's members).
_SIGNATURE = (
    "void(float64[:, :], float64, float64, float64, float64, int64, int64[:], int64[:], "
    "float64[:, :, :])"
)

_HEADER = '''"""Generated by hubsd.engine.fused for {model} (do not edit)."""
import numpy as np
from numba import njit
from hubsd.engine.fused import helpers
globals().update(helpers())
{tables}

'''


def compile_fused(model, pl=None) -> FusedProgram:
    """Generate, write to the cache folder, import and numba-compile the fused kernel.

    ``pl``: the model's :func:`fused_plan`, if already made.
    """
    import numba

    body, names, params = source(model, pl)
    tables = "\n".join(
        f"T_{name}_x = np.array({xs.tolist()!r})\nT_{name}_y = np.array({ys.tolist()!r})\n"
        f"T_{name}_s = {_slopes(xs, ys)}"
        for name, (xs, ys, _) in model.tables.items()
        if f"T_{name}_" in body
    )
    # the tables' slopes, computed once as numpy's interp computes them
    body = re.sub(r", T_(\w+)_x, T_\1_y\)", r", T_\1_x, T_\1_y, T_\1_s)", body)
    text = _HEADER.format(model=model.mdl.name, tables=tables)
    text += f'@njit({_SIGNATURE!r}, error_model="numpy", nogil=True, cache=True)\n' + body
    key = hashlib.sha256(f"{text}{numba.__version__}{np.__version__}".encode()).hexdigest()[:20]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"k_{key}.py"
    if not path.is_file() or path.read_text() != text:
        write_text(path, text)
    name = f"_hubsd_fused_{key}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # numba's cache finds the module by its name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return FusedProgram(text, module.kernel, names, params)


# --------------------------------------------------------------------------------------------
# Scalar helpers: numpy's (and the runtime's) operations for one member
# --------------------------------------------------------------------------------------------


def _ite(cond, a, b):
    return a if cond else b


def _xidz(num, den, x):
    return x if abs(den) < SMALL_VENSIM else num / den


def _zidz(num, den):
    return 0.0 if abs(den) < SMALL_VENSIM else num / den


def _slopes(xs, ys) -> str:
    """Source of a table's slopes (numpy's interp: ``(y[j+1] - y[j]) / (x[j+1] - x[j])``)."""
    with np.errstate(all="ignore"):
        s = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1]) if len(xs) > 1 else np.zeros(1)
    return f"np.array([{', '.join(_float(v) for v in s)}])"


def _float(v: float) -> str:
    if np.isfinite(v):
        return repr(float(v))
    return "np.nan" if np.isnan(v) else ("np.inf" if v > 0 else "(-np.inf)")


def _interp(x, xs, ys, slopes):
    """One value of ``numpy.interp`` (its C code step by step; left/right: the end values)."""
    n = len(xs)
    if n == 1:
        return ys[0]
    if x != x:
        return x
    if x < xs[0]:
        return ys[0]
    if x >= xs[n - 1]:
        return ys[n - 1]
    j = 0
    for k in range(1, n - 1):  # the largest j with xs[j] <= x (no data-dependent branch)
        j += x >= xs[k]
    if xs[j] == x:
        return ys[j]
    slope = slopes[j]
    r = slope * (x - xs[j]) + ys[j]
    if r != r:
        r = slope * (x - xs[j + 1]) + ys[j + 1]
        if r != r and ys[j] == ys[j + 1]:
            r = ys[j]
    return r


def _interp_hold(x, xs, ys, slopes):
    n = len(xs)
    if x != x:  # searchsorted puts NaN after every value
        return ys[n - 1]
    k = 0
    for m in range(n):
        k += xs[m] <= x
    return ys[min(max(k - 1, 0), n - 1)]


def _ramp(t, slope, start, finish):
    return (t + SMALL_VENSIM > start) * slope * (np.minimum(finish, t) - start)


def _pulse(t, start, width):
    return 1 if (start - SMALL_VENSIM <= t) and (t < start + width) else 0


def _pulse_train(t, start, repeat_time, width, end):
    if repeat_time == 0:
        return _pulse(t, start, width)
    if (start <= t) and (t < end) and (np.mod(t - start + SMALL_VENSIM, repeat_time) < width):
        return 1
    return 0


def _quantum(a, b):
    return a if b < SMALL_VENSIM else b * np.trunc(a / b)


def _fixed_order(delay_time, dt):
    return int(round(np.maximum(delay_time / dt, 1.0) + SMALL_VENSIM))


#: The scalar helpers by the names the kernels call (``_pulse_train`` calls the compiled
#: ``_pulse``, so it is compiled after them).
_SCALAR_HELPERS = {
    "_ite": _ite,
    "_xidz": _xidz,
    "_zidz": _zidz,
    "_interp": _interp,
    "_interp_hold": _interp_hold,
    "_pulse": _pulse,
    "_ramp": _ramp,
    "_quantum": _quantum,
    "_fixed_order": _fixed_order,
}
#: Names of the helpers the fused source may call.
_HELPERS = frozenset(_SCALAR_HELPERS) | {"_pulse_train"}
_JITTED: dict = {}


def helpers() -> dict:
    """The helpers compiled with numba (once per process), by the names the kernels call."""
    if _JITTED:
        return _JITTED
    import numba

    jit = numba.njit(error_model="numpy", cache=True, inline="always")
    jitted = {k: jit(f) for k, f in _SCALAR_HELPERS.items()}
    globals().update(jitted)  # _pulse_train calls the compiled _pulse
    jitted["_pulse_train"] = jit(_pulse_train)
    _JITTED.update(jitted)
    return _JITTED


# --------------------------------------------------------------------------------------------
# Choosing the backend and running the chunks
# --------------------------------------------------------------------------------------------

#: ``backend`` values of :meth:`hubsd.engine.ensemble.EnsembleModel.run`.
BACKENDS = ("auto", "numpy", "fused")
#: Smallest ensemble that ``"auto"`` runs fused (below it the compilation would not pay off).
FUSED_MIN_MEMBERS = 1000


def choose(model, key, backend, nsamp: int, scheduler) -> FusedProgram | None:
    """The fused program for a run, or None for the numpy backend.

    ``backend``: ``"auto"`` (None) runs fused when numba is installed, the model is supported,
    there are at least :data:`FUSED_MIN_MEMBERS` members and no ``scheduler``; ``"fused"``
    insists (a clear error when it cannot); ``"numpy"`` never. ``key``: the orders of DELAY N /
    SMOOTH N given by variables (already set on the nodes), one kernel per orders.
    """
    backend = "auto" if backend is None else backend
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "numpy":
        return None
    if backend == "auto" and (nsamp < FUSED_MIN_MEMBERS or scheduler is not None):
        return None
    if not available():
        if backend == "auto":
            return None
        raise ParameterError("backend='fused' needs numba: pip install 'hubsd[fast]'")
    if scheduler is not None:
        raise ParameterError("backend='fused' runs in this process: drop scheduler= or use 'numpy'")
    if ("fused", key) not in model._programs:
        pl = fused_plan(model)
        why = unsupported(model, pl)
        if why is None:
            try:
                model._programs[("fused", key)] = compile_fused(model, pl)
            except Exception as err:  # an optional speed-up: numpy runs the model all the same
                why = f"a fused kernel that compiles ({type(err).__name__}: {err})"
                if backend == "auto":
                    warnings.warn(
                        f"fused backend unavailable, running on numpy: {why}", stacklevel=3
                    )
        if why is not None:
            model._programs[("fused", key)] = why
    prog = model._programs[("fused", key)]
    if isinstance(prog, str):
        if backend == "fused":
            raise ParameterError(
                f"backend='fused' cannot run {model.mdl.name}: it needs {prog}, which only "
                "the numpy backend runs (backend='numpy' or 'auto')"
            )
        return None
    return prog


def chunk_size(nsamp: int, nworkers: int, default: int) -> int:
    """Members per chunk: the default, or fewer so that each worker thread gets four.

    The kernel needs no memory per member but its output, so small chunks cost nothing and
    keep both threads busy to the end when other jobs share the cores.
    """
    return max(1, min(default, -(-nsamp // (4 * max(nworkers, 1)))))


def run_chunks(prog: FusedProgram, job, varied: dict, bounds, nworkers: int, bar):
    """Every chunk of members on ``nworkers`` threads (the kernel releases the GIL).

    Without varied parameters every member is the same: one is simulated and repeated.
    """
    nsamp = bounds[-1][1]
    if not varied:
        bounds, nworkers = [(0, 1)], 1
    PV = np.empty((len(prog.params), bounds[-1][1]))
    for j, name in enumerate(prog.params):
        PV[j] = varied[name] if name in varied else float(job.values[name])
    sel = prog.select(job.outputs)
    out = np.empty((len(sel), len(job.save_steps), bounds[-1][1]))
    c = job.ctrl
    args = [float(c[k]) for k in CONTROL_SOURCE]  # t0, tfinal, dt, saveper
    saves = np.asarray(job.save_steps, dtype=np.int64)

    def one(lo, hi):
        prog.func(PV[:, lo:hi], *args, int(job.steps), saves, sel, out[:, :, lo:hi])

    if nworkers <= 1 or len(bounds) == 1:
        for lo, hi in bounds:
            one(lo, hi)
            bar.update(1)
        return out if varied else np.repeat(out, nsamp, axis=2)
    with ThreadPoolExecutor(max_workers=nworkers) as pool:
        for future in [pool.submit(one, lo, hi) for lo, hi in bounds]:
            future.result()
            bar.update(1)
    return out
