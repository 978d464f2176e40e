"""DOLPHOT preparation of whole files: nircammask, nirissmask, acsmask, wfc3mask, splitgroups.

:func:`prepare_file` reads a JWST or HST file, lets :mod:`.jwst` (nircammask, nirissmask)
or :mod:`.hst` (acsmask, wfc3mask) work out what it is the way DOLPHOT does and compute the
prepared science image(s), and writes DOLPHOT's layout - the primary header plus the
converted SCI image(s) - as *standard* FITS (HISTORY, COMMENT, CONTINUE long strings kept;
PCOUNT/GCOUNT written; SCI always float32). The input is rewritten in place atomically by
default, or copied to ``output``. A file whose first extension already carries the
routine's DOL_* tag is refused unchanged (:class:`AlreadyPrepared`). Every problem with an
input raises :class:`~dqmask.errors.InputError` before anything is written.
:func:`~.splitgroups.splitgroups` (in :mod:`.splitgroups`) is re-exported here.

Only the module of the routine run is imported: an HST run never loads :mod:`.jwst`
(nor the JWST flag table), a JWST run never loads :mod:`.hst`.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..errors import AlreadyDoneError, InputError
from ..io.atomic import atomic_output, refuse_read_only, same_file, target_lock
from ..io.fits import add_provenance, open_fits, standard_as_read
from . import core as alg
from .plans import (
    OPTION_FIELDS,
    ROUTINES,
    TAGS,
    ChipPlan,
    MaskOptions,
    applied_options,
    dq_bad_bits,
    reset_notes,
)
from .splitgroups import SplitResult, split_name, splitgroups

__all__ = [
    "MaskOptions", "PrepareResult", "SplitResult", "AlreadyPrepared", "ROUTINES", "TAGS",
    "prepare_file", "detect_routine",
    "splitgroups", "split_name", "ChipPlan", "OPTION_FIELDS", "applied_options",
    "dq_bad_bits", "reset_notes",
]

log = logging.getLogger(__name__)

_OFF_COMMENT = "Origin of subarray relative to full chip"


class AlreadyPrepared(AlreadyDoneError):
    """The file already carries the routine's DOL_* tag; it was left untouched."""

    def __init__(self, path: str | os.PathLike, routine: str, tag: str,
                 where: str = "extension 1") -> None:
        super().__init__(path, routine)
        self.args = (f"{self.path}: already run through {routine} ({tag} in {where}); "
                     f"left unchanged",)

    def __str__(self) -> str:
        return self.args[0]


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def detect_routine(path: str | os.PathLike) -> str:
    """The DOLPHOT mask routine for a file, from TELESCOP / INSTRUME (``dqmask dolphot``)."""
    path = os.fspath(path)
    with open_fits(path) as hdul:
        return _routine_of(hdul, path)


def _routine_of(hdul: fits.HDUList, path: str) -> str:
    head = hdul[0].header
    inst = str(head.get("INSTRUME", "")).strip().upper()
    by_inst = {"NIRCAM": "nircammask", "NIRISS": "nirissmask", "ACS": "acsmask",
               "WFC3": "wfc3mask"}
    if inst in by_inst:
        return by_inst[inst]
    raise InputError(path, f"DOLPHOT has no mask routine for INSTRUME={inst or 'missing'} "
                           "(nircammask, nirissmask, acsmask, wfc3mask)")


