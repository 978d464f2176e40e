"""``python -m dqmask`` is the ``dqmask`` command."""

import sys

from .cli import main

sys.exit(main())
