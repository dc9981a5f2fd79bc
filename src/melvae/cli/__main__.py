"""``python -m melvae.cli``: the ``melvae`` command."""

import sys

from melvae.cli import main

sys.exit(main())
