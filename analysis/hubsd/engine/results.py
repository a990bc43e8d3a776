"""The Dataset of an ensemble run: named dims, units and provenance (``EnsembleModel.run``)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import xarray as xr

from hubsd.core.version import __version__
from hubsd.engine.members import output_rows


def to_dataset(model, result, outputs, stamps, index, varied, values, hub, ctrl) -> xr.Dataset:
    """An ensemble run's outputs as a Dataset (see :meth:`EnsembleModel.run` for its layout).

    ``model`` is the :class:`hubsd.engine.ensemble.EnsembleModel`; ``result`` the output buffer
    (output rows, saves, members). Warns (RuntimeWarning) when an output has non-finite values.
    """
    data_vars = {}
    rows = output_rows(model.nodes, outputs)
    for o, (lo, hi) in zip(outputs, rows, strict=True):
        node = model.nodes[o]
        block = (
            result[lo] if not node.dims else result[lo:hi].reshape(node.shape + result.shape[1:])
        )
        data_vars[o] = xr.Variable(
            node.dims + ("time", "sample"),
            block,
            attrs={
                "units": node.units,
                "long_name": node.element,
                "description": node.doc,
            },
        ).transpose("sample", "time", *node.dims)
    coords = {
        "sample": index,
        "time": xr.Variable(
            ("time",),
            stamps,
            attrs={"units": model.nodes["time"].units or model.nodes["initial_time"].units},
        ),
    }
    for o in outputs:
        for d in model.nodes[o].dims:
            coords[d] = xr.Variable((d,), model.nodes[o].coords[d])
    table = model.parameter_table() if varied else None
    for name, arr in varied.items():
        if name in data_vars:  # requested as an output: it is there already
            continue
        row = table.loc[name]
        coords[name] = xr.Variable(
            ("sample",),
            arr,
            attrs={"units": row.units, "long_name": row.model_name},
        )
    ds = xr.Dataset(data_vars, coords=coords)

    fixed = {k: v for k, v in values.items() if k not in varied and k != "__seed__"}
    ds.attrs.update(
        {
            "title": "hubsd ensemble run",
            "hub": hub or "model defaults",
            "varied_parameters": ", ".join(varied),
            "fixed_parameters": json.dumps(fixed, sort_keys=True),
            "time_step": ctrl["time_step"],
            "random_seed": values["__seed__"],
            "model_file": model.mdl.name,
            "model_sha256": model.sha256,
            "engine": "hubsd.ensemble (vectorised Euler, PySD semantics)",
            "hubsd_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    # non-finite values are warned of by hubsd.engine.steps.finish, after any finer re-run
    return ds


# subscripted variables as one series per element (the validation battery checks each one)


def base_name(name: str) -> str:
    """The variable of an element name (``"population[North]"`` -> ``"population"``)."""
    return name.split("[", 1)[0]


def element_names(engine, name: str) -> list[str]:
    """``name`` for an unsubscripted variable, else one ``name[e1,e2]`` per element."""
    node = engine.nodes.get(name)
    if node is None or not getattr(node, "dims", None):
        return [name]
    ranges = [node.coords[d] for d in node.dims]
    return [f"{name}[{','.join(map(str, e))}]" for e in itertools.product(*ranges)]


def flat_outputs(engine) -> list[str]:
    """Every output of the model, a subscripted one as one name per element."""
    return [c for n in engine.outputs_available() for c in element_names(engine, n)]


def flatten(ds: xr.Dataset) -> xr.Dataset:
    """Each subscripted variable of a run as one ``(sample, time)`` variable per element.

    ``population (sample, time, Region)`` becomes ``population[North]``, ``population[South]``
    ..., with the variable's attrs; unsubscripted variables are kept as they are.
    """
    out = {}
    for name, da in ds.data_vars.items():
        extra = [d for d in da.dims if d not in ("sample", "time")]
        if not extra:
            out[name] = da
            continue
        da = da.transpose("sample", "time", *extra)
        coords = [ds[d].values for d in extra]
        for idx in itertools.product(*(range(len(c)) for c in coords)):
            label = ",".join(str(c[i]) for c, i in zip(coords, idx, strict=True))
            cell = da.isel(dict(zip(extra, idx, strict=True)), drop=True)
            out[f"{name}[{label}]"] = cell.assign_attrs(da.attrs)
    flat = xr.Dataset(out, attrs=ds.attrs)
    return flat.drop_vars([c for c in flat.coords if c not in ("sample", "time")])
