"""The ``hubsd`` command line: the parser and thin commands over the workflows."""

from hubsd.cli.commands import main

__all__ = ["main"]
