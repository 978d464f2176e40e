"""``dqmask_background``: the automatic background mask of rate models, as a ``user_mask``.

The stpipe form of ``dqmask background``: rate / rateints / cal models of one detector are
combined and clipped (:func:`dqmask.nsclean.core.background_from_exposures`); the result
is an ``ImageModel`` (``CubeModel`` with ``per_integration``) whose SCI is the ``user_mask``
convention (float32, 1.0 = background), the file jwst's ``clean_flicker_noise --user_mask``
reads. Saved with ``save_results`` as ``<root>_user_mask.fits``.

As a hook (``pass_through=True``) the step saves the mask and returns its input unchanged,
so the pipeline goes on with the science data.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from stdatamodels.jwst import datamodels

from ..conventions import Convention, from_bad
from ..errors import InputError
from ..pipeline import _base
from ..pipeline.options import PASS_THROUGH, spec
from . import core as bgalg
from .files import PARAMETERS, UNUSABLE_FLAGS, Exposure, background_from_exposures
from .files import _reference as reference_pixels

__all__ = ["BackgroundStep", "OPTIONS", "exposure_of"]

#: Parameters, named as the ``dqmask background`` options.
OPTIONS = (
    *(o for o in PARAMETERS if o.name != "border"),
    PASS_THROUGH.but(help="return the input unchanged and save the mask (for use as a hook)"),
)


def exposure_of(model: Any) -> Exposure:
    """A rate-like model as an :class:`~dqmask.nsclean.files.Exposure` (planes, usable)."""
    name = getattr(model.meta, "filename", None) or "model"
    data = np.asarray(model.data, dtype=np.float32)
    if data.ndim not in (2, 3):
        raise InputError(name, f"SCI is {data.ndim}-D; expected a 2-D or 3-D rate image")
    planes = data.reshape((-1,) + data.shape[-2:])
    dq = np.broadcast_to(np.asarray(model.dq), data.shape).reshape(planes.shape)
    sub = model.meta.subarray
    where = SimpleNamespace(instrument=str(model.meta.instrument.name or "").upper(),
                            substrt=(sub.xstart or 1, sub.ystart or 1))
    ny, nx = planes.shape[1], planes.shape[2]
    usable = bgalg.usable_pixels(planes, dq, reference_pixels(where, (ny, nx)),
                                 UNUSABLE_FLAGS)
    return Exposure(name, str(model.meta.instrument.detector), planes, usable)


class BackgroundStep(_base.DqmaskStep):
    """Automatic background mask (``user_mask``: 1.0 = background) from rate models."""

    class_alias = "dqmask_background"
    spec = spec(OPTIONS)
    output_suffix = "user_mask"

    def process(self, step_input: Any) -> Any:
        result, models = self.models(step_input)
        exposures = [exposure_of(m) for m in models]
        detectors = {e.detector for e in exposures}
        if len(detectors) != 1:
            raise InputError(None, f"one mask per detector; got {', '.join(sorted(detectors))}")
        try:
            background = background_from_exposures(
                exposures, n_sigma=self.n_sigma, grow=self.grow, min_region=self.min_region,
                per_integration=self.per_integration, stats=self.stats)
        except ValueError as exc:
            raise InputError(None, str(exc)) from None
        mask = self.mask_model(background, models[0])
        if self.pass_through:
            self.save_model(mask, suffix="user_mask", force=True)
            return result
        return mask

    def mask_model(self, background: np.ndarray, like: Any) -> Any:
        """``background`` (bool, True = background) as a user_mask model with ``like``'s meta."""
        sci = from_bad(~background, Convention.USER_MASK)
        model = (datamodels.ImageModel(data=sci) if sci.ndim == 2
                 else datamodels.CubeModel(data=sci))
        model.update(like)
        model.meta.filename = like.meta.filename
        record = f"{int(np.count_nonzero(background))}of{background.size}"
        _base.add_step_record(model, self.class_alias, record,
                              {"inputs": 1, "n_sigma": self.n_sigma, "grow": self.grow,
                               "stats": self.stats})
        return model
