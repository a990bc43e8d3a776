"""The battery's result: one row per check, as a table, Markdown, CSV and a Dataset."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.engine.pysd_runner import save
from hubsd.validation.figures import FIGURE_TITLES, FIGURES
from hubsd.validation.settings import FAIL, OPS, PASS, REFERENCE_DIVISOR, SKIPPED

# --------------------------------------------------------------------------------------------
# rows


def make_row(
    group,
    check,
    tests,
    measure="",
    figure=np.nan,
    op=None,
    limit=None,
    details="",
    ok=True,
    status=None,
) -> dict:
    """One row; without ``status`` it passes when ``figure op limit`` holds and ``ok``."""
    figure = float(figure) if figure is not None else np.nan
    if status is None:
        holds = op is not None and np.isfinite(figure) and bool(OPS[op](figure, limit))
        status = PASS if holds and ok else FAIL
    threshold = f"{op} {limit:g}" if op is not None else ""
    return {
        "check": check,
        "group": group,
        "tests": tests,
        "status": status,
        "figure": figure,
        "threshold": threshold,
        "measure": measure,
        "details": details,
    }


def skipped_row(group, check, tests, reason) -> dict:
    """A skipped row, with the reason in its details."""
    return make_row(group, check, tests, details=reason, status=SKIPPED)


def could_not_run_rows(exc: BaseException, names) -> list[dict]:
    """Failed rows for a group of checks that could not run, naming the error."""
    why = f"the check could not run: {type(exc).__name__}: {' '.join(str(exc).split())}"
    return [make_row(g, c, t, details=why, status=FAIL) for g, c, t in names]


def format_figure(x: float, floor: float | None = None, digits: int = 3) -> str:
    """A figure as text: ``-`` when none, whole numbers as such, else ``digits`` digits.

    ``digits`` are significant digits; with ``floor``, magnitudes below it are written as
    ``< floor`` (round-off, stable text).
    """
    if x is None or not np.isfinite(x):
        return "-" if x is None or np.isnan(x) else str(x)
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x)}"
    if floor is not None and abs(x) < floor:
        return f"< {floor:g}"
    return f"{x:.{digits}g}"


# --------------------------------------------------------------------------------------------
# the report


@dataclass
class ValidationReport:
    """Results of :func:`validate_model`: ``table`` (one row per check) and ``data`` (figures).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per check: ``check``, ``group``, ``tests``, ``status`` (pass, fail, skipped),
        ``figure`` (the number measured), ``threshold``, ``measure`` (what the figure is,
        with its units where it has any) and ``details`` (for a failure: variable, run, time).
    data : xarray.Dataset
        The data behind the figures (integration error, conservation, Latin-hypercube
        envelope, extreme conditions), along ``time`` in the model's time unit (Year for
        ``models/hub.mdl``).
    model : Path
        The model file validated.
    hub : str or None
        The hub whose values the runs used (None: the model's defaults).
    checks : Path or None
        The reality-check file used.
    samples, seed : int
        Size and seed of the Latin hypercube.
    wall_time : float
        Wall time of the battery [s].
    info : dict
        Model hash, hubsd version, creation time, TIME STEP [Year], scenarios run.

    Examples
    --------
    >>> report = validate_model("krakow")
    >>> report.passed                 # True when no row failed
    >>> report.failed[["check", "details"]]
    >>> report.summary()              # the table with rounded figures, for notebooks
    """

    table: pd.DataFrame
    data: xr.Dataset
    model: Path
    hub: str | None
    checks: Path | None
    samples: int
    seed: int
    wall_time: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no check failed (skipped checks do not fail)."""
        return not (self.table["status"] == FAIL).any()

    @property
    def failed(self) -> pd.DataFrame:
        """The rows of the checks that failed."""
        return self.table[self.table["status"] == FAIL]

    def counts(self) -> dict[str, int]:
        """Number of checks by status (pass, fail, skipped)."""
        return {s: int((self.table["status"] == s).sum()) for s in (PASS, FAIL, SKIPPED)}

    def verdict(self) -> str:
        """One sentence: how many checks fail, or that all pass (and how many were skipped)."""
        c = self.counts()
        n = len(self.table)
        skipped = f" ({c[SKIPPED]} skipped)" if c[SKIPPED] else ""
        if c[FAIL]:
            return f"{c[FAIL]} of {n} checks FAIL{skipped}."
        return f"All {n - c[SKIPPED]} checks pass{skipped}."

    def title(self) -> str:
        """The report's title: model file, hub and Latin hypercube size and seed."""
        hub = f"hub {self.hub}" if self.hub else "model defaults"
        return (
            f"Validation of {self.model.name} ({hub}; {self.samples} Latin hypercube "
            f"samples, seed {self.seed})"
        )

    def summary(self, digits: int = 2, floor: float | None = 1e-12) -> pd.DataFrame:
        """The table with figures as rounded text (stable output for notebooks)."""
        out = self.table[["check", "status", "figure", "threshold", "measure"]].copy()
        out["figure"] = [format_figure(x, floor, digits) for x in out["figure"]]
        return out.set_index("check")

    def format_table(self) -> str:
        """The table as aligned text, then the details of every row that did not pass."""
        headers = ["check", "status", "figure", "threshold", "measure"]
        cells = [
            [
                r.check,
                r.status.upper() if r.status == FAIL else r.status,
                format_figure(r.figure),
                r.threshold,
                r.measure,
            ]
            for r in self.table.itertuples()
        ]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

        def fmt(parts):
            return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

        lines = [self.title(), fmt(headers), "  ".join("-" * w for w in widths)]
        lines += [fmt(c) for c in cells]
        notes = [r for r in self.table.itertuples() if r.status != PASS]
        if notes:
            lines.append("")
        for r in notes:
            lines.append(f"{r.status.upper()} {r.check}: {' '.join(str(r.details).split())}")
        lines += ["", self.verdict()]
        return "\n".join(lines)

    def to_markdown(
        self, figures: dict[str, str] | None = None, files: list[str] | None = None
    ) -> str:
        """A readable report: the table with details, then the figures (``name -> file``)."""

        def cell(text) -> str:
            return " ".join(str(text).split()).replace("|", "\\|")

        i = self.info
        lines = [
            f"# {self.title()}",
            "",
            f"**{self.verdict()}**",
            "",
            f"- model: `{self.model}` (sha256 `{i.get('model_sha256', '')[:16]}`)",
            f"- hub: {self.hub or 'none (the model defaults)'}",
            f"- reality checks: `{self.checks}`"
            if self.checks
            else "- reality checks: none (no checks file beside the model)",
            f"- Latin hypercube: {self.samples} samples over {i.get('lhs_parameters', 0)} "
            f"parameters, seed {self.seed}",
            f"- TIME STEP {i.get('time_step', float('nan')):g}, compared with "
            f"TIME STEP / 2 and / {REFERENCE_DIVISOR}",
            f"- hubsd {i.get('hubsd_version', '')}, {i.get('created', '')}, wall time "
            f"{self.wall_time:.1f} s",
            "",
            "| check | tests | status | figure | threshold | measure | details |",
            "| --- | --- | --- | ---: | --- | --- | --- |",
        ]
        for r in self.table.itertuples():
            status = f"**{r.status.upper()}**" if r.status == FAIL else r.status
            lines.append(
                f"| {cell(r.check)} | {cell(r.tests)} | {status} | "
                f"{format_figure(r.figure)} | {cell(r.threshold)} | {cell(r.measure)} "
                f"| {cell(r.details)} |"
            )
        if figures:
            lines += ["", "## Figures", ""]
            for name, path in figures.items():
                lines += [f"### {FIGURE_TITLES.get(name, name)}", "", f"![{name}]({path})", ""]
        if files:
            lines += ["", "## Files", ""] + [f"- `{f}`" for f in files]
        return "\n".join(lines).rstrip() + "\n"

    def to_dataset(self) -> xr.Dataset:
        """The table and the figures' data as one xarray Dataset (same as :meth:`dataset`)."""
        return self.dataset()

    def dataset(self) -> xr.Dataset:
        """``data`` plus the table along a ``check`` dimension (for NetCDF)."""
        ds = self.data.copy()
        index = pd.Index(list(self.table["check"]), name="check")
        for col in ("group", "tests", "status", "threshold", "measure", "details"):
            ds[f"check_{col}"] = xr.DataArray(
                self.table[col].astype(str).to_numpy(), coords={"check": index}, dims="check"
            )
        ds["check_figure"] = xr.DataArray(
            self.table["figure"].to_numpy(float), coords={"check": index}, dims="check"
        )
        ds.attrs.update(
            {
                k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
                for k, v in self.info.items()
                if v is not None
            }
        )
        ds.attrs.update(
            {
                "title": self.title(),
                "verdict": self.verdict(),
                "model_file": str(self.model),
                "hub": self.hub or "model defaults",
                "checks_file": str(self.checks or ""),
                "lhs_samples": self.samples,
                "lhs_seed": self.seed,
                "wall_time_s": round(self.wall_time, 2),
            }
        )
        return ds

    def figures(self) -> dict:
        """The report's figures (matplotlib Figures) by name; those without data are left out."""
        out = {}
        for name, draw in FIGURES.items():
            fig = draw(self.data)
            if fig is not None:
                out[name] = fig
        return out

    def write(self, folder) -> list[Path]:
        """Write the Markdown report, CSV, NetCDF and PNG figures; return the files written.

        ``validation.md``, ``validation.csv``, ``validation.nc`` and one PNG per figure go into
        ``folder``, which must exist (``hubsd validate`` passes a temporary folder that it
        renames into place).
        """
        folder = Path(folder)
        files = []
        figs = {}
        for name, fig in self.figures().items():
            path = folder / f"{name}.png"
            fig.savefig(path, format="png")
            figs[name] = path.name
            files.append(path)
        csv = folder / "validation.csv"
        self.table.to_csv(csv, index=False, float_format="%.6g")
        files.append(csv)
        files.append(save(self.dataset(), folder / "validation.nc"))
        md = folder / "validation.md"
        names = [p.name for p in files]
        md.write_text(self.to_markdown(figs, names), encoding="utf-8")
        return [md, *files]
