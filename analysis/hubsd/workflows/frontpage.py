"""The report's front page: findings first, then the claims ledger and the notebooks.

:func:`front_page` builds ``index.html`` of :func:`hubsd.workflows.report.build_report` from a
pipeline folder (``hubsd pipeline``): for every hub run in ``runs/<hub>/`` its headline table
(each policy against the baseline: hub jobs by tier and year, youth unemployment, young
migration, cost), its figures, and the quality of the calibrated set it ran (fit statistics and
holdout errors of ``data/calibrated/<hub>/vN.yaml``); the claims ledger
(``claims/claims.csv``) where one exists; the robust policy design of each calibrated hub
(``policy/<hub>/``: front, recommended mix, where it still fails) where one exists; and the
notebooks with their summaries rendered from
Markdown. Everything is embedded (figures as base64 PNG, styles inline): the page can be mailed
or published as it is.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.errors import HubsdError
from hubsd.inputs.calibrated import load_calibrated
from hubsd.workflows.policyrun import MANIFEST as POLICY_MANIFEST

#: Scenario years of the headline table.
YEARS = (2035, 2045)
#: Figures of a run folder, in the order shown, with a caption.
FIGURES = {
    "policy_comparison": "Each policy lever and their mix against the baseline",
    "tier_composition": "Hub jobs by tier (baseline)",
    "displacement_youth_unemployment": "Displaced hub workers and youth unemployment",
}

#: Columns of the claims ledger shown (the CSV has more: quantiles, data, scenario discovery).
CLAIM_COLUMNS = ["claim_id", "hub", "scenario", "statement", "p_holds", "q50", "verdict"]

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:70em;margin:1.5em auto;
 padding:0 1em;line-height:1.45;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{margin-bottom:.3em} .meta{color:#666;font-size:.9em}
table.data{border-collapse:collapse;font-size:.85em;margin:.6em 0}
table.data th,table.data td{border:1px solid #ccc;padding:.25em .55em;text-align:left;
 vertical-align:top} table.data td.num,table.data thead th{text-align:right}
table.data thead th:first-child{text-align:left}
table.data thead th{background:#f3f3f3}
.neg{color:#b2182b} .pos{color:#1a7837}
figure{margin:.8em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.85em}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(30em,1fr));gap:1em}
.hub{margin-bottom:2.5em} .note{color:#555;font-size:.9em}
li{margin-bottom:.8em} code{background:#f5f5f5;padding:0 .2em}
"""


def _png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    if isinstance(x, (int, np.integer)) or (isinstance(x, float) and abs(x) >= 1000):
        return f"{x:,.0f}"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return html.escape(str(x))


