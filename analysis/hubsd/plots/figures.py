"""Figures of a scenario run (:func:`hubsd.run_scenarios`), drawn with seaborn and matplotlib.

Every function takes the scenario Dataset (dims ``scenario`` and ``time``) and returns a
:class:`matplotlib.figure.Figure`. Figures are built with matplotlib's object API on an Agg
canvas, not through ``pyplot``: nothing is displayed, no global backend is switched and no
figure is kept alive by pyplot's figure registry, so the functions are safe in scripts, tests
and notebooks alike (in JupyterLab a returned figure still renders as an image). Seaborn
styles are applied with context managers and never leak into the caller's ``rcParams``.

Axes are labelled with each variable's ``long_name`` and its ``units`` attribute; money in
EUR is shown in millions of EUR and dimensionless shares (``Dmnl``) as percentages.

>>> ds = hubsd.run_scenarios("krakow")
>>> fig = tier_composition(ds)
>>> paths = save_figures(ds, "figures/")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, PercentFormatter

#: The three skill tiers of the workforce sector, bottom to top of the stacked area.
TIERS = ["junior_staff", "mid_staff", "senior_staff"]

#: Outputs compared across scenarios in :func:`policy_comparison` (those present are drawn).
COMPARISON_OUTPUTS = [
    "total_hub_staff",
    "junior_staff",
    "displaced_hub_workers",
    "youth_unemployment_rate",
    "business_first_year_enrolment",
    "local_service_jobs",
    "net_young_migration",
    "new_industry_jobs",
    "cumulative_policy_cost",
]

_STYLE = "whitegrid"
_CONTEXT = "notebook"
_DPI = 120


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _require(ds: xr.Dataset, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise ValueError(f"{what} needs {', '.join(missing)} in the Dataset")
    if "time" not in ds.dims:
        raise ValueError(f"{what} needs a 'time' dimension")


def _scenarios(ds: xr.Dataset) -> list[str]:
    if "scenario" in ds.dims:
        return [str(s) for s in ds["scenario"].values]
    return [str(ds.attrs.get("scenario", "run"))]


def _select(da: xr.DataArray, scenario: str) -> xr.DataArray:
    return da.sel(scenario=scenario) if "scenario" in da.dims else da


def _title(da: xr.DataArray) -> str:
    name = str(da.attrs.get("long_name") or da.name).replace("_", " ")
    return name[:1].upper() + name[1:]


def _scale(da: xr.DataArray) -> tuple[float, str, bool]:
    """Factor to divide by, unit label and whether to show as a percentage."""
    units = str(da.attrs.get("units", "")).strip()
    if units.lower() in {"dmnl", "1", "fraction"}:
        finite = np.asarray(da.values, dtype=float)
        finite = finite[np.isfinite(finite)]
        if finite.size and np.nanmax(np.abs(finite)) <= 1.0 + 1e-9:
            return 1.0, "%", True
        return 1.0, units, False
    if units.upper().startswith("EUR"):
        return 1e6, "million " + units, False
    return 1.0, units or "no units given", False


def _axis_label(da: xr.DataArray) -> str:
    _, unit, _ = _scale(da)
    return f"{_title(da)} [{unit}]"


def _time_label(ds: xr.Dataset) -> str:
    return f"Time [{ds['time'].attrs.get('units', 'Year')}]"


def _format_axis(ax, da: xr.DataArray) -> None:
    _, _, percent = _scale(da)
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    else:
        ax.yaxis.set_major_formatter(
            FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}")
        )


def _long_frame(ds: xr.Dataset, name: str) -> pd.DataFrame:
    da = ds[name]
    factor, _, _ = _scale(da)
    rows = []
    for scen in _scenarios(ds):
        values = np.asarray(_select(da, scen).values, dtype=float) / factor
        rows.append(
            pd.DataFrame(
                {"time": ds["time"].values.astype(float), "value": values, "scenario": scen}
            )
        )
    return pd.concat(rows, ignore_index=True)


def _palette(ds: xr.Dataset) -> dict[str, tuple]:
    names = _scenarios(ds)
    colours = sns.color_palette("colorblind", n_colors=max(len(names), 3))
    return dict(zip(names, colours[: len(names)], strict=True))


def _dashes(ds: xr.Dataset) -> dict[str, tuple]:
    # scenarios often coincide (a lever does not touch a variable); distinct dashes keep the
    # lines drawn underneath visible
    patterns = ["", (4, 1.5), (1.5, 1.5), (6, 2, 1.5, 2), (2, 3), (8, 3)]
    return {s: patterns[i % len(patterns)] for i, s in enumerate(_scenarios(ds))}


def _scenario_lines(ax, ds: xr.Dataset, name: str, legend: bool) -> None:
    frame = _long_frame(ds, name)
    sns.lineplot(
        data=frame,
        x="time",
        y="value",
        hue="scenario",
        palette=_palette(ds),
        hue_order=_scenarios(ds),
        style="scenario",
        dashes=_dashes(ds),
        style_order=_scenarios(ds),
        ax=ax,
        legend=legend,
        linewidth=1.6,
        estimator=None,
        errorbar=None,
    )
    ax.set_title(_title(ds[name]), fontsize="medium")
    ax.set_ylabel(_axis_label(ds[name]))
    ax.set_xlabel(_time_label(ds))
    _format_axis(ax, ds[name])


def _hub(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("hub_name") or ds.attrs.get("hub", "")).strip()


def tier_composition(ds: xr.Dataset, scenario: str | None = None) -> Figure:
    """Junior, mid and senior staff as a stacked area over time for one scenario.

    Parameters
    ----------
    ds : xarray.Dataset
        A scenario run with ``junior_staff``, ``mid_staff`` and ``senior_staff``.
    scenario : str, optional
        Which scenario; ``"baseline"`` if present, else the first one.
    """
    _require(ds, TIERS, "tier_composition")
    names = _scenarios(ds)
    if scenario is None:
        scenario = "baseline" if "baseline" in names else names[0]
    elif scenario not in names:
        raise ValueError(f"unknown scenario {scenario!r}; the Dataset has {', '.join(names)}")
    time = ds["time"].values.astype(float)
    layers = [np.asarray(_select(ds[t], scenario).values, dtype=float) for t in TIERS]
    with sns.axes_style(_STYLE), sns.plotting_context(_CONTEXT):
        fig = _new_figure(8.0, 4.8)
        ax = fig.add_subplot()
        colours = sns.color_palette("crest", n_colors=len(TIERS))
        ax.stackplot(
            time,
            *layers,
            labels=[_title(ds[t]) for t in TIERS],
            colors=colours,
            alpha=0.9,
            linewidth=0.4,
            edgecolor="white",
        )
        ax.set_xlim(time[0], time[-1])
        ax.set_ylim(bottom=0)
        ax.set_xlabel(_time_label(ds))
        units = {str(ds[t].attrs.get("units", "")) for t in TIERS}
        ax.set_ylabel(f"Hub staff by tier [{', '.join(sorted(units))}]")
        _format_axis(ax, ds[TIERS[0]])
        hub = _hub(ds)
        ax.set_title(f"Tier composition of hub staff{' in ' + hub if hub else ''}: {scenario}")
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], loc="upper left", frameon=True)
    return fig


def policy_comparison(ds: xr.Dataset, outputs: Sequence[str] | None = None) -> Figure:
    """Small multiples: one panel per key output, one line per scenario.

    Parameters
    ----------
    outputs : list of str, optional
        Variables to draw (default: those of :data:`COMPARISON_OUTPUTS` in the Dataset).
    """
    if outputs is None:
        outputs = [o for o in COMPARISON_OUTPUTS if o in ds.data_vars]
    outputs = list(outputs)
    if not outputs:
        raise ValueError("policy_comparison: none of the outputs to compare is in the Dataset")
    _require(ds, outputs, "policy_comparison")
    ncols = 3 if len(outputs) > 4 else min(len(outputs), 2)
    nrows = int(np.ceil(len(outputs) / ncols))
    with sns.axes_style(_STYLE), sns.plotting_context(_CONTEXT, font_scale=0.8):
        fig = _new_figure(4.2 * ncols, 3.0 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
        for ax, name in zip(axes[: len(outputs)], outputs, strict=True):
            _scenario_lines(ax, ds, name, legend=False)
            ax.set_xlabel("")
        for ax in axes[len(outputs) :]:
            ax.set_visible(False)
        for ax in axes[(nrows - 1) * ncols :]:
            ax.set_xlabel(_time_label(ds))
        palette = _palette(ds)
        dashes = _dashes(ds)
        handles = [
            Line2D(
                [],
                [],
                color=palette[s],
                linewidth=2,
                dashes=dashes[s] if dashes[s] else (None, None),
            )
            for s in _scenarios(ds)
        ]
        fig.legend(
            handles,
            _scenarios(ds),
            loc="outside lower center",
            ncols=min(len(handles), 5),
            frameon=False,
        )
        hub = _hub(ds)
        fig.suptitle(
            f"Policy scenarios{' for ' + hub if hub else ''}: key outputs", fontsize="large"
        )
    return fig


def displacement_and_youth(ds: xr.Dataset) -> Figure:
    """Displaced hub workers and the youth unemployment rate, one line per scenario."""
    names = ["displaced_hub_workers", "youth_unemployment_rate"]
    _require(ds, names, "displacement_and_youth")
    with sns.axes_style(_STYLE), sns.plotting_context(_CONTEXT, font_scale=0.9):
        fig = _new_figure(11.0, 4.4)
        axes = fig.subplots(1, 2, sharex=True)
        for ax, name in zip(axes, names, strict=True):
            _scenario_lines(ax, ds, name, legend=(name == names[-1]))
        legend = axes[-1].get_legend()
        if legend is not None:
            legend.set_title("scenario")
        hub = _hub(ds)
        fig.suptitle(f"Displacement and youth unemployment{' in ' + hub if hub else ''}")
    return fig


#: File stem -> figure function, in the order :func:`save_figures` writes them.
FIGURES: dict[str, Callable[[xr.Dataset], Figure]] = {
    "tier_composition": tier_composition,
    "policy_comparison": policy_comparison,
    "displacement_youth_unemployment": displacement_and_youth,
}


def save_figures(ds: xr.Dataset, folder: str | os.PathLike, prefix: str = "") -> list[Path]:
    """Draw every figure of :data:`FIGURES` and write each as PNG into ``folder``.

    Each file is written under a temporary name and renamed into place, so a reader never
    sees half a PNG. ``prefix`` goes in front of each file name (e.g. ``"krakow_"``).

    Returns
    -------
    list of Path
        The files written, in the order of :data:`FIGURES`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, draw in FIGURES.items():
        fig = draw(ds)
        path = folder / f"{prefix}{stem}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            fig.savefig(tmp, format="png", dpi=_DPI)
            tmp.replace(path)
        finally:
            if tmp.exists():
                tmp.unlink()
        paths.append(path)
    return paths


