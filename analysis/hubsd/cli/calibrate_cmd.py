"""``hubsd calibrate``: check the spec and data, fit, write the report, save a version (thin).

The parser is built in :mod:`hubsd.cli.commands`; the work is
:func:`hubsd.calibration.calibrate.calibrate` and :mod:`hubsd.calibration.store`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hubsd.calibration.calibrate import calibrate
from hubsd.calibration.spec import find_spec, load_spec, spec_file
from hubsd.calibration.store import (
    check_report_dir,
    identical_version,
    save_calibrated,
    write_report,
)
from hubsd.core.atomic import folder_lock, replaced_note
from hubsd.core.paths import DEFAULT_MODEL, OUTPUTS_DIR, writable_calibrated_dir
from hubsd.inputs.calibrated import CalibrationError
from hubsd.inputs.hubs import hub_name, is_path
from hubsd.inputs.observations import bundled_files
from hubsd.workflows.runfolder import PROG, CliError


def _error(message: str) -> None:
    line = " ".join(str(message).split())  # always one line
    print(f"{PROG}: error: {line}", file=sys.stderr)


def _spec_of(args: argparse.Namespace) -> tuple[Path, str | None]:
    """The spec file and the hub that overrides its ``hub:`` (None: the spec's own).

    ``--spec`` wins; a hub file given as a path (``--hub ./lodz.yaml``) has its spec found in
    the calibration folder (:func:`hubsd.calibration.spec.find_spec`) and is the hub fitted;
    a hub name has ``<calibration folder>/<hub>.yaml``.
    """
    if args.spec:
        return Path(args.spec), None
    base, at, version = args.hub.strip().partition("@")
    if is_path(base):
        if not Path(base).expanduser().is_file():
            raise CliError(f"--hub {args.hub!r}: no such hub file")
        return find_spec(base), str(Path(base).expanduser().resolve()) + at + version
    return spec_file(args.hub), None


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``hubsd calibrate``: check the spec and data, fit, write the report, save a version."""
    started = time.perf_counter()
    if args.starts is not None and args.starts < 1:
        raise CliError(f"--starts must be at least 1, got {args.starts}")
    for path in args.data:
        if not Path(path).is_file():
            raise CliError(f"--data {path!r}: no such file")
    mdl = Path(args.model) if args.model else DEFAULT_MODEL
    if not mdl.is_file():
        raise CliError(f"--model {str(mdl)!r}: no such file (give a Vensim .mdl file)")
    try:
        spec_path, hub = _spec_of(args)
        # the bundled observations are for the hub model; a model of one's own brings its own
        observed = bundled_files() if mdl == DEFAULT_MODEL else []
        spec = load_spec(spec_path, [*observed, *args.data], mdl, hub=hub)
        save_dir = None if args.no_save else (args.save_dir or writable_calibrated_dir())
    except CalibrationError as exc:
        raise CliError(str(exc)) from None
    if args.spec and spec.name != hub_name(args.hub) and "--hub" in args.argv:
        raise CliError(f"--spec {args.spec!r} is for hub {spec.hub!r}, not {args.hub!r}")
    try:
        out = check_report_dir(args.out or OUTPUTS_DIR / f"calibrate-{spec.name}")
    except CalibrationError as exc:
        raise CliError(f"--out {exc}") from None
    print(
        f"Calibrating {spec.hub}: {len(spec.free)} free, {len(spec.points)} figures ...",
        file=sys.stderr,
    )
    try:
        opts = {"intervals": not args.no_intervals, "holdout": not args.no_holdout}
        with folder_lock(out):
            cal = calibrate(spec, **opts, starts=args.starts, mdl=mdl)
            replacing = replaced_note(out, "report.md")
            report = write_report(cal, out)
    except CalibrationError as exc:
        _error(str(exc))
        return 1
    print(cal.summary())
    if not args.no_save:
        same = identical_version(cal, Path(save_dir))
        if same is not None:  # a new version would change every @calibrated output for nothing
            print(
                f"Calibrated set: unchanged; the refit is identical to {spec.name}@{same.stem} "
                f"({same}: same model, spec and data, same estimates), so no new version was "
                f"saved (run it with `hubsd run --hub {spec.name}@{same.stem}`)"
            )
        else:
            saved = save_calibrated(cal, Path(save_dir))
            print(
                f"Calibrated set: {saved} (run it with `hubsd run --hub {spec.name}@{saved.stem}`)"
            )
    if replacing:
        print(f"Note: {replacing}")
    print(f"Wall time: {time.perf_counter() - started:.1f} s")
    print(f"Report: {report / 'report.md'}")
    return 0
