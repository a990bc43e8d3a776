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

Powers are the C library's ``pow`` in both backends (``_pow``: numpy's own power takes
shortcuts, ``x * x`` for an exponent 2 equal for every member, which differ from ``pow`` in the
last bit at times, so the backends differed whenever an exponent was not varied); a power with
a number as base or exponent (``x ^ 2``) is refused here, as LLVM folds it (``x * x``).

It runs models whose variables are all unsubscripted and use arithmetic, the numpy
functions but TANH (numpy's own SIMD ``tanh`` differs from the C library's by an ulp), IF THEN
ELSE, XIDZ/ZIDZ, tables, STEP, RAMP, PULSE, PULSE TRAIN, QUANTUM, MODULO, SMOOTH (N), DELAY
(N), DELAY FIXED, TREND, FORECAST, SAMPLE IF TRUE, ACTIVE INITIAL and macros; anything else
(subscripts, RANDOM, data variables, the VECTOR and ALLOCATE functions) runs on the numpy
backend. Warm starts (:mod:`hubsd.engine.warmstart`) continue on it too: the history is
simulated on numpy, its state packed once (:func:`pack_state`) and each row continued from its
member's state (bit for bit the numpy continuation, ``tests/test_warmstart.py``). numba is
optional (``pip install 'hubsd[fast]'``); without it everything runs on numpy.

Where a 10,000-member run's time goes (``benchmarks/bench_ensemble.py``, profiled): 99 % in
the kernel, of which about 40 % in the C library's ``pow``, ``exp`` and ``log`` (10 calls per
member and step in the hub model) and 7 % in the tables; the kernel saves the values that do
not change once per member and runs the statements only outputs read at the save steps only.
:mod:`hubsd.engine.vector` runs the same statements for blocks of members in SIMD lanes, with
its own ``exp``/``log``/``**`` (equal to PySD to round-off, not bit for bit; about 3x faster).

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
    state: tuple = ()  # the numpy backend's state variables it reads in a warm start (rows of S)
    pipes: tuple = ()  # its DELAY FIXED nodes (the pipes of ``FD`` in a warm start)

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
    "_pow_literal": "a power with a number as base or exponent (x ^ 2: numba folds it into "
    "x * x, the C library's pow differs in the last bit at times)",
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
            if name == "_pow_literal":
                return _CONSTRUCTS[name]
    return None


_TARGET = re.compile(r"^(\w+) = ")
_NAME = re.compile(r"[A-Za-z_]\w*")


def _saved_only(pl) -> set[int]:
    """Positions of the step's statements that only the saved values read.

    Nothing of the derivatives and updates reads them (nor what these read), so the kernel
    computes them at the save steps only, after the rest of the step: from the same inputs,
    which no later statement of the step assigns, hence the same values. Empty when a
    statement is not one assignment of a variable assigned once.
    """
    targets = [_TARGET.match(s) for s in pl.body]
    if not all(targets):
        return set()
    names = [m.group(1) for m in targets]
    if len(set(names)) != len(names):
        return set()
    need: set[str] = set()
    for stmt in pl.ddt + pl.upd:
        need |= set(_NAME.findall(stmt))
    kept = set()
    for k in range(len(pl.body) - 1, -1, -1):
        if names[k] in need:
            kept.add(k)
            need |= set(_NAME.findall(pl.body[k].split(" = ", 1)[1]))
    late = set(range(len(pl.body))) - kept
    position = {n: k for k, n in enumerate(names)}
    for k in late:  # an input assigned later in the step by a kept statement: keep all in place
        reads = set(_NAME.findall(pl.body[k].split(" = ", 1)[1]))
        if any(position.get(r, -1) > k and position[r] in kept for r in reads):
            return set()
    return late


def state_layout(model, pl=None) -> tuple[tuple, tuple]:
    """The numpy backend's state variables the kernel reads in a warm start, and its pipes.

    Rows of ``S``: each state variable but the DELAY FIXED pipes (``fd_<name>``), then each
    pipe's initial value; ``FD``: each pipe's slots (see :func:`pack_state`).
    """
    pl = fused_plan(model) if pl is None else pl
    pipes = tuple(v[3:] for v in pl.carried if v.startswith("fd_"))
    return tuple(v for v in pl.carried if not v.startswith("fd_")), pipes