@dataclass(frozen=True)
class PrepareResult:
    """One file prepared (or that would be, ``dry_run``) by a DOLPHOT mask routine.

    Attributes
    ----------
    path, output : str
        Input and output (the same file when prepared in place).
    routine : str
        The routine run (``acsmask``...; ``auto`` resolved).
    kind : str
        What the file is (``flt``, ``cal``, ``drizzled``...).
    images : int
        Images (chips) written.
    badpix, saturate, exptime, gain, rdnoise : str, str, float, float, float
        The first image's DOLPHOT cards (BADPIX / SATURATE as written).
    bad, saturated : int
        Pixels set to BADPIX / SATURATE.
    usable_do_not_use : int
        JWST DO_NOT_USE pixels left usable (see docs/dolphot.md).
    dry_run : bool
        Nothing was written.
    """

    path: str
    output: str
    routine: str
    kind: str
    images: int
    badpix: str
    saturate: str
    exptime: float
    gain: float
    rdnoise: float
    bad: int
    saturated: int
    usable_do_not_use: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        """One line: ``IN: ROUTINE prepared KIND in place: N image(s), BADPIX=B, SATURATE=S``."""
        where = "in place" if self.output == self.path else f"-> {self.output}"
        verb = "would prepare" if self.dry_run else "prepared"
        kept = self.usable_do_not_use
        return (f"{self.path}: {self.routine} {verb} {self.kind} {where}: {self.images} "
                f"image(s), BADPIX={self.badpix} SATURATE={self.saturate} "
                f"EXPTIME={self.exptime:g} GAIN={self.gain:g} RDNOISE={self.rdnoise:.4g}; "
                f"{self.bad} bad, {self.saturated} saturated pixels"
                + (f"; {kept} DO_NOT_USE pixels left usable" if kept else ""))


def prepare_file(path: str | os.PathLike, routine: str, options: MaskOptions | None = None, *,
                 output: str | os.PathLike | None = None, pam_dir: str | os.PathLike | None = None,
                 dry_run: bool = False) -> PrepareResult:
    """Run one DOLPHOT mask routine on one file.

    Parameters
    ----------
    path : path-like
        Input FITS file (``.fits`` or ``.fits.gz``).
    routine : str
        ``nircammask``, ``nirissmask``, ``acsmask``, ``wfc3mask`` or ``auto``.
    options : MaskOptions
        The flags in force for this file.
    output : path-like, optional
        Output file; default: rewrite ``path`` in place (atomically).
    pam_dir : path-like, optional
        DOLPHOT's data directory root (``acs/data/wfc1_pam.fits``...); default: compute the
        pixel area from the image's SIP distortion.
    dry_run : bool
        Do everything but write.

    Returns
    -------
    PrepareResult
        What was written (``summary()``: one line).

    Raises
    ------
    InputError
        Anything wrong with the input (nothing written).
    AlreadyPrepared
        The file already carries the routine's tag (nothing written).
    """
    path = os.fspath(path)
    options = options or MaskOptions()
    out = os.fspath(output) if output is not None else path
    in_place = same_file(out, path)
    if in_place and not dry_run:
        refuse_read_only(path)  # before any work (atomic_output checks again)
    lock = contextlib.nullcontext() if dry_run else target_lock(out)
    with lock:  # held from the read (and its already-prepared guard) to the write
        return _prepare(path, routine, options, out, in_place, pam_dir, dry_run)


def _prepare(path: str, routine: str, options: MaskOptions, out: str, in_place: bool,
             pam_dir, dry_run: bool) -> PrepareResult:
    with open_fits(path) as hdul:
        if routine == "auto":
            _guard_any(hdul, path)
            routine = _routine_of(hdul, path)
        _guard(hdul, path, routine)
        standard = standard_as_read(hdul)
        primary = hdul[0].header.copy()
        if routine in ("nircammask", "nirissmask"):
            from . import jwst  # only JWST runs load the JWST rules and flag table

            plans, kind = jwst.plans(hdul, path, routine, options)
        else:
            from . import hst

            plans, kind = hst.plans(hdul, path, routine, options, pam_dir)
    hdus = _assemble(primary, plans, routine, options, pam_dir)
    if not dry_run:
        _write(hdus, out, path, verify=not standard)
    bad = sum(int(np.count_nonzero(p.prepared.bad)) for p in plans)
    sat = sum(int(np.count_nonzero(p.prepared.sat)) for p in plans)
    first = plans[0].cards
    kept = sum(p.usable_do_not_use for p in plans)
    return PrepareResult(path, path if in_place else out, routine, kind, len(plans),
                         alg.fitsnum(first.badpix).strip(), alg.fitsnum(first.saturate).strip(),
                         first.exptime, first.gain, first.rdnoise, bad, sat, kept, dry_run)


