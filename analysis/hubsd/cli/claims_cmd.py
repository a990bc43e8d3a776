"""``hubsd claims``: the claims ledger from the command line (thin: parse, run, write, print).

::

    hubsd claims [--hub H ...] [--members N] [--seed S] [--claims FILE] [--out DIR]

Every claim of ``data/claims.yaml`` is checked against the observed series and a calibrated
ensemble of each hub (:func:`hubsd.studies.claims.claims_ledger`); the ledger is written into
``--out`` (default ``outputs/claims``) as ``claims.csv``, ``claims.nc``, ``claims_boxes.csv``
and ``hubsd-claims.json``, built beside the target and renamed into place when complete, and
its table is printed. Bad input (an unknown hub, a malformed claims file, a bad number or
output folder) ends the command with exit status 2 and one line naming the problem, before
anything runs or is written.
"""

from __future__ import annotations

import argparse
import shlex

from hubsd.inputs.hubs import available
from hubsd.studies.claims import MANIFEST, MEMBERS, SEED, claims_ledger, save_ledger
from hubsd.studies.claims_spec import CLAIMS_FILE, ClaimsError, load_claims
from hubsd.workflows.runfolder import PROG, CliError, run_into_folder


def add_claims_parser(sub) -> argparse.ArgumentParser:
    """Add the ``claims`` subcommand to the ``hubsd`` subparsers ``sub``."""
    claims = sub.add_parser(
        "claims",
        help="the claims ledger: each public claim against the data and the model",
        description="Test every claim of data/claims.yaml: what the observed series say, the "
        "share of a calibrated ensemble's members in which it holds (and under the policy "
        "it is conditional on), the PRIM box of parameters in which it holds, and a verdict "
        "in plain words. Writes claims.csv, claims.nc and claims_boxes.csv into --out and "
        "prints the table.",
    )
    claims.add_argument(
        "--hub",
        nargs="+",
        action="extend",
        dest="hubs",
        metavar="H",
        help="hubs to run (default: every hub; each on its newest calibrated set that loads)",
    )
    claims.add_argument(
        "--members",
        metavar="N",
        type=int,
        default=MEMBERS,
        help=f"ensemble members per hub (default: {MEMBERS})",
    )
    claims.add_argument(
        "--seed",
        metavar="S",
        type=int,
        default=SEED,
        help=f"Latin hypercube seed (default: {SEED})",
    )
    claims.add_argument(
        "--claims",
        metavar="FILE",
        default=str(CLAIMS_FILE),
        help="claims file (default: data/claims.yaml)",
    )
    claims.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output folder (default: outputs/claims); replaced if it holds an earlier ledger",
    )
    claims.set_defaults(func=cmd_claims)
    return claims


def cmd_claims(args: argparse.Namespace) -> int:
    """``hubsd claims``: check every input, run the ledger, write it atomically, print it."""
    if args.members < 2:
        raise CliError(f"--members {args.members}: give at least 2")
    if args.seed < 0:
        raise CliError(f"--seed {args.seed}: give a whole number >= 0")
    hubs = list(dict.fromkeys(args.hubs)) if args.hubs else available()
    try:
        claims = load_claims(args.claims)
    except ClaimsError as exc:
        raise CliError(str(exc)) from None
    done = run_into_folder(
        [hub.split("@")[0] for hub in hubs],  # each runs on its newest calibrated set that loads
        args.out,
        "claims",
        MANIFEST,
        f"Testing {len(claims)} claims on {', '.join(hubs)} ({args.members} members each) ...",
        lambda: claims_ledger(hubs, args.members, args.seed, path=args.claims),
        lambda ledger, target: save_ledger(ledger, target, shlex.join([PROG, *args.argv])),
    )
    ledger = done.result
    notes = [f"Note ({hub}): {note}" for hub, note in ledger.info["hub_set_notes"].items()]
    done.report(
        "\n".join([ledger.format_table(), "", *notes]), "Ledger", done.target / "claims.csv"
    )
    return 0