def source(model, pl=None) -> tuple[str, tuple, tuple]:
    """The fused kernel's source, the variables it can save and the constants it reads.

    One kernel per model (and orders of DELAY N / SMOOTH N) serves every set of outputs: it
    computes every variable and, at each save, copies the selected ones (``sel``) into ``out``.
    The values that do not change over the run are copied once per member, the statements only
    saved values read run at the save steps only (:func:`_saved_only`). A warm start
    (``first`` > 0) continues each row from the state of member ``M[i]`` at step ``first``
    (``S``, ``FD``: :func:`pack_state`) at time ``tfirst``, as the numpy backend does.
    ``pl``: the model's :func:`fused_plan`, if already made.
    """
    pl = fused_plan(model) if pl is None else pl
    names = pl.outputs
    late = _saved_only(pl)
    early = [s for k, s in enumerate(pl.body) if k not in late]
    saved = [s for k, s in enumerate(pl.body) if k in late]
    loop = pl.body + pl.ddt + pl.upd
    assigned = {m.group(1) for s in loop for m in [_TARGET.match(s)] if m}
    fixed = [k for k, o in enumerate(names) if var_name(o) not in assigned]
    moving = [k for k in range(len(names)) if k not in set(fixed)]
    state, pipes = state_layout(model, pl)
    ind, ind2, ind3 = "    " * 2, "    " * 3, "    " * 4
    lines = [
        "def kernel(PV, t0, tfinal, dt, saveper, steps, save_steps, sel, out, S, FD, M, first, "
        "tfirst):",
        "    n = PV.shape[1]",
        f"    vals = np.empty({len(names)})",
        "    for i in range(n):",
    ]
    lines += [f"{ind}{var_name(p)} = PV[{j}, i]" for j, p in enumerate(pl.params)]
    lines += [f"{ind}{var_name(c)} = {CONTROL_SOURCE[c]}" for c in pl.controls]
    lines += [f"{ind}t = t0", f"{ind}half_dt = dt / 2"]
    lines += [ind + x for x in pl.init]
    lines.append(f"{ind}if first > 0:  # warm start: the state of member M[i] at step first")
    lines += [f"{ind2}m = M[i]", f"{ind2}t = tfirst"]
    lines += [f"{ind2}{v} = S[{r}, m]" for r, v in enumerate(state)]
    for x, p in enumerate(pipes):
        lines += [
            f"{ind2}fdi_{p} = S[{len(state) + x}, m]",
            f"{ind2}for q in range(fdo_{p}):",
            f"{ind2}    fdp_{p}[q] = FD[{x}, q, m]",
            f"{ind2}fds_{p} = first % fdo_{p}",
        ]
    lines += [f"{ind}{k} = {src}" for src, k in pl.hoisted.items()]
    lines += [f"{ind}{k} = {src}" for src, k in pl.literals.items()]
    lines += [f"{ind}vals[{k}] = {var_name(names[k])}" for k in fixed]
    lines += [
        f"{ind}isave = 0",
        f"{ind}next_save = save_steps[0] if len(save_steps) > 0 else -1",
        f"{ind}for step in range(first, steps + 1):",
    ]
    lines += [ind2 + x for x in early]
    lines.append(f"{ind2}if step == next_save:")
    lines += [ind3 + x for x in saved]
    lines += [f"{ind3}vals[{k}] = {var_name(names[k])}" for k in moving]
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
    "float64[:, :, :], float64[:, :], float64[:, :, :], int64[:], int64, float64)"
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

    pl = fused_plan(model) if pl is None else pl
    body, names, params = source(model, pl)
    tables, body = table_source(model, body)
    text = _HEADER.format(model=model.mdl.name, tables=tables)
    text += f'@njit({_SIGNATURE!r}, error_model="numpy", nogil=True, cache=True)\n' + body
    module = load_kernel_module(text, "k", "_hubsd_fused", numba.__version__)
    state, pipes = state_layout(model, pl)
    return FusedProgram(text, module.kernel, names, params, state, pipes)


def table_source(model, body: str) -> tuple[str, str]:
    """The lookup tables a kernel's body uses, as module source, and the body calling them.

    Each table's points and slopes become module constants (the slopes computed once, as
    numpy's interp computes them), and each lookup call in ``body`` gets its slopes.
    """
    tables = "\n".join(
        f"T_{name}_x = np.array({xs.tolist()!r})\nT_{name}_y = np.array({ys.tolist()!r})\n"
        f"T_{name}_s = {_slopes(xs, ys)}"
        for name, (xs, ys, _) in model.tables.items()
        if f"T_{name}_" in body
    )
    return tables, re.sub(r", T_(\w+)_x, T_\1_y\)", r", T_\1_x, T_\1_y, T_\1_s)", body)


