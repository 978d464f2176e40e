"""``python -m dqmask`` is the ``dqmask`` command."""

from .cli import console

console()
