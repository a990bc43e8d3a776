"""Vensim macros (``:MACRO: NAME(a, b) ... :END OF MACRO:``) in the ensemble engine, inlined.

PySD 3.14 translates each macro into a model of its own (a section of the abstract model, a
``.py`` file beside the model's) and each call into a ``Macro`` object of the calling model: a
stateful object whose inputs are the call's arguments, evaluated in the caller, whose own
stocks are integrated by the caller's Euler step with its other objects, and whose value is the
macro's variable named like the macro. The engine inlines each call instead: the macro's
equations become nodes of the model, named after PySD's name of the call's object
(``_macro_expsmooth_smoothed__expsmooth``), with each parameter replaced by the call's argument;
two calls are two independent copies, as two ``Macro`` objects are. Euler and the initial
values then follow the rest of the engine (every derivative from the current state, then every
state updated), which is what PySD does with the ``Macro`` object's states.

Refused, naming the construct and the calling variable: macros with output parameters
(``NAME(input, p: output)``, which PySD cannot translate either), subscripts inside a macro or
subscripted arguments, data variables inside a macro, and DELAY FIXED / SAMPLE IF TRUE inside a
macro (their input is read when PySD updates the objects, in an order the inlined copy does not
keep). Constants inside a macro are fixed values of the macro, not parameters of the model.
"""

from __future__ import annotations

from hubsd.engine.nodes import STATEFUL_KINDS, EnsembleError, UnsupportedConstructError
from hubsd.engine.subscripts import dims_of

#: Nested calls deeper than this are refused (a macro that calls itself).
MAX_DEPTH = 8

_STATE = (
    "prefix",
    "subs",
    "namespace",
    "py",
    "order",
    "dims",
    "_lhs",
    "_lhs_tokens",
    "data_elements",
)


class MacroBuilder:
    """Inlines macro calls; mixed into :class:`hubsd.engine.ir.Builder`."""

    macro_args: dict = {}  # parameter (the macro's Python name) -> the call's argument
    macro_depth: int = 0

    def macro_argument(self, ast):
        """The call's argument for a reference to a parameter of the macro being built."""
        clean = self.namespace.cleanspace
        key = ast.reference if ast.reference in clean else ast.reference.lower().replace(" ", "_")
        name = clean.get(key)
        if name not in self.macro_args:
            return None
        if ast.subscripts is not None:
            raise UnsupportedConstructError(
                f"macro parameter {name!r} used with subscripts", self._current
            )
        return self.macro_args[name]

    def macro_call(self, fname: str, args) -> tuple:
        """A call of macro ``fname``: its equations inlined, the reference to its value."""
        section = self.macros[fname]
        where = self._current
        if section.returns:
            raise UnsupportedConstructError(f"macro {fname} with output parameters", where)
        if len(args) != len(section.params):
            raise EnsembleError(
                f"macro {fname} takes {len(section.params)} arguments "
                f"({', '.join(section.params)}), called with {len(args)} in {where!r}"
            )
        if self.macro_depth >= MAX_DEPTH:
            raise UnsupportedConstructError(f"macro {fname} nested {MAX_DEPTH} deep", where)
        self._check_macro(section, fname, where)
        built = [self._expr(a) for a in args]
        if any(dims_of(b) for b in built):
            raise UnsupportedConstructError(
                f"macro {fname} called with subscripted arguments", where
            )
        obj = self.namespace.make_python_identifier(self.py[where], prefix=f"_macro_{fname}")
        saved = {k: getattr(self, k) for k in _STATE}
        saved.update(macro_args=self.macro_args, macro_depth=self.macro_depth, _current=where)
        params = self.namespace_cls(section.params).namespace
        self.macro_args = {params[p]: b for p, b in zip(section.params, built, strict=True)}
        self.macro_depth += 1
        before = set(self.nodes)
        try:
            self._build(section, prefix=obj + "__")
        finally:
            for key, value in saved.items():
                setattr(self, key, value)
        result = obj + "__" + fname
        if result not in self.nodes:
            raise EnsembleError(f"macro {fname} has no variable named {fname!r} (its value)")
        for name in set(self.nodes) - before:
            self._inlined(self.nodes[name], obj, fname, where)
        return ("ref", result)

    def _check_macro(self, section, fname: str, where: str) -> None:
        if section.subscripts or any(
            c.subscripts[0] for e in section.elements for c in e.components
        ):
            raise UnsupportedConstructError(f"macro {fname} with subscripts", where)
        for element in section.elements:
            if any(isinstance(c, self.am.AbstractData) for c in element.components):
                raise UnsupportedConstructError(f"a data variable in macro {fname}", where)
            if isinstance(element, self.am.AbstractControlElement):
                raise UnsupportedConstructError(f"control values in macro {fname}", where)

    def _inlined(self, node, obj: str, fname: str, where: str) -> None:
        """A node of an inlined call: constants fixed, statefuls part of PySD's Macro object."""
        if node.kind in ("delayfixed", "sampleiftrue"):
            what = "DELAY FIXED" if node.kind == "delayfixed" else "SAMPLE IF TRUE"
            raise UnsupportedConstructError(f"{what} inside macro {fname}", where)
        if node.kind == "const":  # a value of the macro, not a parameter of the model
            node.kind, node.expr = "aux", ("num", float(node.value), False)
            node.value = None
        if node.kind in STATEFUL_KINDS or node.kind in ("initial", "active"):
            node.obj = obj  # PySD updates the macro's states as one object of the caller
        node.doc = f"{node.element} of macro {fname}, called in {where!r}"
