"""From PySD's abstract model to the ensemble engine's intermediate representation.

PySD parses the Vensim file (``VensimFile(...).parse().get_abstract_model()``); :class:`Builder`
turns each element into a :class:`Node` whose expression is a small tuple tree (see the
IR comment below). Constructs the engine does not implement are refused here with
:class:`UnsupportedConstructError`, naming the construct and the variable.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hubsd.engine.allocation import AllocationBuilder
from hubsd.engine.external import read_constants, read_data, read_data_files, read_lookups
from hubsd.engine.macros import MacroBuilder
from hubsd.engine.nodes import (  # noqa: F401 - re-exported: the engine's IR and errors
    BINARY,
    CONTROL,
    DEFAULT_CHUNK_SIZE,
    FUNCTIONS,
    NUMPY_UNARY,
    REDUCTIONS,
    RPREC,
    SMALL_VENSIM,
    STATEFUL_KINDS,
    STRUCTURE_NAMES,
    VECTORS,
    EnsembleError,
    Node,
    UnsupportedConstructError,
    expr_deps,
    walk,
)
from hubsd.engine.randoms import RANDOM, site_id
from hubsd.engine.statefuls import StatefulBuilder, int_typed
from hubsd.engine.subscripts import Subscripts, align, aligned_args, dims_of

# --------------------------------------------------------------------------------------------
# From PySD's abstract model to the IR
# --------------------------------------------------------------------------------------------


def _pysd_abstract_model(mdl: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pysd.builders.python.namespace import NamespaceManager
        from pysd.translators.structures import abstract_expressions as ae
        from pysd.translators.structures import abstract_model as am
        from pysd.translators.vensim.vensim_file import VensimFile

        try:
            vf = VensimFile(str(mdl))
            vf.parse()
            model = vf.get_abstract_model()
        except Exception as err:  # PySD's parser raises many kinds: report them as ours
            first = (str(err).splitlines() or [""])[0][:200]
            raise EnsembleError(
                f"PySD cannot parse {Path(mdl).name}, so neither can the ensemble engine: "
                f"{type(err).__name__}: {first}"
            ) from err
    return model, ae, am, NamespaceManager


class Builder(StatefulBuilder, MacroBuilder, AllocationBuilder):
    """Translates PySD's AbstractModel into :class:`Node` objects."""

    def __init__(self, mdl: Path, data_files: tuple = ()):
        model, self.ae, self.am, self.namespace_cls = _pysd_abstract_model(mdl)
        self.data_files = tuple(data_files)
        main = [s for s in model.sections if s.name == "__main__"][0]
        self.macros = {s.name: s for s in model.sections if s is not main}
        self.root = Path(mdl).parent
        self.nodes: dict[str, Node] = {"time": Node("time", "time")}
        self.tables: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
        self.delay_n: list[str] = []
        self._random_calls: dict[str, int] = {}
        self._build(main)

    def _build(self, section, prefix: str = "") -> None:
        """Nodes of a section's elements (the model's, or a macro's for one call of it)."""
        self.prefix = prefix  # before the Python names of a macro's elements, per call
        self.subs = Subscripts(section, self.root)
        self.namespace = self.namespace_cls(section.params)
        elements = list(section.elements)
        for element in elements:  # PySD's SectionBuilder: names in file order
            self.namespace.add_to_namespace(element.name)
        self.py = {e.name: prefix + self.namespace.namespace[e.name] for e in elements}
        self.order: list[str] = []  # element py names in file order
        self.dims: dict[str, tuple[tuple, dict]] = {}
        self._lhs: list = []  # dims of the left-hand side being built (PySD's def_subs)
        self._lhs_tokens: list = []
        self.data_elements = []
        for element in elements:
            if any(isinstance(c, self.am.AbstractData) for c in element.components):
                self._check_data(element)
            if not isinstance(element, self.am.AbstractControlElement):
                self.dims[self.py[element.name]] = self.subs.element_dims(element)
        lookups = [
            e for e in elements if any(isinstance(c, self.am.AbstractLookup) for c in e.components)
        ]
        for element in lookups:
            self._table_element(element)
        for element in elements:
            if element in lookups:
                continue
            if element in self.data_elements:
                self._data_element(element)
                continue
            self._element(element)

    def _check_data(self, element) -> None:
        """A data variable: a series read from a file, or an equation PySD builds as usual."""
        series = (self.ae.GetDataStructure, self.ae.DataStructure)
        kinds = {type(c.ast) for c in element.components if isinstance(c.ast, series)}
        if not kinds:
            return  # ``x := expression``: PySD builds the expression as any auxiliary
        from_files = sum(isinstance(c.ast, series) for c in element.components)
        if len(kinds) > 1 or from_files != len(element.components):
            raise UnsupportedConstructError(
                "a data variable defined partly by equations, partly by files", element.name
            )
        self.data_elements.append(element)

    def _data_element(self, element) -> None:
        """A data variable: its series, looked up at each step's time (``engine.external``)."""
        py = self.py[element.name]
        dims, coords = self.dims[py]
        if isinstance(element.components[0].ast, self.ae.GetDataStructure):
            series = read_data(element, py, dims, coords, self.subs.ranges, self.root)
        else:
            series = read_data_files(element, py, dims, coords, self.data_files)
        table = "data__" + py
        self.tables[table] = series
        meta = dict(
            element=element.name,
            units=str(element.units or ""),
            doc=str(element.documentation or "").strip(),
            limits=tuple(element.limits or (None, None)),
        )
        expr = ("data", table, dims)
        if dims:
            meta.update(dims=dims, coords=coords)
            expr = ("full", expr, tuple(len(coords[d]) for d in dims))
        self.order.append(py)
        self.nodes[py] = Node(py, "aux", expr=expr, **meta)

    # -- elements ----------------------------------------------------------------------------

    def _table_element(self, element):
        comps = element.components
        py = self.py[element.name]
        if all(isinstance(c.ast, self.ae.GetLookupsStructure) for c in comps):
            dims, coords = self.dims[py]
            self.tables[py] = read_lookups(element, py, dims, coords, self.subs.ranges, self.root)
            return
        for comp in comps:
            if not isinstance(comp.ast, self.ae.LookupsStructure):
                raise UnsupportedConstructError(
                    type(comp.ast).__name__.replace("Structure", "") + " tables", element.name
                )
        if len(comps) == 1 and not comps[0].subscripts[0]:
            self.tables[self.py[element.name]] = self._table(comps[0].ast, element.name)
            return
        self.tables[self.py[element.name]] = self._subscripted_table(element)

    def _subscripted_table(self, element):
        """A table per element, on the union of their x values (PySD's HardcodedLookups).

        Returns ``(xs, ys, kind)`` with ``ys`` of shape ``dims + (len(xs),)``: indexed like a
        value (the table axis where the members would be).
        """
        from pysd.py_backend.lookups import HardcodedLookups

        py = self.py[element.name]
        dims, coords = self.dims[py]
        kinds = {c.ast.type for c in element.components}
        if len(kinds) != 1:
            raise UnsupportedConstructError("tables of mixed interpolation", element.name)
        table = None
        for comp in element.components:
            lhs, excepts = comp.subscripts
            if excepts:
                raise UnsupportedConstructError("a table defined with :EXCEPT:", element.name)
            part = {
                d: list(self.subs.ranges.get(tok, [tok])) for d, tok in zip(dims, lhs, strict=True)
            }
            xs, ys, kind = self._table(comp.ast, element.name)
            if table is None:
                table = HardcodedLookups(list(xs), list(ys), part, kind, coords, py)
            else:
                table.add(list(xs), list(ys), part)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table.initialize()
        data = table.data.transpose(*dims, "lookup_dim")
        if np.isnan(data.values).any():
            raise EnsembleError(f"table {element.name!r} lacks values for some elements")
        return np.asarray(data.lookup_dim.values, dtype=float), data.values.astype(float), kind

    def _table(self, lk, where: str):
        if lk.type not in ("interpolate", "hold_backward"):
            raise UnsupportedConstructError(f"table interpolation {lk.type!r}", where)
        xs = np.asarray(lk.x, dtype=float)
        ys = np.asarray(lk.y, dtype=float)
        if len(xs) != len(set(xs)) or len(xs) != len(ys) or len(xs) == 0:
            raise EnsembleError(f"table of {where!r} has repeated or missing x values")
        idx = np.argsort(xs, kind="stable")
        return xs[idx], ys[idx], lk.type

    def _element(self, element):
        py = self.py[element.name]
        meta = dict(
            element=element.name,
            units=str(element.units or ""),
            doc=str(element.documentation or "").strip(),
            limits=tuple(element.limits or (None, None)),
        )
        self._current = element.name
        comps = element.components
        self._lhs = self.subs.lhs_dims(comps[0].subscripts[0])
        self._lhs_tokens = list(comps[0].subscripts[0])
        if isinstance(element, self.am.AbstractControlElement):
            if py not in CONTROL:
                raise UnsupportedConstructError(f"control variable {element.name}", element.name)
            ast = comps[0].ast
            if _is_number(ast):
                self.nodes[py] = Node(py, "control", value=float(ast), **meta)
            else:  # an expression of constants and other control values: see compile_model
                self.nodes[py] = Node(py, "control", expr=self._expr(ast), **meta)
            return
        self.order.append(py)
        dims, coords = self.dims[py]
        if all(isinstance(c.ast, self.ae.GetConstantsStructure) for c in comps):
            value = read_constants(element, py, dims, coords, self.subs.ranges, self.root)
            meta.update(dims=dims, coords=coords) if dims else None
            self.nodes[py] = Node(py, "const", value=value, **meta)
            return
        if not dims:
            if len(comps) != 1:  # pragma: no cover - PySD merges these
                raise UnsupportedConstructError("an element defined twice", element.name)
            ast = comps[0].ast
            if _is_number(ast):
                self.nodes[py] = Node(py, "const", value=float(ast), **meta)
            elif isinstance(ast, self.stateful_types()):
                self._stateful(ast, py, meta, dims=())
            else:
                e = self._expr(ast)
                if dims_of(e):
                    raise UnsupportedConstructError(
                        f"subscript {dims_of(e)[0]} not on the left-hand side", element.name
                    )
                self.nodes[py] = Node(py, "aux", expr=e, **meta)
            return
        meta.update(dims=dims, coords=coords)
        shape = tuple(len(coords[d]) for d in dims)
        parts = [self.subs.part(c, dims, coords, element.name) for c in comps]
        if all(_is_number(c.ast) or isinstance(c.ast, np.ndarray) for c in comps):
            value = np.full(shape, np.nan)
            for comp, (_, target, mask, _) in zip(comps, parts, strict=True):
                lengths = [len(t) for t in target]
                arr = np.asarray(comp.ast, dtype=float)
                arr = arr.reshape(lengths) if arr.size == np.prod(lengths) else arr
                block = value[np.ix_(*target)]
                full = np.broadcast_to(arr, block.shape)
                if mask is None:
                    block = full
                else:
                    block[mask] = full[mask]
                value[np.ix_(*target)] = block
            self.nodes[py] = Node(py, "const", value=value, **meta)
            return
        whole = len(comps) == 1 and parts[0][0] == dims and parts[0][2] is None
        if whole and isinstance(comps[0].ast, self.stateful_types()):
            self._stateful(
                comps[0].ast,
                py,
                {k: v for k, v in meta.items() if k not in ("dims", "coords")},
                dims=dims,
            )
            return
        if whole:
            e = self.subs.check_iteration(self._expr(comps[0].ast), dims, element.name)
            self.nodes[py] = Node(py, "aux", expr=("full", e, shape), **meta)
            return
        out = []
        for comp, (iter_dims, target, mask, singles) in zip(comps, parts, strict=True):
            self._lhs = self.subs.lhs_dims(comp.subscripts[0])
            self._lhs_tokens = list(comp.subscripts[0])
            if isinstance(comp.ast, self.stateful_types()):
                raise UnsupportedConstructError(
                    "a stateful function in an element defined by parts", element.name
                )
            if isinstance(comp.ast, np.ndarray):
                raise UnsupportedConstructError(
                    "a list of numbers beside equations in one element", element.name
                )
            e = self.subs.check_iteration(self._expr(comp.ast), iter_dims, element.name)
            index = repr(tuple(target))
            mask_src = None if mask is None else repr(mask.tolist())
            out.append((index, mask_src, singles, len(iter_dims), e))
        self.nodes[py] = Node(py, "aux", expr=("assemble", shape, tuple(out)), **meta)

    # -- expressions -------------------------------------------------------------------------

    def _ref_name(self, reference: str) -> str:
        clean = self.namespace.cleanspace
        key = reference if reference in clean else reference.lower().replace(" ", "_")
        if key in clean:
            name = clean[key]
            return name if name == "time" or not self.prefix else self.prefix + name
        raise EnsembleError(f"unknown variable {reference!r} in the equation of {self._current!r}")

    def _expr(self, ast) -> tuple:
        ae = self.ae
        if _is_number(ast):
            return ("num", float(ast), isinstance(ast, (int, np.integer)))
        if isinstance(ast, (ae.ArithmeticStructure, ae.LogicStructure)):
            return self._operation(list(ast.operators), [self._expr(a) for a in ast.arguments])
        if isinstance(ast, ae.ReferenceStructure):
            argument = self.macro_argument(ast) if self.prefix else None
            if argument is not None:
                return argument
            if ast.reference not in self.namespace.cleanspace:
                value = self.subs.value(ast.reference)
                if value is not None:
                    return value
            name = self._ref_name(ast.reference)
            if name == "time":
                return ("time",)
            if name in self.tables:
                raise UnsupportedConstructError(f"table {name!r} used as a value", self._current)
            dims, coords = self.dims.get(name, ((), {}))
            if ast.subscripts is None:
                if dims:
                    raise UnsupportedConstructError(
                        f"subscripted {name!r} used without subscripts", self._current
                    )
                return ("ref", name)
            if not dims:
                raise EnsembleError(f"{name!r} has no subscripts, in {self._current!r}")
            holder = Node(name, "ref", element=name, dims=dims, coords=coords)
            tokens = list(ast.subscripts.subscripts)
            return self.subs.reference(holder, tokens, self._current, self._lhs)
        if isinstance(ast, ae.CallStructure):
            return self._call(ast)
        if isinstance(ast, self.stateful_types()):
            return self._hidden(ast)
        if isinstance(ast, ae.GameStructure):
            return self._expr(ast.expression)
        if isinstance(ast, ae.InlineLookupsStructure):
            name = self.namespace.make_python_identifier(
                self.py[self._current], prefix="_hardcodedlookup"
            )
            self.tables[name] = self._table(ast.lookups, self._current)
            return ("lookup", name, self._expr(ast.argument))
        if isinstance(ast, (ae.AllocateByPriorityStructure, ae.AllocateAvailableStructure)):
            return self.allocation(ast)
        if isinstance(ast, np.ndarray):
            raise UnsupportedConstructError("a list of numbers inside an equation", self._current)
        cls = type(ast).__name__
        construct = STRUCTURE_NAMES.get(cls, cls.replace("Structure", "") or repr(ast))
        raise UnsupportedConstructError(construct, self._current)

    def _random(self, fname: str, args) -> tuple:
        """A RANDOM function: one draw per element of the left-hand side (as PySD)."""
        built = [self._expr(a) for a in args]
        if any(dims_of(a) for a in built):
            raise UnsupportedConstructError(
                f"{fname.upper().replace('_', ' ')} with subscripted arguments", self._current
            )
        dims = tuple(t for t in self._lhs_tokens if t in self.subs.ranges)
        shape = tuple(len(self.subs.ranges[d]) for d in dims)
        k = self._random_calls.get(self._current, 0)
        self._random_calls[self._current] = k + 1
        site = site_id(self._current, k)
        return ("random", fname, site, tuple(built), dims, shape)

    def _table_call(self, name: str, function, x) -> tuple:
        """``table(x)``, or ``table[Region](x[Region])`` for a subscripted table."""
        dims, coords = self.dims.get(name, ((), {}))
        tokens = getattr(getattr(function, "subscripts", None), "subscripts", None)
        if not dims:
            if tokens:
                raise EnsembleError(f"table {name!r} has no subscripts, in {self._current!r}")
            return ("lookup", name, x)
        if not tokens:
            raise UnsupportedConstructError(
                f"subscripted table {name!r} called without subscripts", self._current
            )
        holder = Node(name, "ref", element=name, dims=dims, coords=coords)
        ref = self.subs.reference(holder, list(tokens), self._current, self._lhs)
        out = ref[3]
        extra = [d for d in dims_of(x) if d not in out]
        if extra:
            raise UnsupportedConstructError(
                f"table {name!r} called with an argument over {extra[0]}", self._current
            )
        return ("sublookup", name, ref[2], align(x, out), out)

    def _operation(self, operators, args) -> tuple:
        if len(args) == 1:
            op = operators[0]
            if op == "negative":
                return ("neg", args[0])
            if op == ":NOT:":
                return ("not", args[0])
            raise UnsupportedConstructError(f"operator {op}", self._current)
        for op in operators:
            if op not in BINARY:
                raise UnsupportedConstructError(f"operator {op}", self._current)
        # Shunting-yard with Python's precedence: PySD writes the operation as one flat
        # Python expression, so Python's parse is the reference.
        out, ops = [args[0]], []

        def reduce():
            op = ops.pop()
            b, a = out.pop(), out.pop()
            if dims_of(a) != dims_of(b):
                a, b = aligned_args([a, b])
            out.append(("bin", op, a, b))

        for op, arg in zip(operators, args[1:], strict=True):
            prec = BINARY[op][1]
            while ops and (BINARY[ops[-1]][1] > prec or (BINARY[ops[-1]][1] == prec and op != "^")):
                reduce()
            ops.append(op)
            out.append(arg)
        while ops:
            reduce()
        return out[0]

    def _call(self, ast) -> tuple:
        fname = ast.function.reference
        args = ast.arguments
        clean = self.namespace.cleanspace
        if fname in clean and self.prefix + clean[fname] in self.tables:
            if len(args) != 1:
                raise EnsembleError(
                    f"table {fname!r} called with {len(args)} arguments in {self._current!r}"
                )
            return self._table_call(self.prefix + clean[fname], ast.function, self._expr(args[0]))
        if fname in self.macros:
            return self.macro_call(fname, args)
        if fname == "elmcount" and len(args) == 1:
            rng = self.subs.range_name(getattr(args[0], "reference", ""))
            if rng is None:
                raise EnsembleError(f"ELMCOUNT of an unknown range in {self._current!r}")
            return ("num", float(len(self.subs.ranges[rng])), True)
        if fname in RANDOM and len(args) == RANDOM[fname]:
            return self._random(fname, args)
        if fname in VECTORS and len(args) == VECTORS[fname]:
            return self.subs.vector(fname, [self._expr(a) for a in args], self._current)
        if fname in REDUCTIONS and len(args) == 1:
            return self.subs.reduce(fname, self._expr(args[0]), self._current)
        if fname not in FUNCTIONS:
            if fname in clean:
                raise UnsupportedConstructError(f"calling variable {fname!r}", self._current)
            raise UnsupportedConstructError(fname.upper().replace("_", " "), self._current)
        if len(args) != FUNCTIONS[fname]:
            raise UnsupportedConstructError(
                f"{fname.upper().replace('_', ' ')} with {len(args)} arguments", self._current
            )
        if fname == "active_initial":
            return self._active_initial(args)
        built = [self._expr(a) for a in args]
        if len({dims_of(a) for a in built}) > 1:
            built = aligned_args(built)
        return ("call", fname, tuple(built))


_int_typed = int_typed


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