def _table(frame: pd.DataFrame, signed: tuple[str, ...] = ()) -> str:
    """An HTML table; columns in ``signed`` coloured by sign."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [frame.index.name or "", *frame])
    rows = []
    for idx, row in frame.iterrows():
        cells = [f"<td>{html.escape(str(idx))}</td>"]
        for col, value in row.items():
            number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            cls = "num" if number else ""
            if col in signed and number and np.isfinite(value) and value:
                cls += " pos" if value > 0 else " neg"
                text = ("+" if value > 0 else "") + _fmt(value)
            else:
                text = _fmt(value)
            cells.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def headline(ds: xr.Dataset, baseline: str = "baseline") -> pd.DataFrame:
    """Each scenario against the baseline: jobs kept or lost by tier and year, youth, migration.

    Parameters
    ----------
    ds : xarray.Dataset
        A run folder's scenarios (dims ``scenario``, ``time``; ``hubsd run``).
    baseline : str
        The scenario the others are compared with.

    Returns
    -------
    pandas.DataFrame
        One row per scenario: hub jobs in each of :data:`YEARS` and its change against the
        baseline, the change of junior, mid and senior jobs in the first year, the peak youth
        unemployment rate from 2024 on [%], the change of net young migration from 2024 to the
        first year [persons] and the cumulative policy cost [million EUR].
    """
    if baseline not in ds["scenario"].values:
        raise HubsdError(f"the run has no {baseline!r} scenario to compare with")
    year = YEARS[0]
    t = ds["time"]
    dt = float(t[1] - t[0])

    def at(name, y):
        return ds[name].sel(time=y, method="nearest")

    out = pd.DataFrame(index=pd.Index([str(s) for s in ds["scenario"].values], name="scenario"))
    for y in YEARS:
        if float(t[0]) <= y <= float(t[-1]):
            jobs = at("total_hub_staff", y)
            out[f"hub jobs {y}"] = jobs.to_numpy()
            out[f"change {y}"] = (jobs - jobs.sel(scenario=baseline)).to_numpy()
    for tier in ("junior", "mid", "senior"):
        name = f"{tier}_staff"
        if name in ds:
            v = at(name, year)
            out[f"{tier} change {year}"] = (v - v.sel(scenario=baseline)).to_numpy()
    late = ds.sel(time=t >= 2024)
    if "youth_unemployment_rate" in ds:
        out["peak youth unemployment [%]"] = (
            100 * late["youth_unemployment_rate"].max("time").to_numpy()
        )
    if "net_young_migration" in ds:
        window = ds.sel(time=(t >= 2024) & (t <= year))
        mig = (window["net_young_migration"] * dt).sum("time")
        out[f"net young migration change 2024-{year}"] = (
            mig - mig.sel(scenario=baseline)
        ).to_numpy()
    if "cumulative_policy_cost" in ds:
        out["cost [M EUR]"] = ds["cumulative_policy_cost"].isel(time=-1).to_numpy() / 1e6
    return out.round(1)


def _calibration(hub: str) -> str:
    """The calibrated set's fit and holdout errors as HTML, or a note."""
    if "@" not in hub:
        return '<p class="note">Hub file values (no calibrated set).</p>'
    name, version = hub.split("@", 1)
    try:
        doc = load_calibrated(name, version)
    except HubsdError as exc:
        return f'<p class="note">Calibrated set not readable: {html.escape(str(exc))}</p>'
    fit = doc.get("fit") or {}
    rows = {
        series: {
            "n": s.get("n"),
            "MAPE [%]": None if s.get("mape") is None else 100 * float(s["mape"]),
            "R²": s.get("r2"),
            "Theil U_M": s.get("U_M"),
        }
        for series, s in (fit.get("statistics") or {}).items()
    }
    parts = [f"<h3>Calibration: {html.escape(hub)}</h3>"]
    flags = [e.get("flag") for e in (doc.get("parameters") or {}).values() if isinstance(e, dict)]
    known = [f for f in flags if f]
    if known:
        counts = pd.Series(known).value_counts()
        parts.append(
            '<p class="note">'
            + f"{len(known)} calibrated parameters: "
            + ", ".join(f"{n} {html.escape(str(k))}" for k, n in counts.items())
            + f"; cost {float(fit.get('cost', float('nan'))):.3g} over {fit.get('figures', '?')} "
            "observed figures.</p>"
        )
    if rows:
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "series (in-sample fit)"
        parts.append(_table(frame))
    hold = doc.get("holdout") or {}
    if hold:
        parts.append(
            '<p class="note">Holdout (refitted without the figures from '
            f"{float(hold.get('from_year', float('nan'))):g} on, then compared with them): "
            f"MAPE {100 * float(hold.get('mape', float('nan'))):.1f} % over "
            f"{len(hold.get('figures') or [])} figures.</p>"
        )
    return "\n".join(parts)


