"""``dqmask_apply``: flag the pixels of a mask file or DS9 regions in a model's DQ.

The stpipe form of ``dqmask apply``: rate / rateints / cal models get the flags in ``DQ``,
ramp models (right after ``dq_init``) in ``PIXELDQ``. ``mask`` and ``region`` may hold
``{root}`` (the exposure's file name up to its last ``_suffix``), so one step serves every
exposure of a pipeline run.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from ..errors import InputError
from ..flags import JWST_PIXEL, parse_flags
from ..pipeline import _base
from ..pipeline.options import spec
from .files import JWST_DEFAULT_FLAGS, PARAMETERS

__all__ = ["ApplyStep", "OPTIONS", "flags_value"]

log = logging.getLogger(__name__)

#: Parameters: the ``dqmask apply`` ones (declared once, in :data:`.files.PARAMETERS`);
#: ``bad_flags`` keeps the step's shipped name ``mask_flags`` (parameter files use it).
OPTIONS = tuple(o.but(name="mask_flags", aliases=()) if o.name == "bad_flags" else o
                for o in PARAMETERS)


def flags_value(expression: str | None) -> int:
    """JWST pixel flags from ``DO_NOT_USE+OTHER_BAD_PIXEL``-style text (None: the default)."""
    try:
        return parse_flags(expression or JWST_DEFAULT_FLAGS, JWST_PIXEL)
    except ValueError as exc:
        raise InputError(None, f"flags: {exc}") from None


class ApplyStep(_base.DqmaskStep):
    """OR DQ flags into rate/cal ``DQ`` or ramp ``PIXELDQ`` where a mask or regions are set.

    Input and output: a JWST datamodel (or a container of them), modified in memory; nothing
    is written unless ``save_results``. A model whose history already records the same mask
    with the same flags is returned unchanged.
    """

    class_alias = "dqmask_apply"
    spec = spec(OPTIONS)
    output_suffix = "masked"

    def process(self, step_input: Any) -> Any:
        if not self.mask and not self.region:
            raise InputError(None, "dqmask_apply needs mask or region")
        result, models = self.models(step_input)
        flags = flags_value(self.flags)
        for model in models:
            self.apply_one(model, flags)
        return result

    def bad_for(self, model: Any, shape: tuple[int, int]) -> np.ndarray:
        """The ``bad`` mask (True = flag) of ``mask`` and ``region`` for one model."""
        bad = np.zeros(shape, dtype=bool)
        for path in _base.resolve_paths(self.mask, model):
            bad |= _base.mask_bad(path, shape, self.mask_convention, self.mask_flags)
        paths = _base.resolve_paths(self.region, model)
        if paths:
            inside, holes = _base.regions_bad(model, paths, shape, self.region_mode)
            bad |= inside & ~holes
        return _base.grown(bad, self.grow)

    def apply_one(self, model: Any, flags: int) -> None:
        dq = getattr(model, _base.dq_attribute(model))
        bad = self.bad_for(model, tuple(dq.shape[-2:]))
        params: dict = {}
        if self.mask:
            params["mask"] = _names(_base.resolve_paths(self.mask, model))
        if self.region:
            params["regions"] = _names(_base.resolve_paths(self.region, model))
        _base.flag_model(model, bad, flags, alias=self.class_alias, params=params,
                         zero_data=self.zero_data, max_fraction=self.max_fraction,
                         force=self.force)


def _names(paths: list[str]) -> str:
    return ",".join(os.path.basename(p) for p in paths)