def load_kernel_module(text: str, prefix: str, module: str, numba_version: str):
    """Write a generated kernel module to the cache folder (named by its hash) and import it.

    ``prefix`` starts the file's name (``k`` fused, ``v`` vector), ``module`` the module's
    (``_hubsd_fused``, ``_hubsd_vector``). The name is stable for the same source, numba and
    numpy, so numba's own cache (``cache=True``) finds the compiled kernel on the next import;
    a module that fails to import is removed from ``sys.modules`` again.
    """
    key = hashlib.sha256(f"{text}{numba_version}{np.__version__}".encode()).hexdigest()[:20]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}_{key}.py"
    if not path.is_file() or path.read_text() != text:
        write_text(path, text)
    name = f"{module}_{key}"
    loaded = sys.modules.get(name)
    if loaded is None:
        spec = importlib.util.spec_from_file_location(name, path)
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded  # numba's cache finds the module by its name
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
    return loaded


# --------------------------------------------------------------------------------------------
# Scalar helpers: numpy's (and the runtime's) operations for one member
# --------------------------------------------------------------------------------------------


def _ite(cond, a, b):
    return a if cond else b


def _pow(a, b):
    return a**b  # llvm.pow: the C library's pow (operands that are not numbers)


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
    "_pow": _pow,
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
BACKENDS = ("auto", "numpy", "fused", "vector")
#: Smallest ensemble that ``"auto"`` runs fused (below it the compilation would not pay off).
FUSED_MIN_MEMBERS = 1000


def check_backend(backend) -> str:
    """The backend's name (None: ``"auto"``); a clear error for anything but :data:`BACKENDS`."""
    backend = "auto" if backend is None else backend
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend


def compiled(model, slot, compile_kernel, kind: str, warn: bool = False):
    """The kernel of ``slot`` in the model's program cache, compiled once, or why not (a str).

    ``compile_kernel(model, plan)`` compiles it when the model has no construct the kernels
    refuse (:func:`unsupported`); a compile error is recorded as the refusal too (the kernels
    are an optional speed-up) and, with ``warn``, said as a warning.
    """
    if slot not in model._programs:
        pl = fused_plan(model)
        why = unsupported(model, pl)
        if why is None:
            try:
                model._programs[slot] = compile_kernel(model, pl)
            except Exception as err:  # noqa: BLE001 - recorded as the refusal below
                why = f"a {kind} kernel that compiles ({type(err).__name__}: {err})"
                if warn:
                    warnings.warn(
                        f"{kind} backend unavailable, running on numpy: {why}", stacklevel=4
                    )
        if why is not None:
            model._programs[slot] = why
    return model._programs[slot]


def choose(model, key, backend, nsamp: int, scheduler) -> FusedProgram | None:
    """The fused program for a run, or None for the numpy backend.

    ``backend``: ``"auto"`` (None) runs fused when numba is installed, the model is supported,
    there are at least :data:`FUSED_MIN_MEMBERS` members and no ``scheduler``; ``"fused"``
    insists (a clear error when it cannot); ``"numpy"`` never. ``key``: the orders of DELAY N /
    SMOOTH N given by variables (already set on the nodes), one kernel per orders.
    """
    backend = check_backend(backend)
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
    prog = compiled(model, ("fused", key), compile_fused, "fused", warn=backend == "auto")
    if isinstance(prog, str):
        if backend == "fused":
            raise ParameterError(
                f"backend='fused' cannot run {model.mdl.name}: it needs {prog}, which only "
                "the numpy backend runs (backend='numpy' or 'auto')"
            )
        return None
    return prog


def runnable(model) -> bool:
    """Whether the fused backend runs ``model`` at all, whatever the number of members.

    Numba installed, the model supported, the kernel compiled: :func:`choose`'s ``"auto"`` at
    its threshold, so the kernel is compiled (or its refusal recorded) once per model.
    """
    return choose(model, (), "auto", FUSED_MIN_MEMBERS, None) is not None


def small_runs_backend(model) -> str:
    """The backend for many small runs of ``model``: ``"fused"`` whenever it runs the model.

    The fused kernel costs about half a millisecond per member and little per run, while the
    numpy backend pays about 0.6 s of Python per run whatever its size up to a few hundred
    members; callers whose runs are small and many (the calibration's solver stencils and
    posterior moves, the validation battery's cases and chunks, the claims ledger) ask for it
    below the engine's ``auto`` threshold of :data:`FUSED_MIN_MEMBERS` too. Both backends
    compute the same statements in the same order (bit-identical results).
    """
    return "fused" if runnable(model) else "numpy"