def hub_section(folder: Path) -> str:
    """One hub's findings from its run folder: headline table, figures, calibration quality."""
    manifest = json.loads((folder / "hubsd-run.json").read_text(encoding="utf-8"))
    hub = str(manifest.get("hub", folder.name))
    stem = hub.split("@")[0]
    title = f"{manifest.get('hub_name', stem)} — {hub}"
    parts = [f'<section class="hub" id="{html.escape(folder.name)}"><h2>{html.escape(title)}</h2>']
    nc = next(iter(sorted(folder.glob("*_scenarios.nc"))), None)
    summary = next(iter(sorted(folder.glob("*_summary.csv"))), None)
    if nc is not None:
        with xr.open_dataset(nc) as ds:
            frame = headline(ds.load())
        signed = tuple(c for c in frame if "change" in c)
        parts.append(
            "<p>Each policy against the baseline (changes: policy minus baseline; hub jobs are "
            "the total of the three tiers).</p>" + _table(frame, signed)
        )
    elif summary is not None:
        parts.append(_table(pd.read_csv(summary, index_col=0)))
    figs = []
    for key, caption in FIGURES.items():
        for png in sorted(folder.glob(f"*{key}*.png")):
            figs.append(
                f"<figure>{_png(png)}<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    if figs:
        parts.append('<div class="figs">' + "".join(figs) + "</div>")
    parts.append(_calibration(hub))
    data = [p.name for p in (nc, summary) if p is not None]
    if data:
        parts.append(
            '<p class="note">Data: '
            + ", ".join(
                f"<code>runs/{html.escape(folder.name)}/{html.escape(d)}</code>" for d in data
            )
            + "</p>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def claims_section(path: Path) -> str:
    """The claims ledger (``claims.csv``) as a table: :data:`CLAIM_COLUMNS` where present."""
    frame = pd.read_csv(path)
    if frame.empty:
        return ""
    if CLAIM_COLUMNS[0] in frame:  # the ledger's own columns: the ones a reader needs
        frame = frame[[c for c in CLAIM_COLUMNS if c in frame]]
    frame = frame.set_index(frame.columns[0])
    return (
        '<section id="claims"><h2>Claims ledger</h2>'
        f'<p class="note">{len(frame)} rows from <code>claims/{html.escape(path.name)}</code> '
        "(every column there, with the data and the scenario discovery behind each verdict)."
        "</p>" + _table(frame) + "</section>"
    )


#: Columns of a policy front shown (front.csv has every outcome's statistics).
POLICY_COLUMNS = [
    "policy_text",
    "youth_unemployment_peak_p90",
    "satisficing_share",
    "max_regret",
    "net_young_migration_p10",
    "discounted_cost_mean",
    "recommended",
]


def policy_section(folder: Path) -> str:
    """Robust policy design of the hubs (``<pipeline>/policy/<hub>/``): front and mix per hub."""
    hubs = sorted(p for p in folder.iterdir() if (p / POLICY_MANIFEST).is_file())
    if not hubs:
        return ""
    parts = [
        '<section id="policy"><h2>Robust policy design</h2>',
        '<p class="note">Per hub: the Pareto front of lever mixes found by NSGA-II, each scored '
        "over an ensemble of the hub's uncertain parameters and AI capability (worst tenth of "
        "futures, share of futures without failure (the failure rule is in each folder's "
        "manifest), regret "
        "against the best front policy in each future, mean discounted cost); the recommended "
        "mix has the least maximum regret on the youth unemployment peak. Small ensembles and "
        "few generations in the pipeline (see each folder's manifest): indicative, not final."
        "</p>",
    ]
    for hub in hubs:
        manifest = json.loads((hub / POLICY_MANIFEST).read_text(encoding="utf-8"))
        rec = json.loads((hub / "recommended.json").read_text(encoding="utf-8"))
        front = pd.read_csv(hub / "front.csv", index_col=0)
        front = front[[c for c in POLICY_COLUMNS if c in front]]
        mix = pd.DataFrame({"value": pd.Series(rec["parameters"])})
        mix.index.name = "parameter"
        parts.append(f'<div class="hub"><h3>{html.escape(hub.name)}</h3>')
        parts.append(f"<pre>{html.escape(manifest.get('summary', ''))}</pre>")
        parts.append("<p>Recommended mix:</p>" + _table(mix))
        if (hub / "front.png").is_file():
            parts.append(f"<figure>{_png(hub / 'front.png')}</figure>")
        parts.append(_table(front) + "</div>")
    parts.append("</section>")
    return "\n".join(parts)


def front_page(
    entries: list[dict], pipeline: Path | None, source: str, created: str, markdown
) -> str:
    """The whole ``index.html``.

    Parameters
    ----------
    entries : list of dict
        The notebook pages (``file``, ``notebook``, ``title``, ``summary``, ``executed``).
    pipeline : Path or None
        A pipeline folder (with ``runs/`` and maybe ``claims/claims.csv``), or None.
    source : str
        Where the notebooks came from (shown).
    created : str
        Time stamp.
    markdown : callable
        Markdown to HTML (the notebook summaries).
    """
    sections, toc = [], []
    runs = (
        sorted(p for p in (pipeline / "runs").iterdir() if (p / "hubsd-run.json").is_file())
        if (pipeline is not None and (pipeline / "runs").is_dir())
        else []
    )
    for folder in runs:
        sections.append(hub_section(folder))
        toc.append(f'<a href="#{html.escape(folder.name)}">{html.escape(folder.name)}</a>')
    claims = pipeline / "claims" / "claims.csv" if pipeline is not None else None
    if claims is not None and claims.is_file():
        sections.append(claims_section(claims))
        toc.append('<a href="#claims">claims ledger</a>')
    policy = pipeline / "policy" if pipeline is not None else None
    if policy is not None and policy.is_dir():
        section = policy_section(policy)
        if section:
            sections.append(section)
            toc.append('<a href="#policy">robust policy design</a>')
    items = "\n".join(
        f'<li><a href="{html.escape(e["file"])}">{html.escape(e["title"])}</a> '
        f"<code>{html.escape(e['notebook'])}</code>"
        + ("" if e["executed"] else " <em>(not executed)</em>")
        + f"<div>{markdown(e['summary'])}</div></li>"
        for e in entries
    )
    toc.append('<a href="#notebooks">notebooks</a>')
    lead = (
        "<p>What the pipeline found, hub by hub: each policy lever and their mix against the "
        "baseline, with the figures and the quality of the calibrated parameter set each hub ran "
        "with. The notebooks below hold the analysis behind it (code hidden; a button shows "
        "it).</p>"
        if runs
        else "<p>The executed notebooks of this analysis (code hidden; a button shows it).</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>hubsd: findings</title><style>{STYLE}</style></head>
<body><h1>hubsd: AI in outsourcing hubs — findings</h1>
<p class="meta">Rendered {html.escape(created)} from <code>{html.escape(source)}</code>.
Contents: {" · ".join(toc)}</p>
{lead}
{"".join(sections)}
<section id="notebooks"><h2>Notebooks</h2>
<ol>
{items}
</ol></section></body></html>
"""