# --------------------------------------------------------------------------------------------
# Guard
# --------------------------------------------------------------------------------------------


def _guard(hdul: fits.HDUList, path: str, routine: str) -> None:
    """Refuse a file the routine already prepared: its tag in extension 1 (DOLPHOT 2.0) or
    in the primary header (3.1, and ``splitgroups`` chips of a prepared file)."""
    tag = TAGS[routine]
    for index, where in ((1, "extension 1"), (0, "the primary header")):
        if index < len(hdul) and tag in hdul[index].header:
            raise AlreadyPrepared(path, routine, tag, where)


def _guard_any(hdul: fits.HDUList, path: str) -> None:
    for routine in TAGS:
        _guard(hdul, path, routine)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def _put_card(header: fits.Header, keyword: str, image: str) -> None:
    """Insert an exact card image, replacing a card of the same keyword in place."""
    card = fits.Card.fromstring(image)
    card.verify("silentfix")  # as the whole-file verify before writing would (see _write)
    if keyword in header:
        idx = header.index(keyword)
        del header[idx]
        header.insert(idx, card)
    else:
        header.append(card, end=True)


def _assemble(primary: fits.Header, plans: list[ChipPlan], routine: str, options: MaskOptions,
              pam_dir) -> fits.HDUList:
    if "NEXTEND" in primary:
        primary["NEXTEND"] = len(plans)
    params = applied_options(routine, options)
    if pam_dir is not None and routine in ("acsmask", "wfc3mask"):
        params["pam_dir"] = os.fspath(pam_dir)
    add_provenance(primary, routine, params)
    hdus: list[fits.hdu.base._BaseHDU] = [fits.PrimaryHDU(header=primary)]
    for plan in plans:
        head = plan.header
        for keyword, image in alg.insertcards(plan.cards):
            _put_card(head, keyword, image)
        keyword, value, comment = plan.tag
        _put_card(head, keyword, alg.tag_image(keyword, value, comment))
        if plan.offset[0]:
            _put_card(head, "DOL_OFFX", alg.tag_image("DOL_OFFX", plan.offset[0], _OFF_COMMENT))
        if plan.offset[1]:
            _put_card(head, "DOL_OFFY", alg.tag_image("DOL_OFFY", plan.offset[1], _OFF_COMMENT))
        for line in plan.history + plan.prepared.notes:
            head.add_history(f"dqmask {routine}: {line}")
        hdus.append(fits.ImageHDU(data=plan.prepared.values, header=head))
    return fits.HDUList(hdus)


def _write(hdul: fits.HDUList, out: str, path: str, *, verify: bool = True) -> None:
    """Write atomically (gzip-compressed for ``.gz``); a header astropy cannot make standard
    (after its silent fixes) is an InputError and nothing is replaced.

    ``verify=False`` when the input's cards were all standard as read
    (:func:`~dqmask.io.fits.standard_as_read`): the cards added here are verified one by one
    as they are made (:func:`_put_card`, and astropy's own setters), so checking every
    copied card again would find nothing.
    """
    if verify:
        try:
            hdul.verify("silentfix")
        except fits.VerifyError as exc:
            raise InputError(path, f"header cannot be written as standard FITS: "
                                   f"{exc}") from None
    # fixed above: astropy need not verify every card a second time while writing
    with atomic_output(out) as fh:
        if out.lower().endswith(".gz"):
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
                hdul.writeto(gz, output_verify="ignore")
        else:
            hdul.writeto(fh, output_verify="ignore")

