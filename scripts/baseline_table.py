"""The calibrated no-new-AI baselines of every hub, with their uncertainty: issue 11's table.

    python scripts/baseline_table.py [--members 500] [--seed 0] [--out outputs/baseline_table]

For every hub with a calibrated set (its newest), the baseline (AI as fitted, no policy, no new
shock) run for a joint ensemble drawn by :func:`hubsd.studies.draw_ensemble` (the calibrated
parameters from their posterior given the hub's data, every other uncertain prior over its
sourced range, priors the history speaks to held): hub jobs at 2024, 2030, 2035 and 2045 as the
median with the 5-95 % band, the largest number of displaced hub workers, youth unemployment
2024 -> 2035 (median), the industry's own forecasts of the spec against the calibrated
baseline (the battery's ``forecast band`` row) and the out-of-sample error of the calibrated
set (fit before 2022, predict 2022-2025). Prints a Markdown table and writes it with a CSV and
the ensemble quantiles as NetCDF into ``--out``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd
import xarray as xr

import hubsd
from hubsd.calibration.calibrate import forecast_band
from hubsd.inputs.calibrated import load_calibrated, versions
from hubsd.studies import draw_ensemble

YEARS = (2024, 2030, 2035, 2045)
OUTPUTS = ["total_hub_staff", "displaced_hub_workers", "youth_unemployment_rate"]


def hub_rows(hub: str, members: int, seed: int) -> tuple[dict, xr.Dataset]:
    """One hub's row of the table and the quantiles behind it."""
    doc = load_calibrated(hub, "latest")
    name = f"{hub}@{doc['version']}"
    draws = draw_ensemble(name, members, seed=seed)
    ds = hubsd.run_ensemble(name, draws, OUTPUTS)
    yearly = ds.sel(time=[float(y) for y in range(2005, 2046)])
    q = yearly.quantile([0.05, 0.5, 0.95], dim="sample")
    jobs = q["total_hub_staff"]
    row = {"hub": name, "members": members}
    for y in YEARS:
        lo, mid, hi = (float(jobs.sel(quantile=k, time=float(y))) for k in (0.05, 0.5, 0.95))
        row[f"jobs {y}"] = f"{mid:,.0f} [{lo:,.0f}-{hi:,.0f}]"
    disp = ds["displaced_hub_workers"].max("time")
    row["displaced, max (median [90 %])"] = (
        f"{float(disp.median()):,.0f} [{float(disp.quantile(0.05)):,.0f}-"
        f"{float(disp.quantile(0.95)):,.0f}]"
    )
    yu = q["youth_unemployment_rate"].sel(quantile=0.5)
    row["youth unemployment 2024 -> 2035"] = (
        f"{float(yu.sel(time=2024.0)):.1%} -> {float(yu.sel(time=2035.0)):.1%}"
    )
    band = forecast_band(name)
    row["forecast band"] = "-" if band is None else f"{band['status']}: {band['details']}"
    hold = doc.get("holdout") or {}
    row["out-of-sample MAPE"] = (
        f"{hold['series_mape']:.1%}" if hold.get("series_mape") is not None else "-"
    )
    q = q.assign_coords(hub=name).expand_dims("hub")
    return row, q


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--hub", action="append", help="only these hubs (default: every calibrated hub)"
    )
    ap.add_argument("--out", type=Path, default=Path("outputs/baseline_table"))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    hubs = args.hub or [h for h in hubsd.available_hubs() if versions(h)]
    rows, qs = [], []
    for hub in hubs:
        row, q = hub_rows(hub, args.members, args.seed)
        rows.append(row)
        qs.append(q.drop_vars([c for c in q.coords if c not in ("quantile", "time", "hub")]))
        print(f"{hub}: done", flush=True)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "baseline_table.csv", index=False)
    cols = list(table.columns)
    text = "\n".join(
        ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        + ["| " + " | ".join(str(v) for v in r) + " |" for r in table.itertuples(index=False)]
    )
    (args.out / "baseline_table.md").write_text(text + "\n", encoding="utf-8")
    merged = xr.concat(qs, dim="hub")
    merged.attrs.update(
        members=args.members,
        seed=args.seed,
        method="hubsd.studies.draw_ensemble (joint posterior + priors), baseline, no policy",
    )
    for v in merged.data_vars:
        merged[v].attrs["units"] = {"youth_unemployment_rate": "Dmnl"}.get(v, "Person")
    merged.to_netcdf(args.out / "baseline_quantiles.nc")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
