"""``dqmask_claws``: detect claws / wisps inside DS9 regions and flag them (the seed workflow).

The stpipe form of ``dqmask detect`` followed by ``dqmask apply --mask <zeroonemask>``: the
detection (:func:`dqmask.claws.core.detect`) runs on the model's 2-D SCI inside the
``region`` shapes and its 0/1 mask is OR-ed into the model's DQ. ``region`` usually holds
``{root}`` (``'{root}_cal_claws.pix.reg'``): one region file per exposure.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..apply.step import OPTIONS as APPLY_OPTIONS
from ..apply.step import flags_value
from ..errors import InputError
from ..pipeline import _base
from ..pipeline.options import Option, spec
from .core import DetectParams, detect
from .files import PARAMETERS
from .options import EXCLUDE_REGION

__all__ = ["ClawsStep", "OPTIONS"]

_SHARED = {o.name: o for o in APPLY_OPTIONS}

#: Parameters, named as the ``dqmask detect`` / ``dqmask apply`` options.
OPTIONS = (
    Option("region", "force_list", None,
           "DS9 region file(s) to detect inside (include regions); may hold {root}"),
    EXCLUDE_REGION.but(help="DS9 region file(s) never to detect inside; may hold {root}"),
    *PARAMETERS,
    _SHARED["flags"], _SHARED["zero_data"], _SHARED["max_fraction"], _SHARED["force"],
)


class ClawsStep(_base.DqmaskStep):
    """Detect emission inside DS9 regions of a rate / cal model and flag it in DQ.

    Input and output: a 2-D JWST image model (or a container of them), modified in memory;
    nothing is written unless ``save_results``.
    """

    class_alias = "dqmask_claws"
    spec = spec(OPTIONS)
    output_suffix = "masked"

    def process(self, step_input: Any) -> Any:
        if not self.region:
            raise InputError(None, "dqmask_claws needs region (the regions to detect inside)")
        result, models = self.models(step_input)
        flags = flags_value(self.flags)
        for model in models:
            self.flag_claws(model, flags)
        return result

    def params(self) -> DetectParams:
        return DetectParams(sigma=self.sigma, smooth=self.smooth, minpixarea=self.minpixarea,
                            ignore_background=self.ignore_background,
                            box_size=self.box_size, compat=self.compat)

    def detection_mask(self, model: Any) -> np.ndarray:
        """The detected pixels (``bad``: True = claw) of one model."""
        name = getattr(model.meta, "filename", None)
        image = np.asarray(model.data, dtype=float)
        if image.ndim != 2:
            raise InputError(name, f"SCI is {image.ndim}-D; dqmask_claws needs a 2-D rate/cal")
        crab = self.compat == "crab"
        inside, holes = _base.regions_bad(model, _base.resolve_paths(self.region, model),
                                          image.shape, crab=crab)
        include = inside & ~holes
        exclude = None
        if self.exclude_region:
            x_in, x_holes = _base.regions_bad(
                model, _base.resolve_paths(self.exclude_region, model), image.shape,
                crab=crab)
            exclude = x_in & ~x_holes
        if not include.any():
            raise InputError(name, "the include regions cover no pixel of this exposure")
        try:
            det = detect(image, include, exclude, np.asarray(model.dq), self.params())
        except ValueError as exc:
            raise InputError(name, str(exc)) from None
        return det.zeroonemask.astype(bool)

    def flag_claws(self, model: Any, flags: int) -> None:
        bad = self.detection_mask(model)
        params = {"regions": ",".join(os.path.basename(r) for r in
                                      _base.resolve_paths(self.region, model)),
                  "sigma": self.sigma, "smooth": self.smooth, "minpixarea": self.minpixarea}
        _base.flag_model(model, bad, flags, alias=self.class_alias, params=params,
                         zero_data=self.zero_data, max_fraction=self.max_fraction,
                         force=self.force)
