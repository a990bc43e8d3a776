"""The ``hubsd`` command line.

::

    hubsd run [--hub krakow] [--scenario NAME ...] [--set NAME=VALUE ...] [--out DIR]
              [--no-figures] [--final-time YEAR]
    hubsd params [--markdown] [--sector SECTOR]
    hubsd hubs
    hubsd sectors
    hubsd sweep [NOTEBOOK] SPEC [--model MDL] [--hub H] [--out DIR] [--workers N] [--resume]
    hubsd report [--notebooks DIR] [--out DIR]
    hubsd pipeline [--hub NAME ...] [--out DIR] [--resume] [--workers N]
    hubsd calibrate [--hub krakow] [--spec FILE] [--data CSV ...] [--starts N] [--out DIR]
                    [--no-intervals] [--no-holdout] [--no-save]
    hubsd validate [--hub H] [--checks FILE] [--model MDL] [--samples N] [--seed S] [--out DIR]
    hubsd claims [--hub H ...] [--members N] [--seed S] [--claims FILE] [--out DIR]
    hubsd init DIR [--model MDL]

Hubs, specs, scenario, checks and observation files and models may be paths of one's own;
inside a workspace (``hubsd init DIR``) every command uses its files (:mod:`hubsd.core.paths`).

``hubsd run`` is the main job: one hub under the baseline, each policy lever and their mix
(every scenario of ``data/scenarios.yaml`` unless ``--scenario`` picks some). It writes into
the output folder (default ``outputs/run-<hub>`` under the current folder):

* ``<hub>_scenarios.nc``: the key outputs, dims ``scenario`` and ``time``, units in attrs;
* ``<hub>_tier_composition.png``, ``<hub>_policy_comparison.png``,
  ``<hub>_displacement_youth_unemployment.png`` (unless ``--no-figures``);
* ``<hub>_summary.csv``: the summary table that is also printed;
* ``hubsd-run.json``: what was run (command, hub, scenarios, overrides, versions, wall time).

**Bad input.** Every input (hub, scenario names, ``--set`` names and values, final time, the
output folder) is checked before the model runs or anything is written. A bad one ends the
command with exit status 2 and one line on stderr, ``hubsd: error: ...``, naming the item and
what is valid; no traceback, no file, no folder.

**No half-written output.** Decision: the whole output folder is built in a temporary folder
beside the target (``.<name>.tmp-XXXX`` in the same parent, so on the same file system) and
renamed into place only once every file is complete. If anything fails on the way, the
temporary folder (and any parent folder the command created) is removed and the target is
untouched. An existing target is replaced only if it is a previous ``hubsd run`` folder (it
holds ``hubsd-run.json``) or empty; it is first renamed aside, then the new folder renamed in,
then the old one deleted, so a reader sees either the complete old or the complete new folder
(the target path is missing for the instant between the two renames). Any other existing
folder or file at ``--out`` is refused as bad input.

:func:`main` returns the exit status instead of exiting, so tests can call it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import textwrap
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from hubsd.cli.calibrate_cmd import cmd_calibrate
from hubsd.cli.claims_cmd import add_claims_parser
from hubsd.cli.init_cmd import add_init_parser
from hubsd.cli.policy_cmd import add_policy_parser
from hubsd.cli.sweep_cmd import add_sweep_parser
from hubsd.core.atomic import OutputLocked, atomic_folder, replaced_note
from hubsd.core.paths import (
    CALIBRATED_DIR,
    DEFAULT_MODEL,
    HUBS_DIR,
    OUTPUTS_DIR,
    WorkspaceError,
)
from hubsd.core.progress import ProgressError, wanted
from hubsd.core.version import __version__
from hubsd.engine.pysd_runner import sector_inputs, sectors
from hubsd.inputs.calibrated import versions
from hubsd.inputs.hubs import (
    DEFAULT_HUB,
    HubError,
    available,
    hub_name,
    load_hub,
    load_hub_or_parameters,
)
from hubsd.model.parameters import (
    ParameterError,
    check_parameters,
    resolve_name,
    table,
    to_markdown,
)
from hubsd.validation.battery import (
    LHS_SAMPLES,
    LHS_SEED,
    ValidationInputError,
    check_inputs,
    validate_model,
)
from hubsd.validation.context import default_hub
from hubsd.workflows.pipeline import PipelineError, run_pipeline
from hubsd.workflows.report import ReportError, build_report
from hubsd.workflows.runfolder import (
    MANIFEST,
    MAX_FINAL_TIME,
    PROG,
    CliError,
    check_out_dir,
    run_folder,
)
from hubsd.workflows.sweep import SweepError


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``hubsd: error: ...``, exit status 2."""

    def error(self, message):  # noqa: D401 - argparse API
        hint = f" (see `{self.prog} --help`)"
        self.exit(2, f"{PROG}: error: {message}{hint}\n")


