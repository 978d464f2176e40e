"""``dqmask_user_dq``: the ``user_supplied_dq`` file of jwst's ``dq_init`` from masks/regions.

Takes an exposure model (``uncal``, ramp, rate: only its frame shape, WCS and name are used)
and returns a ``MaskModel`` whose ``DQ`` (uint32, JWST pixel flags; ``flags`` where the
mask or regions are set, 0 elsewhere) is what ``dq_init --user_supplied_dq`` ORs into
PIXELDQ: jwst reads it with ``fits.getdata``, which finds it as the first image of the
saved file (``<root>_user_dq.fits`` with ``save_results``).

As a hook (``pass_through=True``) it saves the file and returns its input unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stdatamodels.jwst import datamodels

from ..apply import core as alg
from ..apply.step import OPTIONS as APPLY_OPTIONS
from ..apply.step import ApplyStep, flags_value
from ..errors import InputError
from ..pipeline import _base
from ..pipeline.options import PASS_THROUGH, spec

__all__ = ["UserDqStep", "OPTIONS"]

_KEEP = ("mask", "region", "mask_convention", "mask_flags", "flags", "grow", "max_fraction",
         "region_mode")

#: Parameters: the ``dqmask apply`` ones that make the mask and its flags.
OPTIONS = (
    *(o for o in APPLY_OPTIONS if o.name in _KEEP),
    PASS_THROUGH.but(help="return the input unchanged and save the user DQ (for use as a hook)"),
)


class UserDqStep(_base.DqmaskStep):
    """A ``user_supplied_dq`` model (DQ uint32 flags) for one exposure's frame."""

    class_alias = "dqmask_user_dq"
    spec = spec(OPTIONS)
    output_suffix = "user_dq"
    bad_for = ApplyStep.bad_for

    def process(self, step_input: Any) -> Any:
        if not self.mask and not self.region:
            raise InputError(None, "dqmask_user_dq needs mask or region")
        result, models = self.models(step_input)
        if len(models) != 1:
            raise InputError(None, "dqmask_user_dq makes one file for one exposure")
        model = models[0]
        shape = tuple(np.shape(model.data)[-2:])
        bad = self.bad_for(model, shape)
        stats = alg.mask_stats([bad])
        if stats.fraction > self.max_fraction:
            raise InputError(model.meta.filename, f"mask covers {100 * stats.fraction:.1f}% "
                                                  f"of the pixels, above max_fraction "
                                                  f"{self.max_fraction:g}; refused")
        flags = flags_value(self.flags)
        dq = alg.or_flags(np.zeros(shape, dtype=np.uint32), bad, flags)
        out = datamodels.MaskModel(dq=dq)
        out.update(model)
        out.meta.filename = model.meta.filename
        _base.add_step_record(out, self.class_alias, alg.mask_record([bad], flags),
                              {"npix": stats.masked, "flags": flags})
        if self.pass_through:
            self.save_model(out, suffix="user_dq", force=True)
            return result
        return out
