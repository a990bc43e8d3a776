"""Fan charts of an ensemble, redrawn fast in place: the figure of the interactive explorer.

:class:`FanFigure` draws six panels (hub jobs by tier, youth unemployment, first-year business
students, local service jobs, net young migration, cumulative policy cost) of ensemble quantiles
with the baseline's median dashed, optionally with a headline table under them. It renders the
axes once into a background and draws only the fans on top of it while its (round) axis limits
still suit the data (:func:`_keep_limits`), so that a redraw after a slider move takes a few
hundredths of a second. Built
on an Agg canvas, never through ``pyplot`` (see :mod:`hubsd.plots.figures`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox, IdentityTransform
from PIL import Image

#: The three skill tiers, drawn in one panel.
TIERS = ["junior_staff", "mid_staff", "senior_staff"]

#: Panels of the fan figure: (title, outputs, scale, unit label).
PANELS = [
    ("Hub jobs by tier", TIERS, 1e-3, "thousand persons"),
    ("Youth unemployment rate", ["youth_unemployment_rate"], 100.0, "%"),
    ("First-year business students", ["business_first_year_enrolment"], 1e-3, "thousand/year"),
    ("Local service jobs", ["local_service_jobs"], 1e-3, "thousand persons"),
    ("Net young migration", ["net_young_migration"], 1e-3, "thousand/year"),
    ("Cumulative policy cost", ["cumulative_policy_cost"], 1e-6, "million EUR"),
]
_COLOURS = {
    "junior_staff": "#d95f02",
    "mid_staff": "#7570b3",
    "senior_staff": "#1b9e77",
}
_DEFAULT_COLOUR = "#1f78b4"


def _nice_ceiling(x: float) -> float:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten) >= x."""
    if x <= 0:
        return 1.0
    power = 10.0 ** np.floor(np.log10(x))
    for step in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if step * power >= x * (1 - 1e-12):
            return float(step * power)
    return float(10 * power)  # pragma: no cover