# --------------------------------------------------------------------------------------------
# parsing


def build_parser() -> argparse.ArgumentParser:
    """The ``hubsd`` argument parser with its subcommands."""
    parser = _Parser(
        prog=PROG,
        description="System-dynamics model of AI automation in outsourcing and shared-services "
        "hubs (models/hub.mdl, run through PySD).",
        epilog="`hubsd COMMAND --help` describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a hub under the baseline and the policy scenarios; NetCDF, figures, summary",
        description="Run one hub under the baseline, each policy lever and their mix (all "
        "scenarios of data/scenarios.yaml by default). Writes <hub>_scenarios.nc, PNG figures, "
        "<hub>_summary.csv and hubsd-run.json into the output folder, prints a summary table "
        "and the folder. Every input is checked before anything runs; the folder appears only "
        "when complete.",
    )
    run.add_argument(
        "--hub",
        help="hub name in data/hubs/ (default: krakow, or the workspace's only hub; `hubsd hubs` "
        "lists them) or the path of "
        "a hub file of your own; NAME@vN or NAME@calibrated for a calibrated set",
    )
    run.add_argument(
        "--scenario",
        nargs="+",
        action="extend",
        metavar="NAME",
        dest="scenarios",
        help="scenarios to run, in this order (default: all of data/scenarios.yaml)",
    )
    run.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        dest="sets",
        default=[],
        help="parameter override for every scenario, Python or Vensim name (wins "
        "over the scenario's own value); repeatable; `hubsd params` lists them",
    )
    run.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default: outputs/run-<hub> "
        "in the current folder); replaced if it holds an earlier hubsd run",
    )
    run.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    run.add_argument("--model", metavar="MDL", help="Vensim model (--hub: its parameter file)")
    run.add_argument("--scenario-file", metavar="FILE", help="scenarios (--model: baseline)")
    run.add_argument(
        "--final-time",
        metavar="YEAR",
        help=f"last simulated year (default: the model's FINAL TIME; at most {MAX_FINAL_TIME:g})",
    )
    run.set_defaults(func=cmd_run)

    params = sub.add_parser(
        "params",
        help="print the parameter table",
        description="Print the exposed parameters with default, range, units and sector.",
    )
    params.add_argument(
        "--markdown", action="store_true", help="Markdown with sources, as in models/parameters.md"
    )
    params.add_argument("--sector", metavar="SECTOR", help="only one sector's parameters")
    params.set_defaults(func=cmd_params)

    hubs = sub.add_parser(
        "hubs",
        help="list the hubs with their description",
        description="List the hub parameter files in data/hubs/.",
    )
    hubs.set_defaults(func=cmd_hubs)

    sectors = sub.add_parser(
        "sectors",
        help="list sectors and their exogenous inputs",
        description="List the model's sectors (Vensim views) and the "
        "variables each needs from other sectors to run alone.",
    )
    sectors.set_defaults(func=cmd_sectors)

    add_sweep_parser(sub)  # hubsd sweep (hubsd.cli.sweep_cmd)

    report = sub.add_parser(
        "report",
        help="render the executed notebooks as a browsable HTML report",
        description="Render every executed notebook of --notebooks as HTML (figures "
        "embedded, nothing re-run) with an index.html, into --out; prints where it is.",
    )
    report.add_argument(
        "--notebooks",
        metavar="DIR",
        default="notebooks",
        help="folder of notebooks (default: notebooks)",
    )
    report.add_argument(
        "--out",
        metavar="DIR",
        default=str(Path("outputs") / "report"),
        help="report folder (default: outputs/report); replaced if it holds an earlier report",
    )
    report.set_defaults(func=cmd_report)

    pipe = sub.add_parser(
        "pipeline",
        help="the main job: calibrated hubs, policy scenarios, sensitivity sweep, report",
        description="Run every hub (its newest calibrated set where one exists) under the "
        "baseline and each policy scenario, a papermill sweep of the sensitivity notebook over "
        "the hubs, every notebook for the calibrated Kraków hub, and the HTML report; prints "
        "where the report is. --resume continues an interrupted pipeline.",
    )
    pipe.add_argument(
        "--hub",
        nargs="+",
        action="extend",
        dest="hubs",
        metavar="NAME",
        help="hubs (default: every hub in data/hubs/; the first one leads the notebooks)",
    )
    pipe.add_argument(
        "--out",
        metavar="DIR",
        default=str(Path("outputs") / "pipeline"),
        help="output folder (default: outputs/pipeline)",
    )
    pipe.add_argument(
        "--resume",
        action="store_true",
        help="continue the pipeline in --out, keeping its finished steps",
    )
    pipe.add_argument("--workers", metavar="N", type=int, help="sweep workers (default: CPUs)")
    pipe.set_defaults(func=cmd_pipeline)

    cal = sub.add_parser(
        "calibrate",
        help="fit a hub to its data (SciPy least squares, profile-likelihood intervals)",
        description="Fit the free parameters of a hub's calibration spec "
        "(data/calibration/<hub>.yaml) to its observed series and point targets; report "
        "estimates with 95 % profile-likelihood intervals, identifiability, fit statistics "
        "and an out-of-sample test, and save the result as the hub's next calibrated version "
        "(data/calibrated/<hub>/vN.yaml, run it with --hub <hub>@vN or <hub>@calibrated); "
        "a refit identical to the newest version (same model, spec, data and estimates) "
        "saves nothing. Progress bars in a terminal (HUBSD_PROGRESS=0 turns them off).",
    )
    cal.add_argument(
        "--hub", default="krakow", help="hub with a spec in data/calibration/ (default: krakow)"
    )
    cal.add_argument(
        "--spec",
        metavar="FILE",
        help="calibration spec (default: data/calibration/<hub>.yaml, or the workspace's; for "
        "--hub FILE, the spec there whose hub: names FILE or its stem)",
    )
    cal.add_argument(
        "--data",
        metavar="CSV",
        action="append",
        default=[],
        help="observation file in the format of data/README.md, used with the "
        "bundled one; repeatable",
    )
    cal.add_argument("--starts", metavar="N", type=int, help="local fits (default: the spec's)")
    cal.add_argument(
        "--out",
        metavar="DIR",
        help="report folder (default: "
        "outputs/calibrate-<hub>); replaced if it holds an earlier report",
    )
    cal.add_argument("--model", metavar="MDL", help="Vensim model (default: the hub model)")
    cal.add_argument("--no-intervals", action="store_true", help="skip the profiles")
    cal.add_argument("--no-holdout", action="store_true", help="skip the out-of-sample fit")
    cal.add_argument("--no-save", action="store_true", help="do not save a calibrated version")
    cal.add_argument("--save-dir", metavar="DIR", help=argparse.SUPPRESS)
    cal.set_defaults(func=cmd_calibrate)

    val = sub.add_parser(
        "validate",
        help="run the model-testing battery; a report with figures",
        description="Run the model-testing battery (Sterman, Business Dynamics ch. 21) on a "
        "Vensim model: units, reality checks, conservation of people, no NaN or negative stock "
        "over a Latin hypercube of the parameter table, integration error (TIME STEP halved "
        "and a fine reference), extreme conditions, behaviour reproduction when a calibrated "
        "set exists. Prints the table of checks and writes validation.md, PNG figures, "
        "validation.csv and validation.nc into the output folder (renamed into place when "
        "complete). Exit status 0 when every check passes, 1 when one fails, 2 for bad input.",
    )
    val.add_argument(
        "--hub",
        help="hub file whose values the runs use (default: krakow for "
        "a model with its parameters, else the model's defaults; 'none' for the "
        "model's defaults)",
    )
    val.add_argument(
        "--checks",
        metavar="FILE",
        help="reality-check file (default: <model>.checks.yaml beside the model, if any)",
    )
    val.add_argument("--model", metavar="MDL", help="Vensim model file (default: models/hub.mdl)")
    val.add_argument(
        "--samples",
        metavar="N",
        type=int,
        default=None,
        help="Latin hypercube samples (default: 1000)",
    )
    val.add_argument(
        "--seed",
        metavar="S",
        type=int,
        default=None,
        help="Latin hypercube seed (default: 20251125)",
    )
    val.add_argument(
        "--out",
        metavar="DIR",
        help="report folder (default: outputs/validate-<hub or model name>); replaced if it "
        "holds an earlier validation report",
    )
    val.set_defaults(func=cmd_validate)
    add_init_parser(sub)  # hubsd init (hubsd.cli.init_cmd)
    add_claims_parser(sub)  # hubsd claims (hubsd.cli.claims_cmd)
    add_policy_parser(sub)  # hubsd policy (hubsd.cli.policy_cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hubsd`` command line and return its exit status.

    0 on success, 2 for bad input (one line ``hubsd: error: ...`` on stderr), 1 for a failure
    while running, 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)

    try:
        wanted()  # a bad HUBSD_PROGRESS is refused before anything runs
        return args.func(args)
    except (CliError, ParameterError, HubError, OutputLocked, WorkspaceError, ProgressError) as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. disk full while writing; nothing half-written is left
        if isinstance(exc, BrokenPipeError):
            return _broken_pipe()
        _error(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 1


def _broken_pipe() -> int:
    # e.g. `hubsd params | head`: the reader left; silence the flush at interpreter exit
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    except OSError:
        pass
    return 0


def _error(message: str) -> None:
    line = " ".join(str(message).split())  # always one line
    print(f"{PROG}: error: {line}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# hubsd run: validation


def parse_sets(items: Sequence[str], mdl=DEFAULT_MODEL) -> dict[str, float]:
    """``NAME=VALUE`` strings to validated parameter overrides of model ``mdl`` by Python name.

    Raises
    ------
    CliError, ParameterError
        Without ``=``, an empty name, an unknown name (with a did-you-mean hint), a value that
        is not a number, NaN or infinite, out of range, or one name given twice.
    """
    out: dict[str, float] = {}
    for item in items:
        if "=" not in item:
            raise CliError(
                f"--set {item!r} is not NAME=VALUE (for example --set local_multiplier=1.6)"
            )
        raw_name, raw_value = (s.strip() for s in item.split("=", 1))
        if not raw_name:
            raise CliError(f"--set {item!r} has no parameter name before '='")
        try:
            name = resolve_name(raw_name, mdl)
        except ParameterError as exc:
            raise CliError(f"--set {item!r}: {exc}") from None
        try:
            value = float(raw_value)
        except ValueError:
            raise CliError(f"--set {item!r}: value {raw_value!r} is not a number") from None
        try:
            checked = check_parameters({name: value}, mdl)
        except ParameterError as exc:
            raise CliError(f"--set {item!r}: {exc}") from None
        if name in out:
            raise CliError(f"--set gives parameter {name!r} twice")
        out.update(checked)
    return out


# --------------------------------------------------------------------------------------------
# hubsd run


def cmd_run(args: argparse.Namespace) -> int:
    """``hubsd run``: :func:`hubsd.workflows.runfolder.run_folder`, then print the summary."""
    started = time.perf_counter()
    if args.model is not None and not Path(args.model).is_file():
        raise CliError(f"--model {args.model!r}: no such file (give a Vensim .mdl file)")
    res = run_folder(
        args.hub or _default_hub(),
        args.scenarios,
        parse_sets(args.sets, args.model or DEFAULT_MODEL),
        args.final_time,
        args.out,
        figures=not args.no_figures,
        command=shlex.join([PROG, *args.argv]),
        mdl=args.model or DEFAULT_MODEL,
        scenario_file=args.scenario_file,
    )
    print(res.text)
    print()
    print("Files: " + ", ".join(res.files) + f", {MANIFEST}")
    if res.replaced:
        print(f"Note: {res.replaced}")
    print(f"Wall time: {time.perf_counter() - started:.1f} s")
    print(f"Output folder: {res.target}")
    return 0


def _default_hub() -> str:
    """``krakow`` if it is a known hub, else the only hub of the hubs folder (a workspace's)."""
    known = available()
    if DEFAULT_HUB in known or len(known) != 1:
        return DEFAULT_HUB  # an unknown one is refused by load_hub, naming the known hubs
    return known[0]


# --------------------------------------------------------------------------------------------
# hubsd params / hubs / sectors


def _sector_key(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("_", " ").split())


def cmd_params(args: argparse.Namespace) -> int:
    """``hubsd params``: the parameter table as text or Markdown."""
    tab = table()
    if args.sector is not None:
        known = sorted(set(tab["sector"]))
        keys = {_sector_key(s): s for s in known}
        if _sector_key(args.sector) not in keys:
            raise CliError(
                f"unknown sector {args.sector!r}; sectors with parameters: {', '.join(known)}"
            )
        sector = keys[_sector_key(args.sector)]
    else:
        sector = None
    if args.markdown:
        lines = to_markdown().splitlines()
        if sector is not None:  # keep the header, filter the rows by their sector cell
            header = [ln for ln in lines if not ln.startswith("| `")]
            rows = [
                ln for ln in lines if ln.startswith("| `") and ln.split("|")[7].strip() == sector
            ]
            lines = header + rows
        print("\n".join(lines))
        return 0
    if sector is not None:
        tab = tab[tab["sector"] == sector]
    tab = tab.sort_values(["sector"], kind="stable")
    show = tab[["default", "low", "high", "units", "sector"]].copy()
    for col in ("default", "low", "high"):
        show[col] = show[col].map(lambda v: f"{v:g}")
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(show.to_string())
    print(f"\n{len(show)} parameters. `hubsd params --markdown` adds Vensim names and sources.")
    return 0


def cmd_hubs(args: argparse.Namespace) -> int:
    """``hubsd hubs``: every hub file with its name and description."""
    hubs = available()
    if not hubs:
        print(f"no hub files in {HUBS_DIR}")
        return 1
    status = 0
    for hub in hubs:
        try:
            info = load_hub(hub)
        except (HubError, ParameterError) as exc:
            print(f"{hub}: INVALID: {' '.join(str(exc).split())}")
            status = 1
            continue
        print(f"{hub}: {info['name']} ({len(info['parameters'])} parameters set)")
        for line in textwrap.wrap(" ".join(info["description"].split()), width=88):
            print(f"    {line}")

        found = versions(hub)
        if found:
            print(
                f"    calibrated: {', '.join(found)} (run with --hub {hub}@{found[-1]} or "
                f"{hub}@calibrated; {CALIBRATED_DIR / hub}/)"
            )
    return status


def cmd_sectors(args: argparse.Namespace) -> int:
    """``hubsd sectors``: the sectors and the inputs each takes from the others."""
    for sector in sectors():
        inputs = sector_inputs(sector)
        print(f"{sector}: {len(inputs)} exogenous input(s)")
        text = ", ".join(inputs) if inputs else "(none)"
        for line in textwrap.wrap(text, width=88):
            print(f"    {line}")
    return 0


# --------------------------------------------------------------------------------------------
# hubsd sweep


def cmd_report(args: argparse.Namespace) -> int:
    """``hubsd report``: HTML per notebook plus index.html; prints the index's path."""
    try:
        index = build_report(args.notebooks, args.out)
    except ReportError as exc:
        raise CliError(str(exc)) from None
    print(f"Report: {index}")
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    """``hubsd pipeline``: the main job; prints the report's path and the wall time."""
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be at least 1, got {args.workers}")
    hubs = None
    if args.hubs:  # Kraków leads unless the user names another hub first
        hubs = list(dict.fromkeys(args.hubs))
    try:
        manifest = run_pipeline(args.out, hubs, resume=args.resume, workers=args.workers)
    except (PipelineError, SweepError) as exc:
        raise CliError(str(exc)) from None
    print(f"Hubs: {', '.join(manifest['hubs'])}")
    for step, info in manifest["steps"].items():
        print(f"  {step:<40} {info['seconds']:8.1f} s")
    print(f"Wall time: {manifest['wall_seconds']:.0f} s")
    print(f"Report: {manifest['report']}")
    return 0


# --------------------------------------------------------------------------------------------
# hubsd validate

VALIDATE_MANIFEST = "hubsd-validate.json"


def cmd_validate(args: argparse.Namespace) -> int:
    """``hubsd validate``: the battery, its table, a report folder; 1 if a check fails."""
    started = time.perf_counter()

    # --- every check before anything runs or is written --------------------------------
    mdl = Path(args.model) if args.model is not None else DEFAULT_MODEL
    if not str(args.model if args.model is not None else mdl).strip():
        raise CliError("--model is empty; give a Vensim .mdl file")
    samples = LHS_SAMPLES if args.samples is None else args.samples
    seed = LHS_SEED if args.seed is None else args.seed
    if samples < 2:
        raise CliError(f"--samples {samples}: the Latin hypercube needs at least 2 samples")
    if seed < 0:
        raise CliError(f"--seed {seed}: give a whole number >= 0")
    if args.hub is None:
        hub = default_hub(mdl) if mdl.is_file() else None
    elif args.hub.strip().lower() == "none":
        hub = None
    else:
        load_hub_or_parameters(args.hub, mdl)  # HubError names the known hubs
        hub = args.hub.strip()
    name = (hub_name(hub) if hub else mdl.stem).replace("@", "-")
    target = check_out_dir(
        args.out if args.out is not None else OUTPUTS_DIR / f"validate-{name}",
        VALIDATE_MANIFEST,
    )
    try:
        check_inputs(hub=hub, mdl=mdl, checks=args.checks, lhs_samples=samples, seed=seed)
    except ValidationInputError as exc:
        raise CliError(str(exc)) from None

    # --- run -------------------------------------------------------------------------------
    print(
        f"Validating {mdl} ({f'hub {hub}' if hub else 'model defaults'}, {samples} Latin "
        f"hypercube samples) ...",
        file=sys.stderr,
    )
    try:
        report = validate_model(
            hub=hub, mdl=mdl, checks=args.checks, lhs_samples=samples, seed=seed
        )
    except ValidationInputError as exc:
        raise CliError(str(exc)) from None

    # --- write into a temporary folder beside the target, then rename into place --------
    replacing = replaced_note(target, VALIDATE_MANIFEST)
    with atomic_folder(target) as tmp:
        files = report.write(tmp)
        manifest = {
            "command": shlex.join([PROG, *args.argv]),
            "model": str(report.model),
            "model_sha256": report.info.get("model_sha256"),
            "hub": hub,
            "checks": str(report.checks) if report.checks else None,
            "samples": samples,
            "seed": seed,
            "result": report.counts(),
            "passed": report.passed,
            "files": [p.name for p in files],
            "hubsd_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - started, 2),
        }
        (tmp / VALIDATE_MANIFEST).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )

    print(report.format_table())
    print()
    print("Files: " + ", ".join(p.name for p in files) + f", {VALIDATE_MANIFEST}")
    if replacing:
        print(f"Note: {replacing}")
    print(f"Wall time: {time.perf_counter() - started:.1f} s")
    print(f"Report: {target / 'validation.md'}")
    return 0 if report.passed else 1


if __name__ == "__main__":  # python -m hubsd.cli
    sys.exit(main())
