"""The run folder of ``hubsd run``: one hub under its scenarios, written atomically with a summary.

:func:`run_folder` is what the command line and the pipeline call: it checks every input
before the model runs, then writes ``<hub>_scenarios.nc``, figures, ``<hub>_summary.csv`` and
``hubsd-run.json`` into a temporary folder renamed into place when complete.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.atomic import atomic_folder, folder_lock, replaced_note
from hubsd.core.errors import HubsdError
from hubsd.core.paths import DEFAULT_MODEL, OUTPUTS_DIR, SCENARIOS_FILE
from hubsd.core.version import __version__
from hubsd.engine.pysd_runner import available_outputs, model_controls, run_scenarios, save
from hubsd.inputs.hubs import DEFAULT_HUB, load_hub
from hubsd.inputs.scenarios import load_scenarios, scenario_parameters
from hubsd.model.parameters import CONTROL, ParameterError, check_parameters
from hubsd.model.parameters import table as parameter_table
from hubsd.model.pysd_model import load
from hubsd.plots.figures import save_figures

PROG = "hubsd"
MANIFEST = "hubsd-run.json"
#: Years whose hub jobs the summary shows (those inside the run).
SUMMARY_YEARS = (2024, 2035, 2045)
#: Peaks in the summary are taken from this year on (the years before are calibration
#: history, and the youth unemployment rate's start-up transient would mask the AI period).
PEAK_FROM = 2024
#: Latest final time accepted. The model is built for 2005-2045 and holds its tables' end
#: values beyond; a far horizon only costs time and memory.
MAX_FINAL_TIME = 2100.0


class CliError(HubsdError):
    """Bad command or run-folder input: reported as ``hubsd: error: ...`` with exit status 2."""


def parse_final_time(text: str | None, initial_time: float) -> float | None:
    """The ``--final-time`` value: a finite year after the initial time, at most 2100."""
    if text is None:
        return None
    valid = f"give a year after the initial time {initial_time:g}, at most {MAX_FINAL_TIME:g}"
    try:
        value = float(text)
    except ValueError:
        raise CliError(f"--final-time {text!r} is not a number; {valid}") from None
    if not math.isfinite(value) or not (initial_time < value <= MAX_FINAL_TIME):
        raise CliError(f"--final-time {text!r} is out of range; {valid}")
    return value


def scenario_names(
    requested: Sequence[str] | None, path: Path | None = SCENARIOS_FILE, mdl=DEFAULT_MODEL
) -> list[str]:
    """Scenarios to run: all of the scenario file if none requested, else each one once."""
    known = list(load_scenarios(path, mdl))
    if not requested:
        return known
    names = []
    for name in requested:
        if name not in names:  # a repeated name runs once
            names.append(name)
    return names


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_out_dir(out: str | os.PathLike, marker: str = MANIFEST) -> Path:
    """The resolved output folder, or :class:`CliError` if it cannot or must not be used.

    An existing folder is accepted only if it is empty or holds ``marker`` (the manifest of
    the command that wrote it).
    """
    if not str(out).strip():
        raise CliError("--out is empty; give a folder path")
    target = Path(out).expanduser().resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise CliError(
            f"--out {str(out)!r} is the current folder or one above it; give a new "
            "folder (it is replaced as a whole)"
        )
    if target.exists():
        if not target.is_dir():
            raise CliError(f"--out {str(out)!r} exists and is not a folder")
        if any(target.iterdir()) and not (target / marker).is_file():
            what = "hubsd run" if marker == MANIFEST else f"`hubsd {marker[6:-5]}`"
            raise CliError(
                f"--out {str(out)!r} exists and is not an earlier {what} folder "
                f"(no {marker}); give a new folder or remove it"
            )
    base = _nearest_existing(target.parent)
    if not base.is_dir():
        raise CliError(f"--out {str(out)!r}: {base} is not a folder")
    try:  # can we create files there? (a probe that is removed at once)
        fd, probe = tempfile.mkstemp(prefix=".hubsd-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CliError(
            f"--out {str(out)!r}: cannot write in {base}: {exc.strerror or exc}"
        ) from None
    return target


# --------------------------------------------------------------------------------------------
# hubsd run: summary


def summary_table(ds) -> pd.DataFrame:
    """One row per scenario: hub jobs in :data:`SUMMARY_YEARS`, peaks, policy cost.

    Hub jobs are ``total_hub_staff``; the peaks of ``displaced_hub_workers`` and
    ``youth_unemployment_rate`` are taken from :data:`PEAK_FROM` on (the whole run if it ends
    earlier); the policy cost is ``cumulative_policy_cost`` at the final time, in million EUR.
    """
    time_ = ds["time"].values.astype(float)
    start = PEAK_FROM if time_[-1] >= PEAK_FROM else time_[0]
    late = ds.sel(time=ds["time"] >= start)
    years = [y for y in SUMMARY_YEARS if time_[0] <= y <= time_[-1]]
    rows = []
    for scen in [str(s) for s in ds["scenario"].values]:
        one = ds.sel(scenario=scen)
        row: dict[str, object] = {"scenario": scen}
        for year in years:
            row[f"hub_jobs_{year}"] = float(one["total_hub_staff"].sel(time=year, method="nearest"))
        late_one = late.sel(scenario=scen)
        for var, key in (
            ("displaced_hub_workers", "peak_displaced"),
            ("youth_unemployment_rate", "peak_youth_unemployment"),
        ):
            values = late_one[var].values.astype(float)
            i = int(np.nanargmax(values))
            row[key] = float(values[i])
            row[f"{key}_year"] = float(late_one["time"].values[i])
        row["cumulative_policy_cost_meur"] = float(one["cumulative_policy_cost"].values[-1]) / 1e6
        rows.append(row)
    table = pd.DataFrame(rows).set_index("scenario")
    table.attrs["peak_from"] = float(start)
    return table


def format_summary(table, ds, title: str) -> str:
    """The summary table as aligned text."""
    end = float(ds["time"].values[-1])
    headers = ["scenario"]
    cells = [[scen] for scen in table.index]
    year_cols = [c for c in table.columns if c.startswith("hub_jobs_")]
    for col in year_cols:
        headers.append(f"jobs {col.removeprefix('hub_jobs_')}")
        for line, v in zip(cells, table[col], strict=True):
            line.append(f"{v:,.0f}")
    headers += ["peak displaced", "peak youth unemp.", "cost [M EUR]"]
    for line, (_, r) in zip(cells, table.iterrows(), strict=True):
        line.append(f"{r.peak_displaced:,.0f} ({r.peak_displaced_year:.0f})")
        line.append(
            f"{100 * r.peak_youth_unemployment:.1f} % ({r.peak_youth_unemployment_year:.0f})"
        )
        line.append(f"{r.cumulative_policy_cost_meur:,.1f}")
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    def fmt(parts):
        return "  ".join(
            p.ljust(w) if i == 0 else p.rjust(w)
            for i, (p, w) in enumerate(zip(parts, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [title, fmt(headers), rule, *(fmt(c) for c in cells)]
    lines += textwrap.wrap(
        f"jobs: total hub staff [Person]; peaks (year of the peak) from "
        f"{table.attrs['peak_from']:g} on: displaced hub workers [Person], "
        f"youth unemployment rate [%]; cost: cumulative policy cost to "
        f"{end:g}.",
        width=max(88, len(rule)),
    )
    return "\n".join(lines)


#: Outputs the hub summary needs; a model without them gets :func:`final_values` instead.
SUMMARY_OUTPUTS = (
    "total_hub_staff",
    "displaced_hub_workers",
    "youth_unemployment_rate",
    "cumulative_policy_cost",
)


def model_outputs(mdl) -> list[str]:
    """The variables of a model of one's own that a run keeps: not its parameters or controls."""
    params = set(parameter_table(mdl).index) | CONTROL
    return [o for o in available_outputs(mdl) if o not in params]