def _band(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The outline of a band between two curves (the vertices fill_between draws)."""
    return np.concatenate([np.column_stack([t, lo]), np.column_stack([t[::-1], hi[::-1]])])


def _keep_limits(old: tuple[float, float], lo: float, hi: float) -> tuple[float, float]:
    """The axis limits ``old`` while they still suit data from ``lo`` to ``hi``, else new ones.

    They suit while the data stay inside them and span at least 40 % of them: a slider that
    moves the fans a little does not redraw the axes (the slow part of a redraw).
    """
    span = old[1] - old[0]
    inside = old[0] <= min(lo, 0.0) and max(hi, 0.0) <= old[1]
    if inside and (max(hi, 0.0) - min(lo, 0.0)) >= 0.4 * span:
        return old
    return _limits(lo, hi)


def _limits(lo: float, hi: float) -> tuple[float, float]:
    """Axis limits: 0 or a round negative number below, a round number above."""
    top = _nice_ceiling(hi * 1.04) if hi > 0 else 0.0
    bottom = 0.0 if lo >= 0 else -_nice_ceiling(-lo * 1.04)
    return (bottom, top if top > bottom else bottom + 1.0)


class FanFigure:
    """The explorer's figure, drawn again in place on every change (no new Figure, no pyplot).

    The axes, ticks and labels are rendered once into a background that is reused while the
    axis limits (round numbers) stay the same; a change redraws only the fans on
    top of it, which keeps a redraw to a few hundredths of a second.

    Parameters
    ----------
    table : bool
        Add the headline table under the panels (the static image).
    start : float
        First year shown.
    """

    def __init__(self, table: bool = False, start: float = 2015.0) -> None:
        height = 6.4 + (3.4 if table else 0.0)
        self.fig = Figure(figsize=(12.0, height), dpi=80)
        FigureCanvasAgg(self.fig)
        rows = 3 if table else 2
        grid = self.fig.add_gridspec(
            rows,
            3,
            height_ratios=[1.0] * rows,
            hspace=0.45,
            wspace=0.28,
            left=0.06,
            right=0.98,
            top=1 - 0.9 / height,
            bottom=0.4 / height,
        )
        self.axes = [self.fig.add_subplot(grid[i // 3, i % 3]) for i in range(6)]
        self.table_ax = self.fig.add_subplot(grid[2, :]) if table else None
        self.start = start
        self.title = self.fig.suptitle("", fontsize=10, y=1 - 0.08 / height, va="top")
        self._artists: list = []
        self._length = 0
        self._limits: list[tuple[float, float]] = []
        self._key: tuple | None = None
        self._background = None
        for ax, (title, names, _scale, unit) in zip(self.axes, PANELS, strict=True):
            ax.set_title(title, fontsize=10)
            ax.set_ylabel(unit, fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(True, color="#dddddd", linewidth=0.6)
            ax.axvline(2024, color="#999999", linewidth=0.6, linestyle=":")
            if len(names) > 1:
                for name in names:
                    ax.plot([], [], color=_COLOURS[name], label=name.split("_")[0])
                ax.plot([], [], color="#444444", linestyle="--", label="baseline median")
                ax.legend(fontsize=7, loc="upper left", frameon=False)

    def _panels(self, time, fans, baseline):
        """Per panel: [(name, fans, baseline median)] scaled, and the data's (low, high)."""
        keep = time >= self.start
        panels, limits = [], []
        for _title, names, scale, _unit in PANELS:
            series = [
                (name, fans[name][:, keep] * scale, baseline[name][2, keep] * scale)
                for name in names
            ]
            lo = min(min(q[0].min(), b.min()) for _, q, b in series)
            hi = max(max(q[4].max(), b.max()) for _, q, b in series)
            panels.append(series)
            limits.append((float(lo), float(hi)))
        return time[keep], panels, limits

    def draw(
        self,
        time: np.ndarray,
        fans: Mapping[str, np.ndarray],
        baseline: Mapping[str, np.ndarray],
        title: str,
        table: pd.DataFrame | None = None,
    ) -> None:
        """Draw fans into the figure's canvas.

        Parameters
        ----------
        time : array (T,)
            Years.
        fans : mapping of output name -> array (5, T)
            Quantiles 5, 25, 50, 75 and 95 % of each output of :data:`PANELS`.
        baseline : mapping of output name -> array (5, T)
            The same for the baseline (its median is drawn dashed).
        title : str
            The figure's title.
        table : pandas.DataFrame, optional
            The headline table, drawn under the panels of a figure made with ``table=True``.
        """
        t, panels, extent = self._panels(np.asarray(time, dtype=float), fans, baseline)
        if self._limits:
            limits = [
                _keep_limits(old, lo, hi)
                for old, (lo, hi) in zip(self._limits, extent, strict=True)
            ]
        else:
            limits = [_limits(lo, hi) for lo, hi in extent]
        self._limits = limits
        if len(self._artists) and len(t) != self._length:  # another time axis: new artists
            for artist in self._artists:
                artist.remove()
            self._artists = []
        fresh = not self._artists
        i = 0
        for ax, series in zip(self.axes, panels, strict=True):
            for name, q, base in series:
                if fresh:  # the bands (90 %, 50 %), the median and the baseline's median
                    colour = _COLOURS.get(name, _DEFAULT_COLOUR)
                    self._artists += [
                        ax.fill_between(t, q[0], q[4], color=colour, alpha=0.15, linewidth=0),
                        ax.fill_between(t, q[1], q[3], color=colour, alpha=0.3, linewidth=0),
                        *ax.plot(t, q[2], color=colour, linewidth=1.6),
                        *ax.plot(t, base, color="#444444", linewidth=1.0, linestyle="--"),
                    ]
                else:  # new data into the same artists (faster than drawing new ones)
                    outer, inner, median, base_line = self._artists[i : i + 4]
                    outer.set_verts([_band(t, q[0], q[4])])
                    inner.set_verts([_band(t, q[1], q[3])])
                    median.set_ydata(q[2])
                    base_line.set_ydata(base)
                i += 4
        self._length = len(t)
        with_table = self.table_ax is not None and table is not None
        key = (limits, title, table.to_numpy().tolist() if with_table else None)
        canvas = self.fig.canvas
        # the axes, ticks, title (and table) are the background, drawn again only when the
        # limits or the title change (only the panels whose limits changed, where it can);
        # the fans are drawn on top of it
        if key != self._key or self._background is None:
            for artist in self._artists:
                artist.set_visible(False)
            same = self._key is not None and self._key[1:] == key[1:] and self._length == len(t)
            if not (same and self._redraw_panels(limits, t)):
                for ax, (lo, hi) in zip(self.axes, limits, strict=True):
                    ax.set_ylim(lo, hi)
                    ax.set_xlim(t[0], t[-1])
                self.title.set_text(title)
                if with_table:
                    self._draw_table(table)
                canvas.draw()
            self._key = key
            self._background = canvas.copy_from_bbox(self.fig.bbox)
            for artist in self._artists:
                artist.set_visible(True)
        else:
            canvas.restore_region(self._background)
        for artist in self._artists:
            artist.axes.draw_artist(artist)

    def _redraw_panels(self, limits: list[tuple[float, float]], t: np.ndarray) -> bool:
        """Draw again only the panels whose limits changed (and those their labels touch).

        Each such panel's region (its old and new extent with tick labels) is painted over
        with the figure's colour and the panel drawn into it; a neighbouring panel that the
        region touches is painted over and drawn too. False, having drawn nothing, where the
        region would touch the title or the table (then the whole figure is drawn).
        """
        canvas = self.fig.canvas
        renderer = canvas.get_renderer()
        old = [ax.get_ylim() for ax in self.axes]
        todo = {i for i, (a, b) in enumerate(zip(old, limits, strict=True)) if a != tuple(b)}
        boxes = {i: ax.get_tightbbox(renderer).padded(2) for i, ax in enumerate(self.axes)}
        for i in todo:
            self.axes[i].set_ylim(*limits[i])
            self.axes[i].set_xlim(t[0], t[-1])
            boxes[i] = Bbox.union([boxes[i], self.axes[i].get_tightbbox(renderer).padded(2)])
        grow = set(todo)
        while grow:  # panels whose region touches one painted over are drawn again too
            grow = {j for j in range(len(self.axes)) if j not in todo} & {
                j for j in range(len(self.axes)) for i in todo if boxes[j].overlaps(boxes[i])
            }
            todo |= grow
        fixed = [self.title.get_window_extent(renderer)]
        if self.table_ax is not None:
            fixed.append(self.table_ax.get_tightbbox(renderer))
        if any(b.overlaps(f) for i in todo for b in [boxes[i]] for f in fixed):
            for ax, lim in zip(self.axes, old, strict=True):
                ax.set_ylim(*lim)
            return False
        canvas.restore_region(self._background)
        for i in sorted(todo):
            box = boxes[i]
            paint = Rectangle(
                (box.x0, box.y0),
                box.width,
                box.height,
                transform=IdentityTransform(),
                facecolor=self.fig.get_facecolor(),
                edgecolor="none",
            )
            paint.set_figure(self.fig)
            paint.draw(renderer)
        for i in sorted(todo):
            self.axes[i].draw(renderer)
        return True

    def png(self) -> bytes:
        """The canvas as PNG bytes (fast compression: the explorer redraws on every change)."""
        canvas = self.fig.canvas
        image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def _draw_table(self, frame: pd.DataFrame) -> None:
        ax = self.table_ax
        ax.clear()
        ax.axis("off")
        cells = [[number(v) for v in row] for row in frame.to_numpy()]
        tab = ax.table(
            cellText=cells,
            rowLabels=list(frame.index),
            colLabels=list(frame.columns),
            loc="center right",
            cellLoc="right",
            colWidths=[0.1] * len(frame.columns),
        )
        tab.auto_set_font_size(False)
        tab.set_fontsize(8)
        tab.scale(1.0, 1.15)
        ax.set_title(
            "Headline numbers: medians over members; change: median (5 %, 95 %) of the members' "
            "own changes against the baseline",
            fontsize=9,
        )


def number(x: float) -> str:
    """A headline number for display: thousands separated, three significant digits."""
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"
