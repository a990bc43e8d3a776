"""Vector backend of the ensemble engine: members inner, time outer, in SIMD lanes (numba).

The fused kernel (:mod:`hubsd.engine.fused`) runs one member at a time in scalars, so the
CPU's vector units stay idle and every ``pow``/``exp``/``log`` is a call of the C library
(about 40 % of its time on the hub model). This backend compiles the same statements
(:func:`hubsd.engine.fused.fused_plan`) for a block of :data:`LANES` members at once: each
member's initial values are computed as the fused kernel computes them (scalar, per member),
then every step runs the step's statements as a few loops over the block's members (one loop
per run of statements; a variable read by another loop, or saved, kept in a row of
:data:`LANES` floats of one flat array, addressed by constant offsets so that LLVM sees the
rows apart), which LLVM vectorises (AVX2: four members per instruction). The statements and
their order are the fused kernel's.

Two modes:

- ``exact=False`` (``backend="vector"``): ``exp``, ``log`` and ``x ** y`` of the step are this
  module's own (:func:`_vexp`, :func:`_vlog`, :func:`_vpow`: branch-free, so they vectorise;
  within 2 units in the last place of the C library's, ``x ** y`` as ``exp(y log|x|)`` within
  3e-15 relative, ``tests/test_vector.py``); a division by a value fixed over the run is a
  multiplication by its reciprocal (computed once per member) and LLVM may fuse multiply-adds
  (``fastmath={'contract'}``). Results equal PySD to round-off, not bit for bit (the issue's
  standard, 1e-9 relative, ``tests/test_vector.py`` on the hub model at defaults and with every
  parameter drawn).
- ``exact=True``: the C library's functions as the fused kernel calls them (the loops holding
  them stay scalar), true divisions, no ``fastmath``. Results equal the fused kernel's bit for
  bit (the test of this module's code generation; not offered by :meth:`run`).

The tables are :func:`_vinterp`: the fused kernel's ``numpy.interp`` (its C code step by step)
with selects instead of branches, so the same values. DELAY FIXED pipes (one slot index per
member) run in scalar loops. Warm starts, subscripts and everything the fused kernel refuses
are refused (``backend="vector"`` names the construct); calibration and ``"auto"`` keep the
fused kernel, whose numbers they were made with.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
from dataclasses import dataclass

import numpy as np

from hubsd.engine import fused
from hubsd.engine.codegen import CONTROL_SOURCE
from hubsd.engine.emitter import var_name
from hubsd.engine.nodes import SMALL_VENSIM
from hubsd.model.parameters import ParameterError

#: Members simulated together (a compile-time constant of the loops: two AVX2 vectors per
#: statement, and the hub model's rows, 300 x 8 floats, stay in the L1 cache; 8 measured
#: faster than 32 or 64, whose rows spill to L2, and about as fast as 4 or 16).
LANES = 8

#: Names of the step that are one value for every member (not rows).
_SHARED = {"t", "half_dt", "dt", "t0", "tfinal", "saveper", "step", "steps"}
_INT = re.compile(r"^fd[os]_")  # DELAY FIXED orders and slots: integers
_PIPE = re.compile(r"^fdp_")


@dataclass
class VectorProgram:
    """A vector simulation function: blocks of :data:`LANES` members, every variable saved."""

    source: str
    func: object
    names: tuple  # the variables it can save, by index (as the fused kernel's ``sel``)
    params: tuple  # constants it reads (rows of ``PV``)
    rows: np.ndarray  # row of each name in the kernel's array of rows
    exact: bool

    def select(self, outputs: tuple) -> np.ndarray:
        """Indices of ``outputs`` among :attr:`names` (the kernel's ``sel``)."""
        index = {n: k for k, n in enumerate(self.names)}
        return np.array([index[o] for o in outputs], dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Code generation
# --------------------------------------------------------------------------------------------


def _simple(stmt: ast.stmt) -> bool:
    """One assignment of one target, or an ``if`` whose branches are such assignments."""
    if isinstance(stmt, ast.Assign):
        return len(stmt.targets) == 1
    if isinstance(stmt, ast.If):
        return all(_simple(s) for s in stmt.body + stmt.orelse)
    return False


def _parse(line: str) -> ast.stmt:
    tree = ast.parse(line.strip())
    if len(tree.body) != 1 or not _simple(tree.body[0]):
        raise _Unsupported(f"a statement the vector kernel does not write ({line.strip()!r})")
    return tree.body[0]


class _Unsupported(Exception):
    """A statement form this backend does not write (the model stays on the fused kernel)."""


def _names(stmt: ast.AST) -> list[tuple[str, bool]]:
    """(name, stored) in evaluation order: an assignment's value, then its target."""
    if isinstance(stmt, ast.Assign):
        return _names(stmt.value) + [n for t in stmt.targets for n in _names(t)]
    if isinstance(stmt, ast.If):
        return _names(stmt.test) + [n for s in stmt.body + stmt.orelse for n in _names(s)]
    return [
        (node.id, isinstance(node.ctx, ast.Store))
        for node in ast.walk(stmt)
        if isinstance(node, ast.Name)
    ]


class _Lanes(ast.NodeTransformer):
    """Rewrite a scalar statement for lane ``i``: rows ``A[r, i]``, ints ``AI[r, i]``, pipes."""

    def __init__(self, rows, irows, local, fast: bool, tables: dict, lane: str = "i"):
        self.rows, self.irows, self.local, self.lane = rows, irows, local, lane
        self.fast, self.tables = fast, tables

    def _row(self, array: str, r: int, ctx):
        index = ast.BinOp(ast.Constant(r * LANES), ast.Add(), ast.Name(self.lane, ast.Load()))
        return ast.Subscript(value=ast.Name(array, ast.Load()), slice=index, ctx=ctx)

    def visit_Name(self, node):
        if node.id in self.local:
            return node
        if node.id in self.irows:
            return self._row("AI", self.irows[node.id], node.ctx)
        if node.id in self.rows:
            return self._row("A", self.rows[node.id], node.ctx)
        return node

    def visit_Subscript(self, node):
        if isinstance(node.value, ast.Name) and _PIPE.match(node.value.id):
            index = self.visit(node.slice)
            return ast.Subscript(
                value=ast.Name("P_" + node.value.id[4:], ast.Load()),
                slice=ast.Tuple([index, ast.Name(self.lane, ast.Load())], ast.Load()),
                ctx=node.ctx,
            )
        return self.generic_visit(node)

    def visit_Call(self, node):
        node = self.generic_visit(node)
        f = node.func
        name = ast.unparse(f)
        if self.fast and name in ("np.exp", "np.log", "_pow"):
            node.func = ast.Name(
                {"np.exp": "_vexp", "np.log": "_vlog", "_pow": "_vpow"}[name], ast.Load()
            )
        elif name in ("_ite", "_xidz", "_zidz"):
            node.func = ast.Name("_v" + name[1:], ast.Load())
        elif name == "_interp" and len(node.args) >= 3:
            table = ast.unparse(node.args[1])
            if self.tables.get(table, 0) >= 2:
                node.func = ast.Name("_vinterp", ast.Load())
        return node


class _Reciprocal(ast.NodeTransformer):
    """``x / c`` as ``x * rcp_c`` for ``c`` fixed over the run (fast mode: within an ulp)."""

    def __init__(self, fixed: set):
        self.fixed, self.used = fixed, set()

    def visit_BinOp(self, node):
        node = self.generic_visit(node)
        if isinstance(node.op, ast.Div) and isinstance(node.right, ast.Name):
            if node.right.id in self.fixed:
                self.used.add(node.right.id)
                return ast.BinOp(
                    node.left, ast.Mult(), ast.Name(f"rcp_{node.right.id}", ast.Load())
                )
        return node


def _step_groups(stmts: list[ast.stmt]) -> list[tuple[bool, list[ast.stmt]]]:
    """Runs of statements: (vectorisable, statements); DELAY FIXED pipes alone, scalar."""
    groups: list[tuple[bool, list]] = []
    for s in stmts:
        vec = not any(_INT.match(n) or _PIPE.match(n) for n, _ in _names(s))
        if groups and groups[-1][0] == vec and vec:
            groups[-1][1].append(s)
        else:
            groups.append((vec, [s]))
    return groups


def source(model, pl=None, exact: bool = False) -> tuple[str, tuple, tuple, np.ndarray]:
    """The vector kernel's source, the variables it can save, its constants and their rows."""
    pl = fused.fused_plan(model) if pl is None else pl
    names = pl.outputs
    late = fused._saved_only(pl)
    early = [_parse(s) for k, s in enumerate(pl.body) if k not in late]
    saved = [_parse(s) for k, s in enumerate(pl.body) if k in late]
    tail = [_parse(s) for s in pl.ddt + pl.upd]
    init = [f"{var_name(p)} = PV[{j}, b + i]" for j, p in enumerate(pl.params)]
    init += [f"{var_name(c)} = {CONTROL_SOURCE[c]}" for c in pl.controls]
    init += ["t = t0"]
    init += [x for x in pl.init if not re.match(r"^fdp_\w+ = np\.empty\(", x.strip())]
    init += [f"{k} = {src}" for src, k in pl.hoisted.items()]
    assigned = set()
    for x in init:
        assigned |= {n for n, stored in _names(ast.parse(x.strip()).body[0]) if stored}
    if not exact:  # divisions by values fixed over the run: multiplications by reciprocals
        moving = {n for s in early + saved + tail for n, stored in _names(s) if stored}
        rcp = _Reciprocal(assigned - moving - _SHARED)
        early, saved, tail = ([rcp.visit(s) for s in part] for part in (early, saved, tail))
        init += [f"rcp_{n} = 1.0 / {n}" for n in sorted(rcp.used)]
        assigned |= {f"rcp_{n}" for n in rcp.used}
    literals = set(pl.literals.values())
    shared = _SHARED | literals
    glob = {"np", "i", "A", "AI"}
    step_names = {n for s in early + saved + tail for n, _ in _names(s)}
    tables = {f"T_{k}_x": len(xs) for k, (xs, _, _) in model.tables.items()}
    step_names -= glob | shared | set(tables)
    step_names = {n for n in step_names if not (n.startswith("T_") or n in fused._HELPERS)}
    step_names = {n for n in step_names if not n.startswith("_")}
    pipes = sorted(n[4:] for n in step_names if _PIPE.match(n))
    # every savable name and every name of the step is a row, but a loop's own temporaries
    groups = [_step_groups(x) for x in (early, saved, tail)]
    savable = {var_name(n) for n in names}
    where: dict[str, set] = {}
    for part in groups:
        for g, (_, stmts) in enumerate(part):
            for s in stmts:
                for n, _ in _names(s):
                    where.setdefault(n, set()).add((id(part), g))
    locals_: list[set] = []
    for part in groups:
        loc = []
        for g, (vec, stmts) in enumerate(part):
            seen, own = set(), set()
            for s in stmts:
                for n, stored in _names(s):
                    if n not in seen:
                        seen.add(n)
                        if stored and vec and where[n] == {(id(part), g)} and n not in savable:
                            own.add(n)
            loc.append(own)
        locals_.append(loc)
    all_local = set().union(*[x for loc in locals_ for x in loc])
    row_names = sorted((step_names | savable) - all_local - {f"fdp_{p}" for p in pipes})
    irow_names = [n for n in row_names if _INT.match(n)]
    frow_names = [n for n in row_names if not _INT.match(n)]
    rows = {n: r for r, n in enumerate(frow_names)}
    irows = {n: r for r, n in enumerate(irow_names)}

    ind1, ind2, ind3, ind4 = ("    " * k for k in (1, 2, 3, 4))
    lines = [
        "def kernel(PV, t0, tfinal, dt, saveper, steps, save_steps, sel, srow, out):",
        f"{ind1}n = PV.shape[1]",
        f"{ind1}A = np.empty({max(len(rows), 1) * LANES})",
        f"{ind1}AI = np.zeros({max(len(irows), 1) * LANES}, dtype=np.int64)",
        f"{ind1}half_dt = dt / 2",
    ]
    lines += [f"{ind1}{k} = {src}" for src, k in pl.literals.items()]
    lines.append(f"{ind1}for b in range(0, n, {LANES}):")
    # initial values: the fused kernel's scalar code, member by member, then into the rows
    lines.append(f"{ind2}for i in range(min({LANES}, n - b)):  # not unrolled: compiles faster")
    lines += [ind3 + x for x in init]
    lines += [f"{ind3}A[{r * LANES} + i] = {n}" for n, r in rows.items() if n in assigned]
    lines += [f"{ind3}AI[{r * LANES} + i] = {n}" for n, r in irows.items() if n in assigned]
    for p in pipes:
        r = irows[f"fdo_{p}"] * LANES
        lines.append(f"{ind2}P_{p} = np.empty((max(1, AI[{r}:{r + LANES}].max()), {LANES}))")
    lines += [
        f"{ind2}t = t0",
        f"{ind2}isave = 0",
        f"{ind2}next_save = save_steps[0] if len(save_steps) > 0 else -1",
        f"{ind2}for step in range(steps + 1):",
    ]
    loops = iter(range(10**6))

    def emit(part, loc, ind):
        out = []
        for (_, stmts), own in zip(part, loc, strict=True):
            lane = f"i{next(loops)}"  # a name per loop: numba's SSA pass is faster
            tr = _Lanes(rows, irows, own, not exact, tables, lane)
            out.append(f"{ind}for {lane} in range({LANES}):")
            for s in stmts:
                new = tr.visit(ast.parse(ast.unparse(s)).body[0])
                text = ast.unparse(ast.fix_missing_locations(new))
                out += [ind + "    " + x for x in text.split("\n")]
        return out

    lines += emit(groups[0], locals_[0], ind3)
    lines.append(f"{ind3}if step == next_save:")
    lines += emit(groups[1], locals_[1], ind4)
    lines += [
        f"{ind4}for k in range(len(sel)):",
        f"{ind4}    r = srow[sel[k]] * {LANES}",
        f"{ind4}    for i in range({LANES}):",
        f"{ind4}        out[k, isave, b + i] = A[r + i]",
        f"{ind4}isave += 1",
        f"{ind4}next_save = save_steps[isave] if isave < len(save_steps) else -1",
        f"{ind3}if step == steps:",
        f"{ind4}break",
    ]
    lines += emit(groups[2], locals_[2], ind3)
    lines.append(f"{ind3}t = t + dt")
    srow = np.array([rows.get(var_name(n), -1) for n in names], dtype=np.int64)
    return "\n".join(lines) + "\n", names, pl.params, srow


_SIGNATURE = (
    "void(float64[:, :], float64, float64, float64, float64, int64, int64[:], int64[:], "
    "int64[:], float64[:, :, :])"
)

_HEADER = '''"""Generated by hubsd.engine.vector for {model} (do not edit). helpers {version}"""
import numpy as np
from numba import njit
from hubsd.engine.fused import helpers
from hubsd.engine.vector import vector_helpers
globals().update(helpers())
globals().update(vector_helpers())
{tables}

'''


def _helpers_version() -> str:
    text = "".join(inspect.getsource(f) for f in _SCALAR.values())
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def compile_vector(model, pl=None, exact: bool = False) -> VectorProgram:
    """Generate, write to the cache folder, import and numba-compile the vector kernel."""
    import numba

    pl = fused.fused_plan(model) if pl is None else pl
    try:
        body, names, params, srow = source(model, pl, exact)
    except _Unsupported as err:
        raise ParameterError(str(err)) from None
    tables, body = fused.table_source(model, body)
    text = _HEADER.format(model=model.mdl.name, tables=tables, version=_helpers_version())
    flags = "" if exact else ", fastmath={'contract'}"  # fused multiply-adds in fast mode
    text += f'@njit({_SIGNATURE!r}, error_model="numpy", nogil=True, cache=True{flags})\n'
    text += body
    module = fused.load_kernel_module(text, "v", "_hubsd_vector", numba.__version__)
    return VectorProgram(text, module.kernel, names, params, srow, exact)


def choose(model, key, nsamp: int, scheduler, exact: bool = False) -> VectorProgram:
    """The vector program of ``model`` (compiled once per model, orders and mode).

    A clear :class:`~hubsd.model.parameters.ParameterError` when numba is missing, a
    ``scheduler`` is given, or the model needs what the fused kernel refuses or a statement
    this backend does not write (run it with ``backend="fused"``, ``"numpy"`` or ``"auto"``).
    """
    if not fused.available():
        raise ParameterError("backend='vector' needs numba: pip install 'hubsd[fast]'")
    if scheduler is not None:
        raise ParameterError(
            "backend='vector' runs in this process: drop scheduler= or use 'numpy'"
        )
    prog = fused.compiled(
        model, ("vector", key, exact), lambda m, pl: compile_vector(m, pl, exact), "vector"
    )
    if isinstance(prog, str):
        raise ParameterError(
            f"backend='vector' cannot run {model.mdl.name}: it needs {prog}; run it with "
            "backend='fused', 'numpy' or 'auto'"
        )
    return prog


def run_chunks(prog: VectorProgram, job, varied: dict, bounds, nworkers: int, bar):
    """Every chunk of members on ``nworkers`` threads (the kernel releases the GIL).

    The chunks are ``bounds`` rounded to whole blocks of :data:`LANES` members; the members
    after the last whole block run as one block padded with copies of the last member.
    Without varied parameters every member is the same: one block is simulated and repeated.
    """
    nsamp = bounds[-1][1]
    n = nsamp if varied else 1
    full = n // LANES * LANES
    size = -(-max(hi - lo for lo, hi in bounds) // LANES) * LANES
    spans = [(lo, min(lo + size, full)) for lo in range(0, full, size)]
    PV = fused.parameter_matrix(prog, job, varied, n)
    sel = prog.select(job.outputs)
    out = np.empty((len(sel), len(job.save_steps), n))
    args = [float(job.ctrl[k]) for k in CONTROL_SOURCE]  # t0, tfinal, dt, saveper
    saves = np.asarray(job.save_steps, dtype=np.int64)
    tail = None
    if full < n:  # the last members, padded to a whole block
        tail = (np.empty((len(prog.params), LANES)), np.empty(out.shape[:2] + (LANES,)))
        tail[0][:, : n - full] = PV[:, full:]
        tail[0][:, n - full :] = PV[:, n - 1 : n]

    def one(x):
        if x == len(spans):
            prog.func(tail[0], *args, int(job.steps), saves, sel, prog.rows, tail[1])
            out[:, :, full:] = tail[1][:, :, : n - full]
            return
        a, s = spans[x]
        prog.func(PV[:, a:s], *args, int(job.steps), saves, sel, prog.rows, out[:, :, a:s])

    fused.run_jobs(one, [(x,) for x in range(len(spans) + (tail is not None))], nworkers, bar)
    return out if varied else np.repeat(out, nsamp, axis=2)


def choose_backend(model, key, backend, nsamp: int, scheduler):
    """The program of a run: a :class:`VectorProgram` for ``backend="vector"``, else the fused.

    Otherwise the fused kernel's choice (:func:`hubsd.engine.fused.choose`: a fused program or
    None for the numpy backend).
    """
    if fused.check_backend(backend) == "vector":
        return choose(model, key, nsamp, scheduler)
    return fused.choose(model, key, backend, nsamp, scheduler)


def run_any(prog, job, varied: dict, bounds, nworkers: int, bar):
    """Run the chunks on the vector or the fused kernel, whichever ``prog`` is."""
    if isinstance(prog, VectorProgram):
        return run_chunks(prog, job, varied, bounds, nworkers, bar)
    return fused.run_chunks(prog, job, varied, bounds, nworkers, bar)


# --------------------------------------------------------------------------------------------
# Branch-free scalar helpers (LLVM vectorises the loops that call them)
# --------------------------------------------------------------------------------------------

_MAGIC = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer in the low bits
_MAGIC_BITS = 0x4338000000000000
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's ln2_hi (k * _LN2_HI exact for |k| < 2**20)
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634
_SQRT2_BITS = 0x3FF6A09E667F3BCD
_MANT = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_TINY = 2.2250738585072014e-308  # smallest normal float64


def _f2i(x):
    """The bits of a float64 as an int64 (numba: :func:`vector_helpers`' bit cast)."""
    return int(np.array(x, dtype=np.float64).view(np.int64))


def _i2f(k):
    """The float64 whose bits are the int64 ``k`` (numba: :func:`vector_helpers`' bit cast)."""
    return float(np.array(k & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64).view(np.float64))


def _sel(c, a, b):
    """``a if c else b`` without a branch (numba: an LLVM ``select``; both sides evaluated).

    The helpers below are written with it, one name per value: numba's compile time grows with
    branches and reassigned names times the kernel's size, and LLVM vectorises selects.
    """
    return a if c else b


def _vite(c, a, b):
    """IF THEN ELSE (the fused kernel's ``_ite``) as a select."""
    return _sel(c != 0, float(a), float(b))


def _vxidz(num, den, x):
    """XIDZ (the fused kernel's ``_xidz``) as a select: the same values."""
    return _sel(abs(den) < SMALL_VENSIM, float(x), num / den)


def _vzidz(num, den):
    """ZIDZ (the fused kernel's ``_zidz``) as a select: the same values."""
    return _sel(abs(den) < SMALL_VENSIM, 0.0, num / den)


def _vexp(x):
    """``exp(x)``: Cody-Waite reduction, Taylor polynomial to r**13, scale in two factors."""
    x1 = _sel(x > 760.0, 760.0, x)
    xc = _sel(x1 < -760.0, -760.0, x1)
    y = xc * _LOG2E + _MAGIC
    kf = y - _MAGIC
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    # Estrin's scheme (short dependency chains: the CPU overlaps more of the lanes' work)
    r2 = r * r
    r4 = r2 * r2
    q0 = (1.0 + r) + (0.5 + r * (1.0 / 6.0)) * r2
    q1 = (1.0 / 24.0 + r * (1.0 / 120.0)) + (1.0 / 720.0 + r * (1.0 / 5040.0)) * r2
    q2 = (1.0 / 40320.0 + r * (1.0 / 362880.0)) + (1.0 / 3628800.0 + r * (1.0 / 39916800.0)) * r2
    q3 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    p = (q0 + q1 * r4) + (q2 + q3 * r4) * (r4 * r4)
    # 2**k as 2**k1 * 2**k2 (k1 = k / 2 rounded; no arithmetic shift, which AVX2 lacks)
    y1 = kf * 0.5 + _MAGIC
    k1 = _f2i(y1) - _MAGIC_BITS
    k2 = _f2i((kf - (y1 - _MAGIC)) + _MAGIC) - _MAGIC_BITS
    res = p * _i2f((k1 + 1023) << 52) * _i2f((k2 + 1023) << 52)
    return _sel(x != x, x, res)


def _vlog(x):
    """``log(x)``: ``x = m 2**e``, ``m`` in [1/sqrt 2, sqrt 2), ``log m = 2 atanh(s)``."""
    sub = x < _TINY
    xs = _sel(sub, x * 4503599627370496.0, x)  # 2**52: subnormals made normal
    bits = _f2i(xs)
    m0 = (bits & _MANT) | _ONE_BITS
    big = m0 > _SQRT2_BITS
    mbits = m0 - big * 4503599627370496
    e = ((bits & 0x7FF0000000000000) >> 52) - 1023 + big * 1 - sub * 52
    ef = _i2f(e + _MAGIC_BITS) - _MAGIC
    f = _i2f(mbits) - 1.0
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    z4 = z2 * z2
    a0 = 2.0 / 3.0 + z * (2.0 / 5.0) + (2.0 / 7.0 + z * (2.0 / 9.0)) * z2
    a1 = 2.0 / 11.0 + z * (2.0 / 13.0) + (2.0 / 15.0 + z * (2.0 / 17.0)) * z2
    q = a0 + a1 * z4 + (2.0 / 19.0 + z * (2.0 / 21.0)) * (z4 * z4)
    big_r = q * z  # log(1 + f) = 2s + s R = f - s (f - R)
    logm = f - s * (f - big_r)
    res = ef * _LN2_HI + (logm + ef * _LN2_LO)
    r1 = _sel(x == np.inf, np.inf, res)
    r2 = _sel(x == 0.0, -np.inf, r1)
    r3 = _sel(x < 0.0, np.nan, r2)
    return _sel(x != x, x, r3)


def _vpow(a, b):
    """``a ** b`` as ``exp(b log|a|)``, with the C library's special cases (negative bases)."""
    r = _vexp(b * _vlog(abs(a)))
    # whole and odd exponents without calls (|b| < 2**51: adding 1.5 * 2**52 rounds to integer)
    big = abs(b) >= 2251799813685248.0
    whole = big | ((b + _MAGIC) - _MAGIC == b)
    half = 0.5 * b
    odd = whole & ~big & ((half + _MAGIC) - _MAGIC != half)
    neg = a < 0.0
    r1 = _sel(neg & odd, -r, r)
    r2 = _sel(neg & ~whole, np.nan, r1)
    r3 = _sel((a == -1.0) & (abs(b) == np.inf), 1.0, r2)
    r4 = _sel(b == 0.0, 1.0, r3)
    return _sel(a == 1.0, 1.0, r4)


def _vinterp(x, xs, ys, slopes):
    """The fused kernel's ``_interp`` (numpy's interp) with selects for branches; 2+ points.

    The segment's ends and slope are selected point by point (no gathers), then the same
    arithmetic as numpy's interp: the same values.
    """
    n = len(xs)
    x0, y0, x1, y1, slope = xs[0], ys[0], xs[1], ys[1], slopes[0]
    for k in range(1, n - 1):
        c = x >= xs[k]
        x0 = _sel(c, xs[k], x0)
        y0 = _sel(c, ys[k], y0)
        x1 = _sel(c, xs[k + 1], x1)
        y1 = _sel(c, ys[k + 1], y1)
        slope = _sel(c, slopes[k], slope)
    r = slope * (x - x0) + y0
    r2 = slope * (x - x1) + y1
    r3 = _sel((r2 != r2) & (y0 == y1), y0, r2)
    r4 = _sel(r == r, r, r3)
    r5 = _sel(x0 == x, y0, r4)
    r6 = _sel(x >= xs[n - 1], ys[n - 1], r5)
    r7 = _sel(x < xs[0], ys[0], r6)
    return _sel(x != x, x, r7)


_SCALAR = {
    "_vite": _vite,
    "_vxidz": _vxidz,
    "_vzidz": _vzidz,
    "_vexp": _vexp,
    "_vlog": _vlog,
    "_vpow": _vpow,
    "_vinterp": _vinterp,
}
_JITTED: dict = {}


def vector_helpers() -> dict:
    """The helpers compiled with numba (once per process), by the names the kernels call."""
    if _JITTED:
        return _JITTED
    import numba
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def f2i(typingctx, x):
        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], context.get_value_type(types.int64))

        return types.int64(types.float64), codegen

    @intrinsic
    def i2f(typingctx, x):
        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], context.get_value_type(types.float64))

        return types.float64(types.int64), codegen

    @intrinsic
    def sel(typingctx, c, a, b):
        if not isinstance(c, types.Boolean):
            return None
        kind = types.float64 if types.float64 in (a, b) else types.int64

        def codegen(context, builder, sig, args):
            x = context.cast(builder, args[1], sig.args[1], kind)
            y = context.cast(builder, args[2], sig.args[2], kind)
            return builder.select(args[0], x, y)

        return kind(c, a, b), codegen

    globals().update(_f2i=f2i, _i2f=i2f, _sel=sel)
    jit = numba.njit(error_model="numpy", cache=True, inline="always")
    jitted = {"_f2i": f2i, "_i2f": i2f, "_sel": sel}
    for k in ("_vite", "_vxidz", "_vzidz", "_vexp", "_vlog", "_vinterp"):
        jitted[k] = jit(_SCALAR[k])
    globals().update(jitted)  # _vpow calls the compiled _vexp and _vlog
    jitted["_vpow"] = jit(_vpow)
    _JITTED.update(jitted)
    return _JITTED
