"""Calibration results: as a Dataset, as a calibrated set (``vN.yaml``), as a report folder."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import yaml

from hubsd.calibration.calibrate import Calibration, to_dataset
from hubsd.calibration.spec import CalibrationError
from hubsd.core.atomic import atomic_folder
from hubsd.core.paths import CALIBRATED_DIR
from hubsd.inputs.calibrated import load_calibrated, versions
from hubsd.plots import figures as plots

# -- results as a Dataset, calibrated sets, the report folder -------------------------------------


def _plain(v):
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def calibrated_document(cal: Calibration, version: str) -> dict:
    """The YAML document of a calibrated set (a hub overlay with provenance)."""
    sp, best = cal.spec, cal.fit
    tab = cal.profiles.table if cal.profiles is not None else None
    date = cal.provenance["created"][:10]
    params, shares = {}, {}
    for f in sp.free:
        est = best.estimates[f.name]
        entry = {"value": float(f"{est:.6g}")}
        if tab is not None:
            row = tab.loc[f.name]
            entry.update(
                {
                    "low95": float(f"{row.low95:.6g}"),
                    "high95": float(f"{row.high95:.6g}"),
                    "flag": str(row.flag),
                }
            )
            note = {
                "identified": "identified by the data",
                "one-sided": "bounded by the data on one side only",
                "not identified": "not identified by the data: the value is one point of a "
                "flat ridge and stays a prior",
            }[row.flag]
            entry["source"] = (
                f"Calibrated ({sp.path.name}, {version}, {date}): 95 % profile-"
                f"likelihood interval [{row.low95:.4g}, {row.high95:.4g}] within "
                f"bounds [{f.low:g}, {f.high:g}]; {note}."
            )
        else:
            entry["source"] = f"Calibrated ({sp.path.name}, {version}, {date}); no intervals."
        (shares if f.share else params)[f.name] = entry
    stats_ = {
        k: {c: _plain(v) for c, v in row.items()}
        for k, row in cal.statistics.to_dict(orient="index").items()
    }
    doc = {
        "hub": sp.name,
        "version": version,
        "name": f"{sp.name} calibrated {version}",
        "description": sp.description,
        "parameters": params,
        "shares": shares,
        "fit": {"cost": float(best.cost), "figures": len(sp.points), "statistics": stats_},
        "provenance": json.loads(json.dumps(cal.provenance, default=_plain)),
    }
    if cal.holdout is not None:
        doc["holdout"] = {
            "from_year": float(sp.holdout_from),
            "mape": float(np.mean(np.abs(cal.holdout.relative_error))),
            "series_mape": cal.holdout_series_mape,
            "figures": [
                {
                    "series": r.series,
                    "year": float(r.year),
                    "observed": float(r.observed),
                    "simulated": float(f"{r.simulated:.6g}"),
                    "relative_error": float(f"{r.relative_error:.4g}"),
                }
                for r in cal.holdout.itertuples()
            ],
        }
    return doc


#: Provenance entries that must agree for a refit to be the same set: the model's equations,
#: the spec, the hub file and every data file (by SHA-256).
SAME_INPUTS = ("model_equations_sha256", "spec_sha256", "hub_file_sha256", "data")
#: Entries of each estimated quantity that must agree (its source names the date and version).
SAME_ESTIMATE = ("value", "low95", "high95", "flag")


def _estimates(doc: dict) -> dict:
    return {
        group: {
            name: {k: entry.get(k) for k in SAME_ESTIMATE}
            for name, entry in (doc.get(group) or {}).items()
        }
        for group in ("parameters", "shares")
    }


def identical_version(cal: Calibration, directory: Path | None = None) -> Path | None:
    """The hub's newest calibrated set if ``cal`` would save the same set again, else None.

    The same set: fitted to the same model equations, spec, hub file and data (their SHA-256 in
    the provenance) with the same estimates, 95 % intervals and flags as saved (rounded to six
    significant digits, as :func:`save_calibrated` writes them). ``hubsd calibrate`` then keeps
    the existing version instead of adding an identical one, so notebooks that run
    ``<hub>@calibrated`` keep their outputs.

    Parameters
    ----------
    cal : Calibration
        A calibration (:func:`hubsd.calibration.calibrate.calibrate`).
    directory : path, optional
        Folder of calibrated sets (default ``data/calibrated/``).

    Returns
    -------
    pathlib.Path or None
        The newest ``<hub>/vN.yaml`` when it is the same set; None when the hub has no set yet,
        or the newest differs in an input or an estimate.

    Raises
    ------
    CalibrationError
        The newest set cannot be read (malformed YAML, no ``parameters``).

    Examples
    --------
    >>> same = identical_version(cal)          # after cal = calibrate("krakow")
    >>> same.stem if same else "a new version"
    """
    directory = Path(directory or CALIBRATED_DIR)
    known = versions(cal.spec.hub, directory)
    if not known:
        return None
    newest = load_calibrated(cal.spec.hub, known[-1], directory)
    fresh = yaml.safe_load(yaml.safe_dump(calibrated_document(cal, known[-1]), allow_unicode=True))
    old_prov, new_prov = newest.get("provenance") or {}, fresh["provenance"]
    if any(old_prov.get(k) != new_prov.get(k) for k in SAME_INPUTS):
        return None
    if _estimates(newest) != _estimates(fresh):
        return None
    return Path(newest["file"])


def save_calibrated(cal: Calibration, directory: Path | None = None) -> Path:
    """Save as the hub's next version (``data/calibrated/<hub>/vN.yaml``); never overwrites."""
    directory = Path(directory or CALIBRATED_DIR)
    folder = directory / cal.spec.name
    folder.mkdir(parents=True, exist_ok=True)
    known = versions(cal.spec.name, directory)
    number = int(known[-1][1:]) + 1 if known else 1
    while True:
        version = f"v{number}"
        target = folder / f"{version}.yaml"
        text = yaml.safe_dump(
            calibrated_document(cal, version), sort_keys=False, allow_unicode=True, width=100
        )
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{version}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            try:
                os.link(tmp, target)  # fails if the version appeared meanwhile: no overwrite
            except FileExistsError:
                number += 1
                continue
            return target
        finally:
            Path(tmp).unlink(missing_ok=True)


