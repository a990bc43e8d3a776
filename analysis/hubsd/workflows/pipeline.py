"""The main job: calibrated hubs, their policy scenarios, a sensitivity sweep and the report.

``hubsd pipeline`` (the README's first command) runs, into one output folder
(``outputs/pipeline`` by default)::

    runs/<hub>/            hubsd run for each hub (baseline, each lever, their mix): NetCDF,
                           figures, summary; calibrated hubs (<hub>@vN) where a calibrated set
                           exists in data/calibrated/, else the hub file's values
    sweep/                 hubsd sweep of notebooks/04_sensitivity.ipynb over the hubs (papermill,
                           parallel workers): Monte Carlo fan charts and Sobol indices per hub,
                           combined in sweep/sweep.nc
    notebooks/             every notebook of notebooks/ executed by papermill for the calibrated
                           Kraków hub (02_calibration fits Kraków afresh, without saving a set)
    policy/<hub>/          robust policy design (hubsd policy) for every calibrated hub, with
                           cheap settings (POLICY_SETTINGS): front, recommended mix, PRIM boxes
    claims/                the claims ledger over the hubs (hubsd claims): claims.csv,
                           claims.nc, claims_boxes.csv; the report's front page shows the table
    report/index.html      findings per hub (headline table, figures, calibration quality),
                           then the executed notebooks as HTML (hubsd report)
    pipeline.json          what ran, with timings

Every step writes its output atomically (a temporary folder or file beside it, renamed into
place) and ``--resume`` skips the steps and sweep points already finished, so an interrupted
pipeline loses nothing it had completed. Without ``--resume`` an earlier pipeline folder is
replaced; any other non-empty folder is refused. Calibration itself is not rerun:
``hubsd calibrate`` saves new calibrated sets, which the next pipeline uses.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hubsd.core.atomic import write_json
from hubsd.core.errors import HubsdError
from hubsd.core.paths import NOTEBOOKS
from hubsd.inputs.hubs import DEFAULT_HUB, HubError, available, calibrated_or_file
from hubsd.studies.claims import MANIFEST as CLAIMS_MANIFEST
from hubsd.studies.claims import MEMBERS as CLAIMS_MEMBERS
from hubsd.studies.claims import SEED as CLAIMS_SEED
from hubsd.studies.claims import claims_ledger, save_ledger
from hubsd.workflows.kernels import check_kernel, kernel_options, papermill_kernel
from hubsd.workflows.policyrun import MANIFEST as POLICY_MANIFEST
from hubsd.workflows.policyrun import policy_study, save_policy
from hubsd.workflows.report import build_report
from hubsd.workflows.runfolder import MANIFEST as RUN_MANIFEST
from hubsd.workflows.runfolder import run_folder
from hubsd.workflows.sweep import notebook_parameters as declared
from hubsd.workflows.sweep import prepare, run_sweep

MANIFEST = "pipeline.json"
#: Cheap settings of the sensitivity notebook for the sweep (members, Sobol base sample, ...).
SWEEP_FIXED = {"samples": 100, "sobol_n": 32, "morris_trajectories": 4}
#: Cheap settings of the robust policy design step (``hubsd policy`` defaults are larger).
POLICY_SETTINGS = {"members": 200, "generations": 10, "population": 16, "seed": 0}
#: The calibration notebook's settings in the pipeline (it refits the lead hub, Kraków); the
#: notebook's own defaults are cheaper (Vilnius, the smallest spec) for the test suite.
PIPELINE_02 = {"starts": 2, "profile_points": 5}


class PipelineError(HubsdError):
    """Bad input to the pipeline (unknown hub, an output folder that is not a pipeline's)."""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve_hubs(hubs: list[str] | None) -> list[str]:
    """Hub names to run: the newest calibrated set of each hub where one exists."""
    names = hubs or available()
    out = []
    for name in names:
        try:
            out.append(calibrated_or_file(name))
        except HubError as exc:
            raise PipelineError(str(exc)) from None
    return out


def _check_out(out: Path) -> bool:
    """Refuse an ``--out`` that is not a pipeline's; True if it holds an earlier pipeline."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise PipelineError(f"--out {str(out)!r} exists and is not a folder")
    if not any(out.iterdir()):
        return False
    if not (out / MANIFEST).is_file():
        raise PipelineError(
            f"--out {str(out)!r} exists and is not a pipeline folder (no "
            f"{MANIFEST}); give a new folder or remove it"
        )
    return True


def _execute(notebook: Path, target: Path, params: dict, kernel: str | None) -> None:
    """Papermill into a temporary file beside ``target``, renamed into place when complete."""
    import papermill as pm

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".ipynb")
    os.close(fd)
    try:
        pm.execute_notebook(
            str(notebook),
            tmp,
            parameters=params,
            cwd=str(target.parent),
            progress_bar=False,
            **papermill_kernel(kernel),  # None: the Python that runs hubsd
            **kernel_options(),  # encrypted kernels: no transport warning in the console
        )
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def notebook_parameters(name: str, hub: str, output_dir: str) -> dict:
    """Parameters the pipeline gives each notebook (those it declares)."""
    nb_params = declared(NOTEBOOKS / name)
    wanted = {"hub": hub, "output_dir": output_dir}
    if name.startswith("02_"):  # calibration starts from the hub file, not a calibrated set
        wanted["hub"] = hub.split("@")[0]
        wanted.update(PIPELINE_02)
    if name.startswith("05_"):
        wanted.pop("hub")
    return {k: v for k, v in wanted.items() if k in nb_params}


def run_pipeline(
    out: str | os.PathLike = "outputs/pipeline",
    hubs: list[str] | None = None,
    resume: bool = False,
    workers: int | None = None,
    kernel: str | None = None,
    sweep_fixed: dict | None = None,
    notebooks: list[str] | None = None,
    claims_members: int = CLAIMS_MEMBERS,
    policy_settings: dict | None = None,
) -> dict:
    """Run every step (see the module docstring); returns the manifest written.

    ``claims_members`` is the ensemble size per hub of the claims ledger step;
    ``policy_settings`` replaces :data:`POLICY_SETTINGS` of the policy design step
    (``members``, ``generations``, ``population``, ``seed``, ``budget``).
    """
    started = time.perf_counter()
    out = Path(out).resolve()
    earlier = _check_out(out)
    names = resolve_hubs(hubs)
    nb_names = notebooks or sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb"))
    missing = [n for n in nb_names if not (NOTEBOOKS / n).is_file()]
    if missing:
        raise PipelineError(f"no notebook {missing[0]!r} in {NOTEBOOKS}")
    check_kernel(kernel)
    if earlier and not resume:  # every input is good: start again from scratch, as hubsd run
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    manifest = (
        json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    )
    manifest.update({"hubs": names, "notebooks": nb_names, "steps": manifest.get("steps", {})})

    def record(step, seconds, **extra):
        manifest["steps"][step] = {"seconds": round(seconds, 2), **extra}
        write_json(manifest_path, manifest)

    write_json(manifest_path, manifest)  # marks the folder as a pipeline's, for --resume
    # the notebooks run for the default hub (Kraków) when it is among the hubs, else the first
    lead = next((n for n in names if n.split("@")[0] == DEFAULT_HUB), names[0])
    _say(f"hubsd pipeline: hubs {', '.join(names)} into {out}")

    # 1. scenario runs per hub
    for hub in names:
        target = out / "runs" / hub.replace("@", "_")
        if resume and (target / RUN_MANIFEST).is_file():
            _say(f"  runs/{target.name}: done before, kept")
            continue
        t0 = time.perf_counter()
        res = run_folder(hub, out=target, command=f"hubsd run --hub {hub} --out {target}")
        print(res.text, f"\nOutput folder: {res.target}", sep="\n")
        record(f"run {hub}", time.perf_counter() - t0)

    # 2. sensitivity sweep over the hubs (papermill, parallel workers, resumable)
    t0 = time.perf_counter()
    nb = NOTEBOOKS / "04_sensitivity.ipynb"
    spec = {"list": [{"hub": h} for h in names], "fixed": dict(sweep_fixed or SWEEP_FIXED)}
    plan = prepare(nb, spec)
    sweep_dir = out / "sweep"
    res = run_sweep(
        plan,
        sweep_dir,
        workers=workers,
        resume=resume and sweep_dir.exists(),
        kernel=kernel,
        progress=None,  # a bar over the points in a terminal, silent otherwise
    )
    if res["failed"]:
        raise RuntimeError(
            "sensitivity sweep: point(s) failed: "
            + "; ".join(f"{p} ({res['params'][p]}): {res['errors'][p]}" for p in res["failed"])
        )
    record(
        "sensitivity sweep",
        time.perf_counter() - t0,
        points=len(plan["points"]),
        result=str(res["result"]),
    )
    _say(f"  sweep: {len(plan['points'])} point(s) in {time.perf_counter() - t0:.0f} s")

    # 3. the notebooks, for the lead (calibrated Kraków) hub
    nb_dir = out / "notebooks"
    for name in nb_names:
        target = nb_dir / name
        if resume and target.is_file():
            _say(f"  notebooks/{name}: done before, kept")
            continue
        t0 = time.perf_counter()
        _execute(NOTEBOOKS / name, target, notebook_parameters(name, lead, "outputs"), kernel)
        record(f"notebook {name}", time.perf_counter() - t0)
        _say(f"  notebooks/{name}: {time.perf_counter() - t0:.0f} s")

    # 4a. robust policy design for every calibrated hub, before the report that shows it
    settings = {**POLICY_SETTINGS, **(policy_settings or {})}
    for hub in (n for n in names if "@" in n):
        target = out / "policy" / hub.replace("@", "_")
        if resume and (target / POLICY_MANIFEST).is_file():
            _say(f"  policy/{target.name}: done before, kept")
            continue
        t0 = time.perf_counter()
        study = policy_study(hub, **settings)
        save_policy(study, target, command=f"hubsd pipeline (policy design step, {settings})")
        record(f"policy {hub}", time.perf_counter() - t0, folder=str(target))
        _say(f"  policy/{target.name}: {time.perf_counter() - t0:.0f} s")

    # 4. the claims ledger, before the report whose front page shows it
    claims_dir = out / "claims"
    if resume and (claims_dir / CLAIMS_MANIFEST).is_file():
        _say("  claims: done before, kept")
    else:
        t0 = time.perf_counter()
        ledger = claims_ledger(names, members=claims_members, seed=CLAIMS_SEED)
        save_ledger(ledger, claims_dir, command="hubsd pipeline (claims ledger step)")
        record(
            "claims ledger",
            time.perf_counter() - t0,
            rows=len(ledger.table),
            folder=str(claims_dir),
        )
        _say(f"  claims: {len(ledger.table)} rows in {time.perf_counter() - t0:.0f} s")

    # 5. the report
    t0 = time.perf_counter()
    index = build_report(nb_dir, out / "report")
    record("report", time.perf_counter() - t0, index=str(index))
    manifest["wall_seconds"] = round(time.perf_counter() - started, 1)
    manifest["report"] = str(index)
    write_json(manifest_path, manifest)
    return manifest