def fan_chart(
    ens: xr.Dataset,
    outputs: Sequence[str] | None = None,
    bands: Sequence[tuple[float, float]] = ((0.05, 0.95), (0.25, 0.75)),
    dim: str = "sample",
) -> Figure:
    """Monte Carlo fan chart: one panel per output, shaded quantile bands and the median.

    Parameters
    ----------
    ens : xarray.Dataset
        An ensemble with dims ``(sample, time)``, e.g. from ``hubsd.compile_model().run``.
    outputs : list of str, optional
        Variables to draw (default: every data variable, at most nine).
    bands : pairs of quantiles
        Shaded from the widest (lightest) to the narrowest (darkest).
    """
    outputs = list(outputs) if outputs is not None else list(ens.data_vars)[:9]
    _require(ens, outputs, "fan_chart")
    if dim not in ens.dims:
        raise ValueError(f"fan_chart needs an ensemble with a {dim!r} dimension")
    ncols = 3 if len(outputs) > 4 else min(len(outputs), 2)
    nrows = int(np.ceil(len(outputs) / ncols))
    time = ens["time"].values.astype(float)
    colour = sns.color_palette("colorblind")[0]
    with sns.axes_style(_STYLE), sns.plotting_context(_CONTEXT, font_scale=0.8):
        fig = _new_figure(4.2 * ncols, 3.0 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
        for ax, name in zip(axes[: len(outputs)], outputs, strict=True):
            da = ens[name]
            factor, _, _ = _scale(da)
            values = np.asarray(da.transpose(dim, "time").values, dtype=float) / factor
            for i, (lo, hi) in enumerate(sorted(bands, key=lambda b: b[0])):
                ax.fill_between(
                    time,
                    np.nanquantile(values, lo, axis=0),
                    np.nanquantile(values, hi, axis=0),
                    color=colour,
                    alpha=0.2 + 0.2 * i,
                    linewidth=0,
                    label=f"{lo:.0%}-{hi:.0%}",
                )
            ax.plot(time, np.nanmedian(values, axis=0), color=colour, linewidth=1.6, label="median")
            ax.set_title(_title(da), fontsize="medium")
            ax.set_ylabel(_axis_label(da))
            _format_axis(ax, da)
        for ax in axes[len(outputs) :]:
            ax.set_visible(False)
        for ax in axes[(nrows - 1) * ncols :]:
            ax.set_xlabel(_time_label(ens))
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), frameon=False)
        hub = _hub(ens)
        fig.suptitle(
            f"Monte Carlo fan chart ({ens.sizes[dim]} members{', ' + hub if hub else ''})",
            fontsize="large",
        )
    return fig


