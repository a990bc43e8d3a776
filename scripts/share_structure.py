"""Compare the structures of the hub's share of its national sector (B9) on the data.

The model's share moves toward a long-run value either over a fitted adjustment time (the
default, ``share_paced_by_national_growth`` = 0) or at the pace of the national sector's growth
(= 1: the hub takes a marginal share m of the country's new work, d share/dt = (m - share) x
growth; the adjustment time is then unused and not fitted); a third fit holds the share at its
initial value (ratio 1; neither ratio nor time fitted). For each hub whose spec frees the
share (Hyderabad, Bengaluru, Metro Manila by default) this fits the hub's calibration spec each
way, with the out-of-sample test (fit before the spec's ``holdout_from``), and prints per
structure: the cost (0.5 x the weighted sum of squared residuals), the number of free
parameters, AIC = 2 k + 2 cost (Gaussian errors with the spec's standard errors), the
out-of-sample MAPE of the observed series, the fitted long-run (marginal) share and the share
of the national sector's new staff the fitted hub takes over FY2014-2023, to set beside the
published figure for Telangana (27.6 % of India's net new IT-BPM jobs FY2014-23, Mission
Telangana, June 2023; data/observed/hub_share_evidence.csv). That figure is computed from the
same two series the fit uses, so it is a check, not a target.

Writes ``outputs/share_structure/comparison.csv`` (not committed). Takes about 1-2 min per hub
on 2 cores.

Usage::

    PYTHONPATH=analysis python scripts/share_structure.py [HUB ...]
"""

import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

import hubsd
from hubsd.calibration.calibrate import calibrate
from hubsd.calibration.spec import load_spec
from hubsd.core.paths import OUTPUTS_DIR
from hubsd.core.yamlio import read_yaml
from hubsd.inputs.hubs import HubError, hub_file
from hubsd.model.parameters import table as parameter_table

SWITCH = "share_paced_by_national_growth"
TIME = "hub_share_adjustment_time"
RATIO = "long_run_hub_share_ratio"
#: the default (first-order closure over a fitted time), the marginal share paced by national
#: growth, and the share held at its initial value (ratio 1, neither ratio nor time fitted)
STRUCTURES = ("fitted adjustment time", "paced by national growth", "share held constant")
EVIDENCE = {"telangana": (0.276, "27.6 % of India's net new IT-BPM jobs FY2014-23")}


def paced_hub_file(hub: str, folder: Path) -> Path:
    """The hub's file with the switch set to 1 (the share paced by national growth)."""
    doc = read_yaml(hub_file(hub), HubError)
    doc["parameters"][SWITCH] = {
        "value": 1,
        "source": "Assumption: the alternative B9 structure (scripts/share_structure.py)",
    }
    path = folder / f"{hub}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def marginal_share(hub, params: dict, first=2014, last=2023) -> float:
    """Share of the national sector's new staff the hub takes between two years."""
    ds = hubsd.run(hub, params, ["total_hub_staff", "national_sector_staff"])
    d_hub = float(ds.total_hub_staff.sel(time=last) - ds.total_hub_staff.sel(time=first))
    nat = ds.national_sector_staff
    return d_hub / float(nat.sel(time=last) - nat.sel(time=first))


def compare(hub: str, folder: Path) -> list[dict]:
    """Fit one hub each way (STRUCTURES); one row per structure."""
    rows = []
    for label in STRUCTURES:
        if label == "paced by national growth":
            run_hub = paced_hub_file(hub, folder)
            spec = load_spec(hub, hub=str(run_hub))
            spec.free = [f for f in spec.free if f.name != TIME]
        else:
            spec, run_hub = load_spec(hub), hub
        ratio = [f for f in spec.free if f.name == RATIO]
        if not ratio:
            raise SystemExit(f"{hub}: its spec does not free the share ({RATIO})")
        # both moving structures get the parameter table's whole range for the ratio, so that
        # neither is held back by a spec bound chosen for the other (the marginal share m = s0 x
        # ratio of Telangana is about 0.25-0.67 of India's new jobs, a ratio up to about 10)
        ratio[0].high = max(ratio[0].high, float(parameter_table().loc[RATIO, "high"]))
        if label == "share held constant":
            spec.free = [f for f in spec.free if f.name not in (RATIO, TIME)]
        cal = calibrate(spec, intervals=False, holdout=True, progress=False)
        est = cal.fit.estimates
        s0 = est.get("initial_hub_share_of_national_sector")
        k = len(spec.free)
        row = {
            "hub": hub,
            "structure": label,
            "free": k,
            "cost": cal.fit.cost,
            "aic": 2 * k + 2 * cal.fit.cost,
            "oos_series_mape": cal.holdout_series_mape,
            "initial_share": s0,
            "ratio_high": ratio[0].high,
            "long_run_share": None if s0 is None else s0 * est.get(RATIO, 1.0),
            "adjustment_time": est.get(TIME),
            "marginal_share_2014_2023": marginal_share(run_hub, est),
        }
        if hub in EVIDENCE:
            row["published_marginal_share"] = EVIDENCE[hub][0]
        rows.append(row)
        print(f"{hub}, {label}: cost {row['cost']:.3f}, OOS {row['oos_series_mape']:.1%}")
    return rows


def main(hubs: list[str]) -> pd.DataFrame:
    out = OUTPUTS_DIR / "share_structure"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for hub in hubs for row in compare(hub, Path(tmp))]
    table = pd.DataFrame(rows)
    table["delta_aic"] = table.aic - table.groupby("hub").aic.transform("first")
    table.to_csv(out / "comparison.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return table


if __name__ == "__main__":
    main(sys.argv[1:] or ["telangana", "bangalore", "manila"])