def check_report_dir(out: str | os.PathLike) -> Path:
    """A report folder may be new, empty, or an earlier report (it is then replaced)."""
    out = Path(out)
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / "report.md").is_file())
    ):
        raise CalibrationError(
            f"{str(out)!r} exists and is not an earlier calibration report; give a new folder"
        )
    return out


def write_report(cal: Calibration, out: str | os.PathLike, figures: bool = True) -> Path:
    """Fit report folder: ``calibration.nc``, ``report.md``, CSV tables and PNG figures.

    Built beside the target and renamed into place, so an interrupted run leaves no
    half-written folder; an existing folder is replaced only if it holds an earlier report.
    """
    out = check_report_dir(out)

    ds = to_dataset(cal)
    with atomic_folder(out) as tmp:
        ds.to_netcdf(tmp / "calibration.nc")
        cal.points.to_csv(tmp / "figures.csv", index=False)
        if cal.profiles is not None:
            cal.profiles.table.to_csv(tmp / "estimates.csv")
            cal.profiles.correlation.to_csv(tmp / "correlation.csv")
        if not cal.statistics.empty:
            cal.statistics.to_csv(tmp / "statistics.csv")
        if cal.holdout is not None:
            cal.holdout.to_csv(tmp / "holdout.csv", index=False)
        if figures:
            for name, fig in (
                ("fit", plots.calibration_fit(ds)),
                ("residuals", plots.calibration_residuals(ds)),
                *(
                    (
                        ("profiles", plots.calibration_profiles(ds)),
                        ("correlation", plots.calibration_correlation(ds)),
                    )
                    if cal.profiles is not None
                    else ()
                ),
            ):
                fig.savefig(tmp / f"{name}.png")
        (tmp / "report.md").write_text(report_markdown(cal, figures), encoding="utf-8")
    return out


