"""``python -m hubsd.cli``: the ``hubsd`` command line."""

import sys

from hubsd.cli.commands import main

sys.exit(main())
