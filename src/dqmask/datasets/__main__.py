"""``python -m dqmask.datasets OUTDIR [--small] [--seed N]``: write every sample."""

from . import main

raise SystemExit(main())
