"""Write notebooks/02_calibration.ipynb (unexecuted); execute it with papermill afterwards."""

from pathlib import Path

import nbformat as nbf

cells = []


def md(text):
    cells.append(nbf.v4.new_markdown_cell(text.strip()))


def code(text, tags=None):
    cell = nbf.v4.new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = tags
    cells.append(cell)


md("""
# 02 · Calibration

Fit a hub's growth path to the public figures it has, say how sure the fit is, and test it on
years it has not seen. Everything runs through `hubsd.calibrate` (`hubsd.calibration`) (the same code as
`hubsd calibrate --hub NAME`); the spec, with the free parameters, the series and the assumed
error of each kind of figure, is `data/calibration/<hub>.yaml`.

* **Objective**: relative residuals, each divided by the standard error of its kind of figure
  (observed 5 %, approximate 15 %, forecast 10 %: assumptions stated in the spec), so series of
  different scale weigh by how well they are measured. Bounds ("over 50,000") cost only when
  crossed.
* **Optimiser**: `scipy.optimize.least_squares` from the best points of a Latin-hypercube screen
  and from the hub's own values; the starts run side by side through the ensemble engine.
* **Intervals**: profile likelihood (each parameter fixed on a grid, the others re-fitted), 95 %
  where twice the cost rises by less than 3.84. Chosen over the bootstrap because a series of
  three figures cannot be resampled meaningfully. A profile that stays flat to a bound is the
  data saying nothing: the parameter is flagged and stays a prior.

Headless: `papermill 02_calibration.ipynb out.ipynb -p hub manila -p starts 6`.
""")
code(
    """
# parameters: cheap defaults, run by the test suite; papermill overrides them, and
# `hubsd pipeline` runs Kraków, 10 free parameters, with hubsd.workflows.pipeline.PIPELINE_02
hub = "vilnius"  # the smallest spec: 5 free quantities
starts = 2  # local fits (the spec's own number is used by `hubsd calibrate`)
profile_points = 5  # grid points per profile
seed = 1
recovery_seed = 3  # noise of the synthetic data in the recovery test
output_dir = "outputs"
""",
    ["parameters"],
)
code("""
%matplotlib inline
import dataclasses
from pathlib import Path

import pandas as pd

from hubsd.calibration.calibrate import calibrate, recovery, to_dataset
from hubsd.calibration.spec import load_spec
from hubsd.inputs.hubs import describe
from hubsd.plots import figures as plots

pd.set_option("display.width", 120)
print(describe(hub))  # the fit starts from the hub file's values
spec = dataclasses.replace(load_spec(hub), seed=seed)
print(spec.description)
print(f"{len(spec.points)} figures, {len(spec.free)} free; left out: {spec.dropped or 'none'}")
pd.DataFrame([{"series": p.label, "year": int(p.year), "value": p.value, "kind": p.kind,
               "bound": p.bound, "sigma": p.sigma, "holdout": p.holdout}
              for p in spec.points])
""")
md("""
## Fit and intervals
""")
code("""
result = calibrate(spec, starts=starts, profile_points=profile_points)
print(f"cost {result.fit.cost:.3f} from {len(result.fit.starts)} starts; "
      f"all converged: {bool((result.fit.starts.status > 0).all())}")
result.profiles.table[["estimate", "low95", "high95", "bound_low", "bound_high", "flag"]] \\
    .map(lambda v: float(f"{v:.3g}") if isinstance(v, float) else v)
""")
code("""
ds = to_dataset(result)
plots.calibration_fit(ds)
""")
code("""
plots.calibration_profiles(ds)
""")
md("""
Strong correlations show which parameters trade off against each other: a ridge the data cannot
resolve.
""")
code("""
plots.calibration_correlation(ds)
""")
md("""
## Fit statistics

Per series, over its point figures (bounds excluded): RMSE in the series' unit, MAPE as a
fraction, R² (three points or more) and Theil's inequality proportions (bias `U_M`, unequal
variation `U_S`, unequal covariation `U_C`; two points or more).
""")
code("""
result.statistics.round(3)
""")
code("""
plots.calibration_residuals(ds)
""")
md("""
## Out of sample

The same fit without the figures from the spec's `holdout_from` year on; the error on those
held-out figures:
""")
code("""
h = result.holdout[["series", "year", "observed", "simulated", "relative_error"]].copy()
h["simulated"] = h.simulated.round(-2)
h["relative_error"] = h.relative_error.round(2)
print(f"holdout from {spec.holdout_from:g}: MAPE {h.relative_error.abs().mean():.2f}")
h
""")
md("""
## Recovery test

Synthetic figures made by the model from known parameters (the middle of each range) plus noise
of each figure's standard error, at exactly the real data's years and kinds; a sound calibration
puts the truth inside its intervals, and flags the same parameters as unidentified.
""")
code("""
rec = recovery(spec, seed=recovery_seed, starts=starts, profile_points=profile_points)
print(f"truth inside the 95 % interval for {int(rec.covered.sum())} of {len(rec)} parameters")
# an unidentified parameter's estimate is an arbitrary point of a flat ridge: not shown
rec["estimate"] = rec.estimate.where(rec.flag != "not identified")
rec[["truth", "estimate", "low95", "high95", "flag", "covered"]] \\
    .map(lambda v: float(f"{v:.3g}") if isinstance(v, float) else v)
""")
md("""
The results (trajectories, figures, estimates, profiles, statistics) as one NetCDF:
""")
code("""
path = Path(output_dir) / f"02_calibration_{hub}.nc"
path.parent.mkdir(parents=True, exist_ok=True)
ds.to_netcdf(path)
print(f"saved {path.name}: dims {dict(ds.sizes)}")
""")
md("""
`hubsd calibrate --hub NAME` runs the same with the spec's own starts and saves the result as a
versioned calibrated set (`data/calibrated/<hub>/vN.yaml`), which `hubsd run --hub
NAME@calibrated` runs.
""")

nb = nbf.v4.new_notebook(cells=cells)
# the kernel registered by the README's one-liner; nbval and hubsd's papermill runs use the
# current Python whatever this names (hubsd.workflows.kernels)
nb.metadata["kernelspec"] = {
    "name": "hubsd",
    "display_name": "Python (hubsd)",
    "language": "python",
}
nb.metadata["language_info"] = {"name": "python"}
out = Path(__file__).resolve().parents[1] / "notebooks" / "02_calibration.ipynb"
nbf.write(nb, out)
print(out)