# -- calibration (hubsd.calibration.calibrate.to_dataset) ------------------------------------


def _fit_series(cal: xr.Dataset) -> list[str]:
    return list(dict.fromkeys(cal["figure_series"].to_numpy().tolist()))


def calibration_fit(cal: xr.Dataset) -> Figure:
    """Each calibrated series: the fitted trajectory (and the holdout fit) against its figures.

    Filled markers are fitted figures, open ones held out; triangles are bounds ("over ...").
    A series about a larger region is drawn as model output divided by the estimated share.
    """
    names = _fit_series(cal)
    ncol = min(3, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig = _new_figure(4.2 * ncol, 3.2 * nrow)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    fits = cal["fit"].to_numpy().tolist()
    with sns.axes_style(_STYLE), sns.plotting_context(_CONTEXT):
        for ax, name in zip(axes, names, strict=False):
            sel = cal["figure_series"] == name
            figs = cal.sel(figure=sel)
            output = str(figs["figure_output"].values[0])
            share = str(figs["figure_share"].values[0])
            factor = float(cal["estimate"].sel(parameter=share)) if share else 1.0
            for k, fit_name in enumerate(fits):
                traj = cal[output].sel(fit=fit_name) / factor
                ax.plot(
                    cal["time"],
                    traj,
                    color="C0",
                    ls="-" if k == 0 else "--",
                    lw=1.6,
                    label=fit_name,
                )
            for held in (False, True):
                for bound, marker in (("", "o"), ("lower", "^"), ("upper", "v")):
                    m = (figs["figure_holdout"] == held) & (figs["figure_bound"] == bound)
                    if not bool(m.any()):
                        continue
                    ax.scatter(
                        figs["figure_year"].values[m],
                        figs["observed"].values[m],
                        marker=marker,
                        s=36,
                        zorder=3,
                        color="C3",
                        facecolors="none" if held else "C3",
                        label=("held out" if held else "fitted")
                        + (f" ({bound} bound)" if bound else ""),
                    )
            years = figs["figure_year"].values
            ax.set_xlim(min(years.min(), cal["time"].values[0]) - 1, max(years.max() + 3, 2030))
            ax.set_title(name + (f" (model / {share})" if share else ""), fontsize=9)
            ax.set_xlabel("Year")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.legend(fontsize=7, frameon=False)
        for ax in axes[len(names) :]:
            ax.set_visible(False)
    return fig


def calibration_residuals(cal: xr.Dataset) -> Figure:
    """Weighted residuals (residual / standard error) of every figure, by year and series."""
    frame = pd.DataFrame(
        {
            "year": cal["figure_year"].values,
            "residual": cal["weighted_residual"].values,
            "series": cal["figure_series"].values,
            "set": np.where(cal["figure_holdout"].values, "held out", "fitted"),
        }
    )
    fig = _new_figure(7.5, 3.6)
    ax = fig.subplots()
    with sns.axes_style(_STYLE), sns.plotting_context(_CONTEXT):
        sns.scatterplot(data=frame, x="year", y="residual", hue="series", style="set", s=60, ax=ax)
        ax.axhline(0, color="0.3", lw=0.8)
        for level in (-2, 2):
            ax.axhline(level, color="0.6", lw=0.8, ls=":")
        ax.set_ylabel("residual / standard error")
        ax.set_xlabel("Year")
        ax.legend(fontsize=7, frameon=False, loc="best")
    return fig


def calibration_profiles(cal: xr.Dataset) -> Figure:
    """Profile of twice the cost rise for each free parameter, with the 95 % threshold."""
    names = cal["parameter"].to_numpy().tolist()
    ncol = min(4, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig = _new_figure(3.3 * ncol, 2.6 * nrow)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    best = float(np.nanmin(cal["profile_cost"]))
    best = min(best, float(cal.attrs.get("cost", best)))
    with sns.axes_style(_STYLE), sns.plotting_context("paper"):
        for ax, name in zip(axes, names, strict=False):
            p = cal.sel(parameter=name)
            rise = 2 * (p["profile_cost"].values - best)
            ax.plot(p["profile_value"].values, rise, marker="o", ms=3, color="C0")
            ax.axhline(3.84, color="C3", ls=":", lw=1)
            ax.axvspan(float(p["low95"]), float(p["high95"]), color="C0", alpha=0.12)
            ax.axvline(float(p["estimate"]), color="0.3", lw=0.8)
            ax.set_ylim(0, max(5.0, min(float(np.nanmax(rise)) * 1.05, 12.0)))
            ax.set_title(f"{name}\n{str(p['flag'].values)}", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in axes[len(names) :]:
            ax.set_visible(False)
    return fig


def calibration_correlation(cal: xr.Dataset) -> Figure:
    """Heat map of the correlation of estimates."""
    corr = cal["correlation"].to_pandas()
    fig = _new_figure(1.0 + 0.75 * len(corr), 0.6 + 0.6 * len(corr))
    ax = fig.subplots()
    with sns.axes_style("white"), sns.plotting_context("paper"):
        sns.heatmap(
            corr,
            vmin=-1,
            vmax=1,
            cmap="vlag",
            annot=True,
            fmt=".2f",
            square=True,
            cbar=False,
            ax=ax,
            annot_kws={"size": 7},
        )
        ax.tick_params(labelsize=7)
    return fig
