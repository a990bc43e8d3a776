"""``hubsd policy``: robust policy design for one hub (thin: parse, check, run, write, print).

::

    hubsd policy --hub H [--budget EUR] [--members N] [--generations G] [--population P]
                 [--seed S] [--objective NAME ...] [--lever NAME ...] [--out DIR]

Searches the decision variables of ``data/policy_design.yaml`` with NSGA-II over an ensemble of
the hub (:func:`hubsd.workflows.policyrun.policy_study`) and writes the front, the recommended
mix, the PRIM boxes where it still fails and the figure into ``--out`` (default
``outputs/policy-<hub>``), built beside it and renamed into place when complete. Bad input (an
unknown hub, lever or objective, a budget that is negative or not a number, fewer than 2
members) ends the command with exit status 2 and one line naming the problem, before anything
runs or is written.
"""

from __future__ import annotations

import argparse
import shlex

from hubsd.inputs.hubs import load_hub
from hubsd.studies.policy_spec import (
    DEFAULT_OBJECTIVES,
    DESIGN_FILE,
    check_budget,
    check_objectives,
    load_design,
)
from hubsd.workflows.policyrun import MANIFEST, policy_study, save_policy
from hubsd.workflows.runfolder import PROG, CliError, run_into_folder


def add_policy_parser(sub) -> argparse.ArgumentParser:
    """Add the ``policy`` subcommand to the ``hubsd`` subparsers ``sub``."""
    p = sub.add_parser(
        "policy",
        help="robust policy design: Pareto front of lever mixes over an ensemble, PRIM boxes",
        description="Search lever sizes and start years (data/policy_design.yaml) with NSGA-II, "
        "each candidate scored over an ensemble of the hub's uncertain parameters and AI "
        "capability; write the Pareto front, the recommended mix (minimax regret), the PRIM "
        "boxes where it still fails and a figure into --out.",
    )
    p.add_argument("--hub", required=True, metavar="H", help="hub or calibrated set")
    p.add_argument(
        "--budget",
        metavar="EUR",
        default=None,
        help="cap on the 90th-percentile discounted programme cost [EUR]",
    )
    p.add_argument(
        "--members", metavar="N", type=int, default=1000, help="ensemble members (default: 1000)"
    )
    p.add_argument(
        "--generations", metavar="G", type=int, default=20, help="NSGA-II generations (default: 20)"
    )
    p.add_argument(
        "--population",
        metavar="P",
        type=int,
        default=20,
        help="candidates per generation (default: 20)",
    )
    p.add_argument("--seed", metavar="S", type=int, default=0, help="seed (default: 0)")
    p.add_argument(
        "--objective",
        nargs="+",
        action="extend",
        dest="objectives",
        metavar="NAME",
        help="objectives to minimise (default: " + ", ".join(DEFAULT_OBJECTIVES) + ")",
    )
    p.add_argument(
        "--lever",
        nargs="+",
        action="extend",
        dest="levers",
        metavar="NAME",
        help="decision variables to search (default: all of the table)",
    )
    p.add_argument(
        "--design",
        metavar="FILE",
        default=str(DESIGN_FILE),
        help="decision table (default: data/policy_design.yaml)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output folder (default: outputs/policy-<hub>); replaced if it holds "
        "an earlier policy study",
    )
    p.set_defaults(func=cmd_policy)
    return p


def cmd_policy(args: argparse.Namespace) -> int:
    """``hubsd policy``: check every input, run the study, write it atomically, print a summary."""
    if args.members < 2:
        raise CliError(f"--members {args.members}: give at least 2")
    for flag in ("generations", "population"):
        if getattr(args, flag) < (2 if flag == "population" else 1):
            raise CliError(f"--{flag} {getattr(args, flag)}: too small")
    if args.seed < 0:
        raise CliError(f"--seed {args.seed}: give a whole number >= 0")
    budget = check_budget(args.budget)
    objectives = list(args.objectives or DEFAULT_OBJECTIVES)
    check_objectives(objectives)
    load_hub(args.hub)  # before the design, whose hub sizes need the hub
    load_design(args.design, hub=args.hub).select(args.levers)
    done = run_into_folder(
        [args.hub],
        args.out,
        f"policy-{args.hub.replace('@', '-')}",
        MANIFEST,
        f"Robust policy design for {args.hub}: {args.generations} generations x "
        f"{args.population} candidates x {args.members} members ...",
        lambda: policy_study(
            args.hub,
            objectives,
            budget,
            args.members,
            args.generations,
            args.population,
            args.seed,
            args.levers,
            args.design,
        ),
        lambda study, target: save_policy(study, target, shlex.join([PROG, *args.argv])),
    )
    done.report(done.result.summary(), "Front", done.target / "front.csv")
    return 0
