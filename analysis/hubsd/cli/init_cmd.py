"""``hubsd init DIR``: make a user workspace (thin: parse, make, print).

::

    hubsd init DIR [--model MDL]

The folder gets a ``hubsd.toml`` and copies of the bundled hub files, calibration specs,
calibrated sets, observations, scenarios and notebooks
(:func:`hubsd.workflows.workspace.init_workspace`); every hubsd command run inside it uses them
and writes its calibrated sets and outputs there. A folder that exists and is not empty, or a
model that is not a ``.mdl`` file, ends the command with exit status 2 and one line.
"""

from __future__ import annotations

import argparse
import shlex

from hubsd.workflows.workspace import init_workspace


def add_init_parser(sub) -> argparse.ArgumentParser:
    """Add the ``init`` subcommand to the ``hubsd`` subparsers ``sub``."""
    init = sub.add_parser(
        "init",
        help="make a workspace: hubsd.toml and copies of the bundled hubs, specs and data",
        description="Make a workspace folder with a hubsd.toml and copies of the bundled hub "
        "files, calibration specs, calibrated sets, observations, scenarios and notebooks to "
        "edit. Every hubsd command run inside it uses its files and writes its calibrated "
        "sets and outputs there.",
    )
    init.add_argument("folder", metavar="DIR", help="new (or empty) workspace folder")
    init.add_argument(
        "--model", metavar="MDL", help="a Vensim model of your own, copied into the workspace"
    )
    init.set_defaults(func=cmd_init)
    return init


def cmd_init(args: argparse.Namespace) -> int:
    """``hubsd init DIR``: a workspace with hubsd.toml and copies of the bundled files."""
    folder = init_workspace(args.folder, args.model)
    print(f"Workspace: {folder}")
    print(f"Edit {folder / 'hubsd.toml'}; hubs in hubs/, specs in calibration/, data in observed/.")
    print(f"Use it from inside: cd {shlex.quote(str(folder))} && hubsd hubs")
    return 0