def report_markdown(cal: Calibration, figures: bool = True) -> str:
    """The fit report as Markdown."""
    sp, best = cal.spec, cal.fit

    def fmt(v):
        return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"

    lines = [
        f"# Calibration of `{sp.hub}`",
        "",
        sp.description,
        "",
        f"- spec: `{sp.path.name}`; {len(sp.points)} figures, {len(sp.free)} free "
        f"quantities; cost (0.5 x sum of squared weighted residuals) **{best.cost:.4g}**",
        f"- optimiser: {cal.provenance['optimiser']}; {best.evaluations} model evaluations "
        f"in {best.calls} vectorised runs; {cal.seconds:.1f} s in all",
        "- standard errors by kind (relative): "
        + ", ".join(f"{k} {v:g}" for k, v in sp.errors.items()),
        f"- model `{cal.provenance['model']}` sha256 `{cal.provenance['model_sha256'][:12]}`",
    ]
    if sp.dropped:
        lines.append("- left out: " + "; ".join(sp.dropped))
    if not best.converged:
        lines += [
            "",
            "**Warning**: no start met SciPy's convergence tests within its "
            "evaluation budget; the best is reported. Treat the estimates with care.",
        ]
    lines += [
        "",
        "## Local fits",
        "",
        "| start | from | start cost | cost | status | nfev |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for _, r in best.starts.iterrows():
        lines.append(
            f"| {r['start']} | {r['from']} | {fmt(r.start_cost)} | {fmt(r.cost)} "
            f"| {r.status} | {r.nfev} |"
        )
    if cal.profiles is not None:
        lines += [
            "",
            "## Estimates and 95 % intervals (profile likelihood)",
            "",
            "Profile likelihood, not the bootstrap: with a handful of figures per series "
            "a resample of residuals carries no information, while the profile shows "
            "directly how far the data pin a parameter down. `not identified`: the "
            "profile stays under the 95 % threshold over the whole range (the value "
            "stays a prior); `one-sided`: bounded by the data on one side only.",
            "",
            "| parameter | estimate | low 95 | high 95 | bounds | flag |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, r in cal.profiles.table.iterrows():
            lines.append(
                f"| {name} | {fmt(r.estimate)} | {fmt(r.low95)} | {fmt(r.high95)} | "
                f"[{r.bound_low:g}, {r.bound_high:g}] | {r.flag} |"
            )
        if cal.profiles.better is not None:
            lines += [
                "",
                f"**Warning**: a profile point reached cost {cal.profiles.better:.4g}, "
                f"below the fit's {best.cost:.4g}: the multi-start missed a better "
                "optimum; raise `starts` or `screen`.",
            ]
        corr = cal.profiles.correlation
        strong = [
            (a, b, corr.loc[a, b])
            for i, a in enumerate(corr.index)
            for b in corr.index[i + 1 :]
            if abs(corr.loc[a, b]) >= 0.9
        ]
        lines += [
            "",
            "Correlation of estimates (Gauss-Newton, optimiser coordinates); pairs "
            "with |r| >= 0.9: "
            + ("; ".join(f"{a} / {b} {c:+.2f}" for a, b, c in strong) or "none"),
        ]
    if not cal.statistics.empty:
        lines += [
            "",
            "## Fit statistics per series (in-sample and holdout figures, point figures only)",
            "",
            "| series | n | RMSE | MAPE | R² | U_M | U_S | U_C |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, r in cal.statistics.iterrows():
            lines.append(
                f"| {name} | {int(r.n)} | {fmt(r.rmse)} | {fmt(r.mape)} | {fmt(r.r2)} | "
                f"{fmt(r.U_M)} | {fmt(r.U_S)} | {fmt(r.U_C)} |"
            )
        lines += [
            "",
            "R² needs three points; Theil's proportions two; empty cells are undefined, not zero.",
        ]
    lines += [
        "",
        "## Figures",
        "",
        "| series | year | kind | observed | simulated | error | residual/se | holdout |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in cal.points.itertuples():
        kind = r.kind + (f" ({r.bound} bound)" if r.bound else "")
        lines.append(
            f"| {r.series} | {r.year:g} | {kind} | {r.observed:.6g} | "
            f"{r.simulated:.6g} | {r.relative_error:+.1%} | {r.weighted_residual:+.2f} | "
            f"{'yes' if r.holdout else ''} |"
        )
    if cal.holdout is not None:
        h = cal.holdout
        lines += [
            "",
            f"## Out of sample: fitted on figures before {sp.holdout_from:g}",
            "",
            f"Refitted without the {len(h)} figures from {sp.holdout_from:g} on (cost "
            f"{cal.holdout_fit.cost:.4g}); their error: MAPE "
            f"{np.mean(np.abs(h.relative_error)):.1%}, largest "
            f"{np.max(np.abs(h.relative_error)):.1%}.",
            "",
            "| series | year | observed | simulated | error |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in h.itertuples():
            lines.append(
                f"| {r.series} | {r.year:g} | {r.observed:.6g} | {r.simulated:.6g} | "
                f"{r.relative_error:+.1%} |"
            )
    if figures:
        lines += ["", "![fit](fit.png)", "", "![residuals](residuals.png)"]
        if cal.profiles is not None:
            lines += ["", "![profiles](profiles.png)", "", "![correlation](correlation.png)"]
    return "\n".join(lines) + "\n"