def final_values(ds) -> pd.DataFrame:
    """One row per scenario: every variable's value at the final time (a model of one's own)."""
    last = ds.isel(time=-1)
    rows = {
        str(s): {v: float(last[v].sel(scenario=s)) for v in ds.data_vars}
        for s in ds["scenario"].values
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "scenario"
    return table


def _final_text(table: pd.DataFrame, title: str) -> str:
    with pd.option_context("display.width", 200, "display.max_columns", None):
        body = table.T.to_string(float_format=lambda v: f"{v:.6g}")
    return f"{title}\nvalues at the final time:\n{body}"


@dataclass
class FolderRun:
    """What :func:`run_into_folder` did: the folder, the study's result and the timing."""

    target: Path
    result: object
    #: The line saying an earlier folder was replaced, or None.
    replaced: str | None
    seconds: float

    def report(self, text: str, label: str, path: Path | None = None) -> None:
        """Print the study's text, the replaced-folder note, the wall time and ``label: path``."""
        print(text)
        if self.replaced:
            print(f"Note: {self.replaced}")
        print(f"Wall time: {self.seconds:.1f} s")
        print(f"{label}: {path if path is not None else self.target}")


def run_into_folder(
    hubs: Sequence[str],
    out: str | os.PathLike | None,
    default_name: str,
    marker: str,
    announce: str,
    run: Callable[[], object],
    write: Callable[[object, Path], object],
) -> FolderRun:
    """The shape of a command that runs a study into one output folder.

    Every hub is resolved (an unknown one raises :class:`HubError` naming the known hubs) and
    the folder checked (:func:`check_out_dir`) before anything runs; then the folder's lock is
    held (:func:`hubsd.core.atomic.folder_lock`) while ``announce`` is printed on stderr, the
    study runs and ``write(result, target)`` writes it (atomically, with
    :func:`hubsd.core.atomic.atomic_folder`), so no other hubsd process writes the folder
    meanwhile and an earlier folder replaced is said so.

    Parameters
    ----------
    hubs : sequence of str
        Hubs (names, calibrated sets or files) the study runs on.
    out : path or None
        The output folder; None: ``default_name`` under the outputs folder (the workspace's,
        else ``outputs/``).
    default_name : str
        The folder's name when ``out`` is None.
    marker : str
        The manifest file the study writes (an existing folder is replaced only if it holds
        one).
    announce : str
        The line printed on stderr when the study starts.
    run : callable
        Runs the study, returns its result.
    write : callable
        Writes the result into the folder.

    Returns
    -------
    FolderRun
        The folder, the result, the replaced-folder note and the wall time [s].

    Raises
    ------
    HubError, CliError, OutputLocked
        An unknown hub, a folder that must not be replaced, or one another process writes.
    """
    started = time.perf_counter()
    for hub in hubs:
        load_hub(hub)
    target = check_out_dir(out if out is not None else OUTPUTS_DIR / default_name, marker)
    with folder_lock(target):
        replaced = replaced_note(target, marker)
        print(announce, file=sys.stderr)
        result = run()
        write(result, target)
    return FolderRun(target, result, replaced, time.perf_counter() - started)


@dataclass
class RunFolder:
    """What :func:`run_folder` wrote: the folder, the results and the printed summary."""

    target: Path
    dataset: xr.Dataset
    table: pd.DataFrame
    text: str
    files: list[str]
    #: The line saying an earlier run's folder was replaced, or None.
    replaced: str | None = None


def run_folder(
    hub: str = DEFAULT_HUB,
    scenarios: Sequence[str] | None = None,
    overrides: Mapping[str, float] | None = None,
    final_time: str | None = None,
    out: str | os.PathLike | None = None,
    figures: bool = True,
    command: str | None = None,
    quiet: bool = False,
    mdl: str | os.PathLike = DEFAULT_MODEL,
    scenario_file: str | os.PathLike | None = SCENARIOS_FILE,
) -> RunFolder:
    """Run a hub under its scenarios into a folder, atomically; every input checked first.

    Parameters
    ----------
    hub : str
        Hub name (``krakow``, ``krakow@v1``, ``krakow@calibrated``).
    scenarios : sequence of str, optional
        Scenario names in order (default: every scenario of ``data/scenarios.yaml``).
    overrides : mapping, optional
        Parameter values (already validated names) applied on top of every scenario.
    final_time : str, optional
        The final year as given by the user (checked: after the initial time, at most 2100).
    out : path, optional
        Output folder (default ``outputs/run-<hub>``); replaced only if it is an earlier run
        folder or empty.
    figures : bool
        Write the PNG figures.
    command : str, optional
        The command line recorded in the manifest and the Dataset's attrs.
    quiet : bool
        Do not print the "Running ..." line on stderr.
    mdl : path
        The Vensim model (default: the hub model, or the workspace's). A model without the hub
        model's summary outputs (``total_hub_staff`` ...) is run for every variable, without
        the summary's hub columns and the figures.
    scenario_file : path or None
        Scenario file (default ``data/scenarios.yaml``, or the workspace's); ``None``: that
        file for the default model, a baseline only for another model.

    Returns
    -------
    RunFolder
        The folder, the Dataset (dims ``scenario``, ``time``), the summary table and text,
        and the file names written.

    Raises
    ------
    CliError, HubError, ParameterError
        Before anything runs: an unknown hub or scenario, a bad override, a bad final time or
        an output folder that must not be replaced.
    """
    started = time.perf_counter()
    overrides = dict(overrides or {})
    # --- every check before anything runs or is written --------------------------------
    mdl = Path(mdl)
    if not mdl.is_file():
        raise CliError(f"--model {str(mdl)!r}: no such file (give a Vensim .mdl file)")
    hub_def = load_hub(hub, mdl=mdl)  # HubError names the known hubs
    name = hub_def["hub"]
    names = scenario_names(scenarios, scenario_file, mdl)
    # HubError for an unknown one
    per_scenario = scenario_parameters(hub_def, names, scenario_file, mdl)
    for scen, params in per_scenario.items():
        try:
            check_parameters({**params, **overrides}, mdl)
        except ParameterError as exc:
            raise CliError(f"scenario {scen!r} with the --set values: {exc}") from None
    hub_like = set(SUMMARY_OUTPUTS) <= set(available_outputs(mdl))
    controls = model_controls(load(mdl))
    final = parse_final_time(final_time, controls["initial_time"])
    target = check_out_dir(out if out is not None else OUTPUTS_DIR / f"run-{name}")
    with folder_lock(target):  # one writer per folder, from the check to the rename
        replacing = replaced_note(target, MANIFEST)

        # --- run ---------------------------------------------------------------------------------
        if not quiet:
            print(f"Running {hub_def['name']} ({name}): {', '.join(names)} ...", file=sys.stderr)
        ds = run_scenarios(
            hub,
            names,
            overrides,
            None if hub_like else model_outputs(mdl),
            scenario_file,
            final_time=final,
            mdl=mdl,
        )
        ds.attrs["hub_name"] = hub_def["name"]
        ds.attrs["command"] = command or f"hubsd.run_folder({name!r})"
        table = summary_table(ds) if hub_like else final_values(ds)
        title = (
            f"{hub_def['name']} ({name}), {len(names)} scenario(s), "
            f"{float(ds['time'].values[0]):g}-{float(ds['time'].values[-1]):g}"
            + (
                f", --set {' '.join(f'{k}={v:g}' for k, v in overrides.items())}"
                if overrides
                else ""
            )
        )
        text = format_summary(table, ds, title) if hub_like else _final_text(table, title)

        # --- write into a temporary folder beside the target, then rename into place --------
        with atomic_folder(target) as tmp:
            files = [save(ds, tmp / f"{name}_scenarios.nc")]
            if figures and hub_like:
                files += save_figures(ds, tmp, prefix=f"{name}_")
            csv = tmp / f"{name}_summary.csv"
            table.to_csv(csv, float_format="%.6g")
            files.append(csv)
            manifest = {
                "command": ds.attrs["command"],
                "hub": name,
                "hub_name": hub_def["name"],
                "scenarios": names,
                "set": overrides,
                "final_time": float(ds["time"].values[-1]),
                "files": [p.name for p in files],
                "hubsd_version": __version__,
                "pysd_version": ds.attrs.get("pysd_version"),
                "model": str(mdl),
                "model_sha256": ds.attrs.get("model_sha256"),
                "hub_file": hub_def.get("base_file", hub_def["file"]),
                "scenario_file": str(scenario_file) if scenario_file else None,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "wall_time_s": round(time.perf_counter() - started, 2),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return RunFolder(target, ds, table, text, [p.name for p in files], replacing)
