"""dqmask as jwst pipeline (stpipe) steps.

=====================  ===============================================  ================================
alias (``strun``)      class                                            does
=====================  ===============================================  ================================
``dqmask_apply``       :class:`~dqmask.apply.step.ApplyStep`            mask file / DS9 regions -> DQ
``dqmask_claws``       :class:`~dqmask.claws.step.ClawsStep`            detect in regions + flag
``dqmask_background``  :class:`~dqmask.nsclean.step.BackgroundStep`     user_mask for clean_flicker_noise
``dqmask_user_dq``     :class:`~dqmask.dq_init.step.UserDqStep`         user_supplied_dq for dq_init
=====================  ===============================================  ================================

The steps are registered with stpipe through the ``stpipe.steps`` entry point
(:func:`get_steps`), so ``strun dqmask_apply ...`` and ``--steps.<step>.post_hooks=...`` work
once dqmask is installed. This module imports nothing from jwst, so listing the steps stays
quick; the step modules need the ``jwst`` package (``pip install 'dqmask[pipeline]'``).
See docs/pipeline.md.
"""

from __future__ import annotations

__all__ = ["get_steps", "STEPS"]

#: (fully-qualified class name, strun alias, is a pipeline)
STEPS: tuple[tuple[str, str, bool], ...] = (
    ("dqmask.apply.step.ApplyStep", "dqmask_apply", False),
    ("dqmask.claws.step.ClawsStep", "dqmask_claws", False),
    ("dqmask.nsclean.step.BackgroundStep", "dqmask_background", False),
    ("dqmask.dq_init.step.UserDqStep", "dqmask_user_dq", False),
)


def get_steps() -> list[tuple[str, str, bool]]:
    """The steps dqmask provides, for stpipe's ``stpipe.steps`` entry point."""
    return list(STEPS)