def chunk_size(nsamp: int, nworkers: int, default: int) -> int:
    """Members per chunk: the default, or fewer so that each worker thread gets four.

    The kernel needs no memory per member but its output, so small chunks cost nothing and
    keep both threads busy to the end when other jobs share the cores.
    """
    return max(1, min(default, -(-nsamp // (4 * max(nworkers, 1)))))


def pack_state(prog: FusedProgram, state: dict, first: int) -> tuple[np.ndarray, np.ndarray]:
    """A warm start's state (:mod:`hubsd.engine.warmstart`) as the kernel reads it.

    ``state``: the numpy backend's state variables at step ``first`` for ``"__members__"``
    members (a value equal for every member without a member axis). Returns ``S`` (one row per
    state variable of :attr:`FusedProgram.state`, then each pipe's initial value; one column per
    member) and ``FD`` (pipe, slot, member): member ``m``'s pipe of order ``o`` holds the input
    of step ``s`` in slot ``s % o`` (the numpy backend's in slot ``s % size``), for the steps
    ``first - o`` to ``first - 1`` (slots of steps before 0 are never read).

    The kernel computes every variable, the warm start kept the state of those its outputs
    need: the others' rows are NaN (none of the outputs depends on them, so they stay apart).
    """
    members = int(state["__members__"])
    nstate = len(prog.state)
    S = np.full((nstate + len(prog.pipes), members), np.nan)
    for r, v in enumerate(prog.state):
        if v in state:
            S[r] = np.broadcast_to(np.asarray(state[v], dtype=float).reshape(-1), (members,))
    delays = [state.get(f"fd_{p}") for p in prog.pipes]
    size = max([fd.size for fd in delays if fd is not None], default=0)
    FD = np.full((len(delays), size, members), np.nan)
    cols = np.arange(members)
    for x, fd in enumerate(delays):
        if fd is None or fd.pipe is None:
            continue
        S[nstate + x] = np.broadcast_to(np.asarray(fd.init, dtype=float).reshape(-1), (members,))
        order = np.broadcast_to(np.asarray(fd.order).reshape(-1), (members,))
        pipe = np.broadcast_to(fd.pipe.reshape(fd.size, -1), (fd.size, members))
        slot = np.arange(fd.size)[:, None]
        step = first - order + (slot - first) % order  # whose input the slot holds
        ok = (slot < order) & (step >= 0)
        FD[x, : fd.size] = np.where(ok, pipe[step % fd.size, cols], 0.0)
    return S, FD


def run_chunks(prog: FusedProgram, job, varied: dict, bounds, nworkers: int, bar, warm=None):
    """Every chunk of members on ``nworkers`` threads (the kernel releases the GIL).

    Without varied parameters every member is the same: one is simulated and repeated.
    ``warm``: a warm start's ``(S, FD, M)`` (:func:`pack_state`; ``M`` the member of each row),
    continued from ``job.first`` at the state's time ``job.state["t"]``.
    """
    nsamp = bounds[-1][1]
    if not varied and warm is None:
        bounds, nworkers = [(0, 1)], 1
    PV = parameter_matrix(prog, job, varied, bounds[-1][1])
    sel = prog.select(job.outputs)
    out = np.empty((len(sel), len(job.save_steps), bounds[-1][1]))
    c = job.ctrl
    args = [float(c[k]) for k in CONTROL_SOURCE]  # t0, tfinal, dt, saveper
    saves = np.asarray(job.save_steps, dtype=np.int64)
    if warm is None:
        S, FD, M, first, tfirst = np.empty((0, 0)), np.empty((0, 0, 0)), None, 0, args[0]
    else:
        (S, FD, M), first, tfirst = warm, int(job.first), float(job.state["t"])
    M = np.zeros(bounds[-1][1], dtype=np.int64) if M is None else np.asarray(M, dtype=np.int64)

    def one(lo, hi):
        prog.func(
            PV[:, lo:hi],
            *args,
            int(job.steps),
            saves,
            sel,
            out[:, :, lo:hi],
            S,
            FD,
            M[lo:hi],
            first,
            tfirst,
        )

    run_jobs(one, bounds, nworkers, bar)
    return out if varied or warm is not None else np.repeat(out, nsamp, axis=2)


def parameter_matrix(prog, job, varied: dict, n: int) -> np.ndarray:
    """A kernel's parameters: one row per name of ``prog.params``, one column per member.

    A varied parameter's values, else the run's value of it repeated.
    """
    PV = np.empty((len(prog.params), n))
    for j, name in enumerate(prog.params):
        PV[j] = varied[name] if name in varied else float(job.values[name])
    return PV


def run_jobs(one, jobs: list, nworkers: int, bar) -> None:
    """``one(*job)`` for every job, on ``nworkers`` threads (the kernels release the GIL).

    The bar moves by one per finished job; the first error is raised.
    """
    if nworkers <= 1 or len(jobs) == 1:
        for job in jobs:
            one(*job)
            bar.update(1)
        return
    with ThreadPoolExecutor(max_workers=nworkers) as pool:
        for future in [pool.submit(one, *job) for job in jobs]:
            future.result()
            bar.update(1)
