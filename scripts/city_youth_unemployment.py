"""Youth unemployment of each calibrated hub in 2022, 2028 and 2035, baseline and STRESS.

Usage: python scripts/city_youth_unemployment.py krakow@v3 telangana@v3 ...
Prints one line per hub and scenario (the issue-11 city-side before/after table).
"""

import sys

import hubsd
from hubsd.studies import STRESS

YEARS = (2022, 2028, 2035)
OUT = ["youth_unemployment_rate", "Graduate job seekers", "young_graduate_labour_force"]

for hub in sys.argv[1:]:
    for name, params in (("baseline", {}), ("STRESS", STRESS)):
        ds = hubsd.run(hub, params=params, outputs=["youth_unemployment_rate"])
        u = ds.youth_unemployment_rate
        cells = "  ".join(f"{y}: {100 * float(u.sel(time=y)):5.1f} %" for y in YEARS)
        print(f"{hub:14s} {name:8s} {cells}")
