"""Preparing a validation: every input (model, hub, checks file, sample size) checked first."""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hubsd.core.paths import DEFAULT_MODEL
from hubsd.engine import fused
from hubsd.engine.ensemble import compile_model
from hubsd.engine.results import base_name, element_names, flat_outputs, flatten
from hubsd.inputs.hubs import HubError, load_hub_or_parameters
from hubsd.model.parameters import ParameterError
from hubsd.model.pysd_model import load
from hubsd.validation.settings import SIGNED_STOCKS, ValidationInputError

# --------------------------------------------------------------------------------------------
# preparing: every input checked before anything runs


@dataclass
class Context:
    """A checked validation input: model, compiled engine, hub values, stocks and time step."""

    mdl: Path
    engine: object
    hub: str | None
    base: dict
    table: pd.DataFrame
    stocks: list[str]
    dt: float
    saveper: float

    def has(self, *names) -> bool:
        """Whether the model has every one of these variables (or elements ``"x[North]"``)."""
        pool = set(self.engine.outputs_available()) | set(flat_outputs(self.engine))
        return all(n in pool for n in names)

    def lacks(self, names) -> list[str]:
        """The variables among ``names`` that the model does not have."""
        pool = set(self.engine.outputs_available()) | set(flat_outputs(self.engine))
        return [n for n in names if n not in pool]

    @property
    def checked_stocks(self) -> list[str]:
        """Stocks that must not go negative.

        All but :data:`SIGNED_STOCKS` and those whose declared range allows negative values.
        """
        out = []
        for s in self.stocks:
            low = (list(self.engine.nodes[base_name(s)].limits) + [None])[0]
            if s not in SIGNED_STOCKS and not (low is not None and float(low) < 0):
                out.append(s)
        return out


def _parse_position(exc: BaseException) -> tuple[str, int] | None:
    """The text PySD's parser was reading and the offset where it stopped, if known."""
    text, pos = getattr(exc, "text", None), getattr(exc, "pos", None)
    if isinstance(text, str) and isinstance(pos, int):
        return text, pos
    found, tb = None, exc.__traceback__
    while tb is not None:  # a VisitationError: the innermost parse-tree node being built
        node = tb.tb_frame.f_locals.get("node")
        if isinstance(getattr(node, "full_text", None), str) and hasattr(node, "start"):
            found = (node.full_text, int(node.start))
        tb = tb.tb_next
    return found


def _locate(mdl: Path, exc: BaseException) -> tuple[int | None, str]:
    """The line of the model file where translation failed, and a one-line message."""
    msg = " ".join(str(exc).split("Parse tree:")[0].split()) or type(exc).__name__
    try:
        src = mdl.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, msg
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        # PySD's namespace has no such variable: find where the model uses it
        name = exc.args[0]
        pattern = r"(?<![\w])" + r"[\s_]+".join(map(re.escape, name.split("_"))) + r"(?![\w])"
        match = re.search(pattern, src, flags=re.IGNORECASE)
        if match:
            line = src.count("\n", 0, match.start()) + 1
            return line, f"{match.group(0)!r} is used but not defined"
        return None, f"{name!r} is used but not defined"
    found = _parse_position(exc)
    if found is None:
        return None, msg
    text, pos = found
    idx = src.find(text)
    msg = re.sub(r"\s*\(line \d+, column \d+\)", "", msg)  # of the equation, not the file
    if idx >= 0:
        return src.count("\n", 0, idx + min(pos, len(text))) + 1, msg
    match = re.search(r"\s*".join(re.escape(tok) for tok in text.split()), src)
    if not match:
        return None, msg
    return src.count("\n", 0, match.start()) + 1 + text[:pos].count("\n"), msg


def _translation_error(mdl: Path, exc: BaseException, what: str) -> ValidationInputError:
    line, msg = _locate(mdl, exc)
    where = f"{mdl}, line {line}" if line else f"{mdl}"
    return ValidationInputError(f"{where}: {what}: {msg}")


def _model_hub_fits(engine, hub: str, mdl=DEFAULT_MODEL) -> list[str]:
    """Parameters of a hub file that the model does not have.

    The file is read against the default model's table first (a hub file for the hub
    model), then against ``mdl``'s (a parameter file of a model of one's own).
    """
    return sorted(set(load_hub_or_parameters(hub, mdl)["parameters"]) - set(engine.constants))


