"""Diagnose a hub's out-of-sample miss: where the holdout fit goes wrong, and naive benchmarks.

Fits the hub's calibration spec with and without the figures from ``holdout_from`` on
(``hubsd.calibrate(..., intervals=False)``), prints both fits' estimates (marking those at a
bound), the held-out figures year by year (observed, predicted, relative error), and two naive
forecasts made from the same pre-holdout series (a log-linear trend over all earlier years,
and the growth rate of the last four earlier years), and saves a figure and a CSV in
``outputs/oos/`` (not committed).

Usage::

    PYTHONPATH=analysis python scripts/holdout_diagnosis.py telangana [SPEC.yaml] [TAG]
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hubsd.calibration.calibrate import calibrate, point_table  # noqa: E402

hub = sys.argv[1]
spec = sys.argv[2] if len(sys.argv) > 2 else hub
tag = sys.argv[3] if len(sys.argv) > 3 else "base"
out = Path("outputs/oos")
out.mkdir(parents=True, exist_ok=True)

cal = calibrate(spec, intervals=False, holdout=True, progress=False)
print(cal.summary())
free = {f.name: f for f in cal.spec.free}
for label, f in (("all figures", cal.fit), ("before holdout", cal.holdout_fit)):
    print(f"\nestimates, {label}:")
    for name, v in f.estimates.items():
        lo, hi = free[name].low, free[name].high
        at = " (at lower bound)" if np.isclose(v, lo, rtol=1e-3) else ""
        at = " (at upper bound)" if np.isclose(v, hi, rtol=1e-3) else at
        print(f"  {name:40s} {v:12.5g}  [{lo:g}, {hi:g}]{at}")

h = cal.holdout
series = h[h.role == "series"]
print("\nheld-out series figures (holdout fit):")
print(series[["series", "year", "observed", "simulated", "relative_error"]].to_string())
print(f"out-of-sample MAPE: {cal.holdout_series_mape:.4f}")

# naive forecasts from the same pre-holdout series (compared on the index scale of the data)
pts = cal.points
ser = pts[(pts.role == "series") & (pts.output == "total_hub_staff")]
train = ser[~ser.holdout]
test = ser[ser.holdout]
yrs, obs = train.year.to_numpy(float), train.observed.to_numpy(float)
slope, icpt = np.polyfit(yrs, np.log(obs), 1)
trend = np.exp(icpt + slope * test.year.to_numpy(float))
last = train.sort_values("year").tail(4)
g4 = (last.observed.iloc[-1] / last.observed.iloc[0]) ** (
    1 / (last.year.iloc[-1] - last.year.iloc[0])
) - 1
drift = last.observed.iloc[-1] * (1 + g4) ** (test.year.to_numpy(float) - last.year.iloc[-1])
tobs = test.observed.to_numpy(float)
print(
    f"\nnaive log-linear trend {np.exp(slope) - 1:.4f}/yr: MAPE "
    f"{np.mean(np.abs(trend / tobs - 1)):.4f}"
)
print(f"naive last-four-years growth {g4:.4f}/yr: MAPE {np.mean(np.abs(drift / tobs - 1)):.4f}")
for y, o, a, b in zip(test.year, tobs, trend, drift, strict=True):
    print(
        f"  {y:.0f}: observed {o:,.0f}; trend {a:,.0f} ({a / o - 1:+.3f}); "
        f"last-4 {b:,.0f} ({b / o - 1:+.3f})"
    )

ds = cal.to_dataset(final_time=2035)
fig, ax = plt.subplots(1, 2, figsize=(11, 4))
for fitname, fit_, style in (("calibrated", cal.fit, "-"), ("holdout fit", cal.holdout_fit, "--")):
    tab = point_table(fit_, cal.spec.points)
    tab = tab[(tab.role == "series") & (tab.output == "total_hub_staff")]
    s = ds.total_hub_staff.sel(fit=fitname)
    # the model's staff on the scale of the observed series (divided by the share, if any)
    scale = float(
        np.median(tab.simulated.to_numpy(float) / s.interp(time=tab.year.to_numpy(float)).values)
    )
    ax[0].plot(ds.time, s * scale, style, label=fitname)
    gr = np.gradient(np.log(s.values), ds.time.values)
    ax[1].plot(ds.time, gr, style, label=fitname)
ax[0].plot(train.year, train.observed, "ko", label="fitted figures")
ax[0].plot(test.year, test.observed, "ks", mfc="none", label="held out")
obs_all = ser.sort_values("year")
g_obs = np.diff(np.log(obs_all.observed.to_numpy(float))) / np.diff(obs_all.year.to_numpy(float))
ax[1].plot(obs_all.year.to_numpy(float)[1:], g_obs, "ko", label="observed (between figures)")
ax[0].axvline(cal.spec.holdout_from, color="grey", lw=0.8)
ax[1].axvline(cal.spec.holdout_from, color="grey", lw=0.8)
ax[0].set(
    title=f"{hub}: total hub staff (points: data; open = held out)",
    xlim=(2005, 2035),
    ylabel="persons (observed series scale)",
)
ax[1].set(title="growth rate", ylabel="1/year", xlim=(2005, 2035), ylim=(-0.05, 0.35))
ax[0].legend()
ax[1].legend()
fig.tight_layout()
fig.savefig(out / f"{hub}_{tag}_holdout.png", dpi=110)
series.to_csv(out / f"{hub}_{tag}_holdout.csv", index=False)
ds.to_netcdf(out / f"{hub}_{tag}_calibration.nc")
print(f"\nsaved {out}/{hub}_{tag}_holdout.png")
