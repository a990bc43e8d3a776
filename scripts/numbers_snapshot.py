"""Record the numbers the package produces, or compare two records: for refactors.

    python scripts/numbers_snapshot.py record DIR      # scenario runs, ensemble, Sobol, Morris,
                                                        # validation table, a Kraków calibration
    python scripts/numbers_snapshot.py compare OLD NEW  # max |difference| per variable

A refactor that changes no behaviour shows 0 everywhere (the restructure of issue 10 did:
every NetCDF variable, the validation table and the calibration bit for bit).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

HUBS = ["krakow", "telangana", "manila", "krakow@calibrated", "telangana@calibrated", "manila@calibrated"]


def record(out: Path) -> None:
    import hubsd
    from hubsd.studies import lhs_parameters, sensitivity

    warnings.simplefilter("ignore")
    out.mkdir(parents=True, exist_ok=True)
    for hub in HUBS:
        hubsd.run_scenarios(hub).to_netcdf(out / f"scen_{hub}.nc")
        hubsd.run(hub, params={"automatable_junior_share": 0.9}).to_netcdf(out / f"run_{hub}.nc")
    X = lhs_parameters(300, seed=3, hub="krakow@calibrated")
    hubsd.run_ensemble("krakow@calibrated", X, list(hubsd.KEY_OUTPUTS)).to_netcdf(out / "ens.nc")
    sensitivity.sobol(["total_hub_staff@2035"], n=64).to_netcdf(out / "sobol.nc")
    sensitivity.morris(["total_hub_staff@2035"], trajectories=10).to_netcdf(out / "morris.nc")
    hubsd.validate_model("krakow", lhs_samples=40).table.to_csv(out / "validation.csv", index=False)
    cal = hubsd.calibrate("krakow", intervals=False)
    (out / "cal.json").write_text(json.dumps({"est": cal.fit.estimates, "cost": cal.fit.cost},
                                             indent=1, default=float))
    cal.points.to_csv(out / "cal_points.csv", index=False)


def compare(a: Path, b: Path) -> int:
    worst, differ = 0.0, False
    for f in sorted(a.glob("*.nc")):
        x, y = xr.open_dataset(f), xr.open_dataset(b / f.name)
        if set(x.data_vars) != set(y.data_vars):
            print(f"{f.name}: variables differ")
            differ = True
            continue
        here = 0.0
        for v in x.data_vars:
            if x[v].dtype.kind in "fiu" and x[v].size:
                d = float(np.nanmax(np.abs(x[v].values - y[v].values)))
                nan_same = bool((np.isnan(x[v].values.astype(float))
                                 == np.isnan(y[v].values.astype(float))).all())
                here = max(here, d)
                differ |= d != 0 or not nan_same
        worst = max(worst, here)
        print(f"{f.name}: {len(x.data_vars)} variables, max |diff| = {here:g}")
    for f in ("validation.csv", "cal_points.csv"):
        same = pd.read_csv(a / f).equals(pd.read_csv(b / f))
        differ |= not same
        print(f"{f}: {'identical' if same else 'DIFFERENT'}")
    same = json.loads((a / "cal.json").read_text()) == json.loads((b / "cal.json").read_text())
    differ |= not same
    print(f"cal.json: {'identical' if same else 'DIFFERENT'}")
    print(f"largest difference in any NetCDF result: {worst:g}")
    return int(differ)


if __name__ == "__main__":
    if sys.argv[1:2] == ["record"] and len(sys.argv) == 3:
        record(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 4:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
