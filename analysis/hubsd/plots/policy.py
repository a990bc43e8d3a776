"""The figure of robust policy design: the Pareto front, with the recommended mix marked.

Built with matplotlib's object API on an Agg canvas (never ``pyplot``), like
:mod:`hubsd.plots.figures`.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_RECOMMENDED = "#d95f02"
_FRONT = "#1f78b4"


def front_figure(
    table: pd.DataFrame,
    hub: str = "",
    threshold: float | None = None,
    threshold_label: str = "threshold",
) -> Figure:
    """Two panels of a front table (:meth:`hubsd.studies.policy_design.PolicyResult.table`).

    Left: the worst-tenth youth unemployment peak against the mean discounted cost; right: the
    satisficing share against the same cost. The recommended policy is marked, the no-policy
    value is a dashed line where the table's ``attrs["no_policy"]`` gives it.
    """
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    cost = table["discounted_cost_mean"] / 1e6
    rec = table["recommended"].to_numpy(bool)
    none = table.attrs.get("no_policy", {})
    panels = [
        ("youth_unemployment_peak_p90", 100.0, "Youth unemployment peak, worst tenth [%]"),
        ("satisficing_share", 100.0, "Members without failure [%]"),
    ]
    for ax, (col, scale, label) in zip(axes, panels, strict=True):
        y = table[col] * scale
        ax.scatter(cost[~rec], y[~rec], color=_FRONT, s=25, label="Pareto front")
        ax.scatter(
            cost[rec],
            y[rec],
            color=_RECOMMENDED,
            s=80,
            marker="*",
            label="recommended (minimax regret)",
        )
        if col in none:
            ax.axhline(none[col] * scale, color="grey", ls="--", lw=1, label="no policy")
        if col == "youth_unemployment_peak_p90" and threshold is not None:
            ax.axhline(threshold * 100, color="black", ls=":", lw=1, label=threshold_label)
        ax.set_xlabel("Mean discounted programme cost [million EUR]")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(f"Robust policy design{': ' + hub if hub else ''}")
    return fig