def prepare(mdl, hub, samples, seed) -> Context:
    """Check every input of a validation and build its context; :class:`ValidationInputError`.

    The model translates (PySD) and compiles (ensemble engine), the sample size and seed are
    whole numbers, the hub (``"auto"``: :func:`default_hub`) sets only parameters the model has.
    """
    mdl = Path(mdl)
    if not mdl.is_file():
        raise ValidationInputError(f"model file not found: {mdl}")
    if mdl.suffix.lower() != ".mdl":
        raise ValidationInputError(f"{mdl}: not a Vensim model (.mdl)")
    try:
        load(mdl)  # PySD translation (cached by the file's hash) and initialisation
    except Exception as exc:  # PySD raises parser and builder errors of many kinds
        raise _translation_error(mdl, exc, "the model does not translate (PySD)") from None
    try:
        engine = compile_model(mdl)
    except Exception as exc:
        raise _translation_error(mdl, exc, "the ensemble engine cannot run the model") from None
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValidationInputError(
            f"the Latin hypercube needs a whole number of at least 2 samples, got {samples!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationInputError(f"the seed must be a whole number >= 0, got {seed!r}")
    if hub == "auto":
        hub = default_hub(mdl)
    table = engine.parameter_table()
    base = table["default"].to_dict()
    if hub is not None:
        try:
            lacking = _model_hub_fits(engine, hub, mdl)
            if not lacking:
                base.update(load_hub_or_parameters(hub, mdl)["parameters"])
        except (HubError, ParameterError) as exc:
            raise ValidationInputError(" ".join(str(exc).split())) from None
        if lacking:
            raise ValidationInputError(
                f"hub {hub!r} sets parameters that {mdl} does not have ("
                f"{', '.join(lacking[:5])}{', ...' if len(lacking) > 5 else ''}); validate this "
                "model without a hub (hub=None, `--hub none`)"
            )
    stocks = [
        c for n in engine.elements if engine.nodes[n].stateful for c in element_names(engine, n)
    ]
    ctrl = engine.controls
    return Context(mdl, engine, hub, base, table, stocks, ctrl["time_step"], ctrl["saveper"])


def default_hub(mdl=DEFAULT_MODEL) -> str | None:
    """``"krakow"`` when the model has every parameter of the Kraków hub file, else None."""
    try:
        return None if _model_hub_fits(compile_model(mdl), "krakow", mdl) else "krakow"
    except Exception:  # a model that does not compile: validate() reports it properly
        return None


def default_checks(mdl=DEFAULT_MODEL) -> Path | None:
    """The reality-check file beside a model (``<stem>.checks.yaml``), if there is one."""
    path = Path(mdl).with_name(f"{Path(mdl).stem}.checks.yaml")
    return path if path.is_file() else None


@contextmanager
def quiet():
    """Runs whose values may be non-finite: the checks report them, so no warnings."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def run_members(ctx: Context, cases: dict[str, dict] | pd.DataFrame | None, outputs, **kwargs):
    """Run named cases (name -> parameter overrides) or a DataFrame as one ensemble.

    ``outputs`` may name elements (``"population[North]"``); a subscripted variable comes back
    as one variable per element (:func:`flatten`).
    """
    outputs = list(dict.fromkeys(base_name(o) for o in outputs))
    if isinstance(cases, dict):
        frame = pd.DataFrame(list(cases.values()), index=pd.Index(list(cases), name="sample"))
        for col in frame.columns:
            frame[col] = frame[col].fillna(ctx.base[col]).astype(float)
        params = frame if len(frame.columns) else None
        n = len(cases)
    else:
        params, n = cases, (None if cases is not None else 1)
    with quiet():
        # scenario cases and chunks of the Latin hypercube: small runs, many of them
        backend = fused.small_runs_backend(ctx.engine)
        ds = ctx.engine.run(
            params, list(outputs), hub=ctx.hub, n=n, workers=1, backend=backend, **kwargs
        )
    ds = flatten(ds)
    if isinstance(cases, dict):
        ds = ds.assign_coords(sample=list(cases))
    return ds
