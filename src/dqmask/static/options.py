"""Parameters of ``dqmask static`` / :func:`dqmask.static.files.make_static_masks`.

Kept apart from ``files`` so that the command line can build its options (and answer
``dqmask static --help``) without importing numpy or astropy.
"""

from __future__ import annotations

from ..pipeline.options import Option

__all__ = ["PARAMETERS", "DEFAULT_SIG"]

#: drizzlepac's default ``static_sig`` (``dqmask.static.core.DEFAULT_SIG``, the same number).
DEFAULT_SIG = 4.0

#: Parameters of ``static`` (``dqmask static`` options and ``make_static_masks``
#: defaults), declared once.
PARAMETERS: tuple[Option, ...] = (
    Option("sig", "float", DEFAULT_SIG, "static_sig: rms below the mode that is bad",
           above=0.0),
    Option("good_flags", "string", None,
           "also mask DQ-flagged pixels as AstroDrizzle does with final_bits=BITS (bits "
           "listed are ignored, i.e. good; '~' inverts; names allowed)",
           flag="--good-flags", aliases=("--dq-bits",), metavar="BITS"),
)
