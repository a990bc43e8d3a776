"""The Dataset of an ensemble run: named dims, units and provenance (``EnsembleModel.run``)."""

from __future__ import annotations

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
