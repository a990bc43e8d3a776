"""Figures of the validation battery, drawn from its Dataset.

Integration error, conservation, the Latin-hypercube envelope and the extreme conditions.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from hubsd.plots.figures import _CONTEXT, _STYLE, _new_figure
from hubsd.validation.settings import (
    CONSERVATION_TOLERANCE,
    HALVING_THRESHOLD,
    REFERENCE_DIVISOR,
    REFERENCE_THRESHOLD,
)

# --------------------------------------------------------------------------------------------
# figures


def _style():
    import seaborn as sns

    return sns.axes_style(_STYLE), sns.plotting_context(_CONTEXT, font_scale=0.8)


def plot_integration(data: xr.Dataset):
    """Max relative difference per key output (worst scenario), with the thresholds.

    For TIME STEP / 2 and for the fine reference; None when the data have no integration error.
    """
    if "integration_error" not in data:
        return None
    err = data["integration_error"].max("scenario")
    outputs = [str(o) for o in err["output"].values]
    style, context = _style()
    with style, context:
        fig = _new_figure(7.5, 0.35 * len(outputs) + 1.8)
        ax = fig.subplots()
        y = np.arange(len(outputs))
        for i, (ref, limit) in enumerate(
            zip(err["reference"].values, (HALVING_THRESHOLD, REFERENCE_THRESHOLD), strict=True)
        ):
            colour = f"C{i}"
            ax.barh(
                y + (i - 0.5) * 0.38,
                100 * err.sel(reference=ref).values,
                height=0.36,
                color=colour,
                label=f"vs {ref} (threshold {limit:.0%})",
            )
            ax.axvline(100 * limit, color=colour, linestyle="--", linewidth=1)
        ax.set_yticks(y, [o.replace("_", " ") for o in outputs])
        ax.invert_yaxis()
        ax.set_xlabel("max |difference| / scale [%], worst scenario")
        ax.set_title(
            f"Integration error at TIME STEP {err.attrs.get('time_step', ''):g}", fontsize="medium"
        )
        ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_conservation(data: xr.Dataset):
    """|people accounting error| / people over time, per scenario and the LHS maximum."""
    if "accounting_error" not in data:
        return None
    floor = 1e-18
    style, context = _style()
    with style, context:
        fig = _new_figure(7.5, 3.6)
        ax = fig.subplots()
        t = data["time"].values
        da = data["accounting_error"]
        for s in da["scenario"].values:
            ax.plot(t, np.maximum(da.sel(scenario=s).values, floor), linewidth=1, label=str(s))
        if "lhs_accounting_error_max" in data:
            ax.plot(
                t,
                np.maximum(data["lhs_accounting_error_max"].values, floor),
                color="k",
                linewidth=1.6,
                linestyle=":",
                label="Latin hypercube, max",
            )
        ax.axhline(
            CONSERVATION_TOLERANCE,
            color="r",
            linestyle="--",
            linewidth=1,
            label=f"threshold {CONSERVATION_TOLERANCE:g}",
        )
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, max(1.0, float(np.nanmax(da.values)) * 2))
        ax.set_xlabel(f"Time [{data['time'].attrs.get('units', 'Year')}]")
        ax.set_ylabel("|accounting error| / people")
        ax.set_title("Conservation of people", fontsize="medium")
        ax.legend(fontsize="x-small", ncols=2, loc="upper left")
    return fig


def plot_envelope(data: xr.Dataset):
    """Key outputs over the Latin hypercube: min-max and 5-95 % bands, the median."""
    if "lhs_envelope" not in data:
        return None
    env = data["lhs_envelope"]
    units = json.loads(env.attrs.get("units", "{}"))
    outputs = [str(o) for o in env["envelope_output"].values]
    ncols = 3 if len(outputs) > 4 else min(len(outputs), 2)
    nrows = int(np.ceil(len(outputs) / ncols))
    t = data["time"].values
    style, context = _style()
    with style, context:
        fig = _new_figure(4.0 * ncols, 2.8 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
        for ax, o in zip(axes, outputs, strict=False):
            q = env.sel(envelope_output=o)
            ax.fill_between(
                t,
                q.sel(quantile=0.0),
                q.sel(quantile=1.0),
                color="C0",
                alpha=0.2,
                linewidth=0,
                label="min-max",
            )
            ax.fill_between(
                t,
                q.sel(quantile=0.05),
                q.sel(quantile=0.95),
                color="C0",
                alpha=0.4,
                linewidth=0,
                label="5-95 %",
            )
            ax.plot(t, q.sel(quantile=0.5), color="C0", linewidth=1.4, label="median")
            ax.axhline(0, color="k", linewidth=0.6)
            ax.set_title(o.replace("_", " "), fontsize="medium")
            ax.set_ylabel(units.get(o, ""))
        for ax in axes[len(outputs) :]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
        n = data.sizes.get("sample", 0)
        fig.suptitle(f"Latin hypercube over the parameter table ({n} runs)", fontsize="large")
    return fig


def plot_extremes(data: xr.Dataset):
    """The extreme-condition runs against the baseline."""
    if "case" not in data.coords:
        return None
    cases = [str(c) for c in data["case"].values]
    panels = [
        (
            "No adoption",
            "extreme_junior_staff",
            ["baseline", "no_adoption", "no_adoption_ai_extremes"],
        ),
        ("a_J = 1, h = 0", "extreme_junior_staff", ["baseline", "full_automation"]),
        (
            "Zero graduates (workforce alone)",
            "extreme_total_hub_staff",
            ["baseline", "zero_graduates"],
        ),
        (
            "Local multiplier 0",
            "extreme_local_service_jobs",
            ["baseline", "no_multiplier", "no_multiplier_shock"],
        ),
    ]
    panels = [
        (title, var, [c for c in want if c in cases])
        for title, var, want in panels
        if var in data and any(c in cases for c in want[1:])
    ]
    if not panels:
        return None
    t = data["time"].values
    style, context = _style()
    with style, context:
        fig = _new_figure(9.0, 3.0 * int(np.ceil(len(panels) / 2)) + 0.4)
        axes = fig.subplots(int(np.ceil(len(panels) / 2)), 2, squeeze=False).ravel()
        for ax, (title, var, want) in zip(axes, panels, strict=False):
            for i, c in enumerate(want):
                ax.plot(
                    t,
                    data[var].sel(case=c).values,
                    linewidth=1.4,
                    linestyle=["-", "--", ":"][i % 3],
                    label=c.replace("_", " "),
                )
            ax.set_title(title, fontsize="medium")
            ax.set_ylabel(
                f"{var.removeprefix('extreme_').replace('_', ' ')} "
                f"[{data[var].attrs.get('units', '')}]"
            )
            ax.legend(fontsize="x-small")
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        fig.suptitle("Extreme conditions", fontsize="large")
    return fig


FIGURES = {
    "integration_error": plot_integration,
    "conservation": plot_conservation,
    "lhs_envelope": plot_envelope,
    "extreme_conditions": plot_extremes,
}
FIGURE_TITLES = {
    "integration_error": "Integration error (TIME STEP against TIME STEP / 2 and / "
    f"{REFERENCE_DIVISOR})",
    "conservation": "Conservation of people",
    "lhs_envelope": "Key outputs over the Latin hypercube",
    "extreme_conditions": "Extreme conditions",
}
