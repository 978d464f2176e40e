"""Mask files of every kind: read them as ``bad`` planes, write them in a chosen convention.

Input specifications
--------------------
A mask input is written ``PATH[CHIP]@CONVENTION``; both suffixes are optional:

* ``PATH`` ending in ``.reg`` (or ``.region``): DS9 region file, painted onto the image
  planes of a reference (``like``) through :mod:`dqmask.io.regions` (image, physical and sky
  frames; ``-`` shapes exclude). Result True = inside the regions.
* any other ``PATH``: a FITS file read with the rules of ``dqmask apply``
  (:func:`dqmask.steps.apply.read_mask`, so both commands read a file the same way):
  ``DQ`` extensions -> ``dq`` (bad where ``dq & flags``, default any bit); ``DQMCONV``
  keyword; Crab.Toolkit.JWST seed / zeroonemask; uint8 -> NSClean ``background``; int16 ->
  drizzlepac ``good``; float JWST model -> ``user_mask``; other 0/1 integers -> ``bad``.
  One plane per chip (``SCI`` / ``DQ`` extensions in EXTVER order).
* ``[CHIP]``: keep only chip number CHIP (1-based, EXTVER order), e.g. ``flt.fits[2]``.
* ``@CONVENTION``: read as this convention instead of guessing (``bad``, ``good``,
  ``background``, ``user_mask``, ``dq``, ``seed``).

Output conventions
------------------
``bad``         primary uint8 (1 = bad), ``DQMCONV = 'bad'``; several chips: one ``SCI``
                extension per chip.
``good``        primary int16 (1 = good, drizzlepac static mask), ``DQMCONV = 'good'``.
``background``  NSClean layout (primary uint8, 1 = background) via
                :mod:`dqmask.io.background_mask`; one chip only.
``user_mask``   jwst ``clean_flicker_noise`` ``user_mask`` (ImageModel, SCI float32,
                1.0 = background) via :mod:`dqmask.io.background_mask`; one chip only.
``dq``          jwst ``dq_init --user_supplied_dq`` layout (primary uint32, standard pixel
                flags, ``DQ_CONV = 'standard'``; same layout as
                :func:`dqmask.io.mask_ref.write_user_dq`); several chips: ``DQ`` extensions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..conventions import DEFAULT_DQ_FLAGS, Convention, from_bad
from ..errors import InputError
from ..flags import parse_flags
from .background_mask import write_background_mask
from .fits import add_provenance, open_fits, write_hdulist

__all__ = [
    "READ_CONVENTIONS",
    "WRITE_CONVENTIONS",
    "MaskSpec",
    "MaskData",
    "Reference",
    "parse_spec",
    "is_region_file",
    "reference_of",
    "read_mask_file",
    "read_dq_planes",
    "write_mask",
]

READ_CONVENTIONS = ("bad", "good", "background", "user_mask", "dq", "seed")
WRITE_CONVENTIONS = ("bad", "good", "background", "user_mask", "dq")
_REGION_SUFFIXES = (".reg", ".region")
_SPEC_RE = re.compile(r"^(?P<path>.+?)(?:\[(?P<chip>\d+)\])?(?:@(?P<conv>[a-z_]+))?$")


@dataclass(frozen=True)
class MaskSpec:
    """A parsed ``PATH[CHIP]@CONVENTION`` input (see the module docstring)."""

    path: str
    chip: int | None = None
    convention: str | None = None

    @property
    def is_region(self) -> bool:
        return is_region_file(self.path)


@dataclass(frozen=True)
class MaskData:
    """A mask read from one input.

    Attributes
    ----------
    path : str
        The input file.
    planes : tuple of ndarray of bool
        ``bad`` convention (True = bad / inside the regions), one 2-D plane per chip.
    convention : str
        How it was read (``region`` for DS9 files).
    reason : str
        Why that convention (for the report).
    """

    path: str
    planes: tuple[np.ndarray, ...]
    convention: str
    reason: str

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(p.shape for p in self.planes)


@dataclass(frozen=True)
class Reference:
    """The image planes region files are painted on.

    Attributes
    ----------
    path : str or None
        Where the shapes come from.
    shapes : tuple of (ny, nx)
        One per chip.
    headers : tuple of Header or None
        The chips' SCI headers (WCS for sky regions, LTV/LTM for physical ones), or None.
    """

    path: str | None
    shapes: tuple[tuple[int, int], ...]
    headers: tuple[fits.Header | None, ...]


def parse_spec(text: str) -> MaskSpec:
    """Split ``PATH[CHIP]@CONVENTION``; an existing file named literally wins.

    Raises
    ------
    InputError
        Unknown convention or chip 0.
    """
    text = os.fspath(text)
    if os.path.exists(text):
        return MaskSpec(text)
    m = _SPEC_RE.match(text)
    if m is None:  # pragma: no cover - the pattern matches any non-empty string
        return MaskSpec(text)
    conv, chip = m.group("conv"), m.group("chip")
    if conv is not None and conv not in READ_CONVENTIONS:
        raise InputError(m.group("path"), f"unknown mask convention @{conv} (choose from "
                                          f"{', '.join(READ_CONVENTIONS)})")
    if chip is not None and int(chip) < 1:
        raise InputError(m.group("path"), "chip numbers start at 1")
    return MaskSpec(m.group("path"), int(chip) if chip else None, conv)


def is_region_file(path: str | os.PathLike) -> bool:
    """True for DS9 region files (by suffix: ``.reg``, ``.region``)."""
    return os.fspath(path).lower().endswith(_REGION_SUFFIXES)


def reference_of(path: str | os.PathLike) -> Reference:
    """Chip shapes and SCI headers of a FITS file, for painting region files.

    A file with ``SCI`` extensions gives one plane per SCI (EXTVER order); otherwise the
    primary image, or the first image extension.
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        sci = [h for h in hdul if (h.name or "").upper() == "SCI"
               and int(h.header.get("NAXIS", 0)) >= 2]
        if not sci:
            sci = [h for h in hdul if int(h.header.get("NAXIS", 0)) >= 2][:1]
        if not sci:
            raise InputError(path, "no 2-D image to take a reference shape from")
        sci.sort(key=lambda h: int(h.header.get("EXTVER", 1) or 1))
        shapes = tuple((int(h.header["NAXIS2"]), int(h.header["NAXIS1"])) for h in sci)
        headers = tuple(_with_primary_keys(h.header, hdul[0].header) for h in sci)
    return Reference(path, shapes, headers)


def _with_primary_keys(header: fits.Header, primary: fits.Header) -> fits.Header:
    out = header.copy()
    for key in ("LTV1", "LTV2", "LTM1_1", "LTM1_2", "LTM2_1", "LTM2_2"):
        if key not in out and key in primary:
            out[key] = primary[key]
    return out


def read_mask_file(spec: str | MaskSpec, *, flags: str | None = None,
                   reference: Reference | None = None, region_mode: str = "center"
                   ) -> MaskData:
    """Read one mask input into ``bad`` planes.

    Parameters
    ----------
    spec : str or MaskSpec
        ``PATH[CHIP]@CONVENTION`` (see the module docstring).
    flags : str, optional
        ``dq`` inputs: the flags that make a pixel bad (default: any bit set).
    reference : Reference, optional
        Required for region files: the planes to paint on.
    region_mode : {"center", "exact"}
        Region membership (see :mod:`dqmask.io.regions`).

    Returns
    -------
    MaskData
        Planes in the ``bad`` convention.

    Raises
    ------
    InputError
        Unreadable or ambiguous file, chip out of range, region file without a reference.
    """
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.is_region:
        data = _read_regions(spec, reference, region_mode)
    else:
        from ..steps.apply import read_mask  # the one set of FITS mask rules (see docstring)

        loaded = read_mask(spec.path, spec.convention or "auto", flags)
        data = MaskData(loaded.path, loaded.planes, loaded.convention, loaded.reason)
    if spec.chip is not None:
        if spec.chip > len(data.planes):
            raise InputError(spec.path, f"chip {spec.chip} asked, the file has "
                                        f"{len(data.planes)}")
        data = MaskData(data.path, (data.planes[spec.chip - 1],), data.convention,
                        f"{data.reason}; chip {spec.chip}")
    return data


def _read_regions(spec: MaskSpec, reference: Reference | None, mode: str) -> MaskData:
    from .regions import regions_to_mask

    if not os.path.isfile(spec.path):
        raise InputError(spec.path, "no such region file")
    if reference is None:
        raise InputError(spec.path, "a region file needs a reference image for its shape "
                                    "(give --like FILE or a FITS mask input)")
    planes = []
    for shape, header in zip(reference.shapes, reference.headers, strict=True):
        try:
            planes.append(regions_to_mask([spec.path], shape, header, mode=mode))
        except InputError:
            raise
        except (ValueError, TypeError, OSError) as exc:
            raise InputError(spec.path, " ".join(str(exc).split())) from None
    where = f" on {reference.path}" if reference.path else ""
    return MaskData(spec.path, tuple(planes), "region", f"DS9 regions{where}")


def read_dq_planes(path: str | os.PathLike) -> tuple[np.ndarray, ...] | None:
    """The raw DQ planes of a file (all bits, dtype kept), or None if it has no DQ.

    ``DQ`` extensions in EXTVER order; else a primary-only integer image written as a user
    DQ file (``DQ_CONV`` or ``DQMCONV = 'dq'``).
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        dq = [h for h in hdul if (h.name or "").upper() == "DQ" and h.data is not None]
        if dq:
            dq.sort(key=lambda h: int(h.header.get("EXTVER", 1) or 1))
            return tuple(np.array(h.data) for h in dq)
        h0 = hdul[0]
        marked = "DQ_CONV" in h0.header or str(h0.header.get("DQMCONV", "")).lower() == "dq"
        if marked and h0.data is not None and h0.data.dtype.kind in "iu":
            return (np.array(h0.data),)
    return None


def write_mask(path: str | os.PathLike, planes: Sequence[np.ndarray], convention: str, *,
               step: str, params: dict, flags: str | int | None = None,
               dq_planes: Sequence[np.ndarray] | None = None,
               like: str | os.PathLike | None = None) -> None:
    """Write ``bad`` planes in a convention (atomically, with provenance).

    Parameters
    ----------
    path : path-like
        Output file.
    planes : sequence of ndarray of bool
        ``bad`` convention (True = bad), one 2-D plane per chip.
    convention : str
        One of :data:`WRITE_CONVENTIONS` (layouts in the module docstring).
    step, params : str, dict
        Provenance record (:func:`~dqmask.io.fits.add_provenance`).
    flags : str or int, optional
        ``dq`` only: value written on bad pixels (default DO_NOT_USE+OTHER_BAD_PIXEL).
    dq_planes : sequence of ndarray, optional
        ``dq`` only: write these integer DQ planes as they are instead (a lossless dq -> dq
        conversion); ``planes`` is then ignored.
    like : path-like, optional
        ``user_mask`` only: a JWST product whose metadata the model copies.

    Raises
    ------
    ValueError
        Unknown convention, or several chips for a one-plane format.
    """
    if convention not in WRITE_CONVENTIONS:
        raise ValueError(f"unknown output convention {convention!r} "
                         f"(choose from {', '.join(WRITE_CONVENTIONS)})")
    planes = [np.asarray(p, dtype=bool) for p in planes]
    if convention in ("background", "user_mask"):
        if len(planes) != 1:
            raise ValueError(f"the {convention} format holds one 2-D mask, not "
                             f"{len(planes)} chips; pick one with FILE[CHIP]")
        fmt = "nsclean" if convention == "background" else "jwst"
        write_background_mask(path, ~planes[0], fmt, step=step, params=params, like=like)
        return
    if convention == "dq":
        value = DEFAULT_DQ_FLAGS if flags is None else parse_flags(flags)
        arrays = (list(dq_planes) if dq_planes is not None
                  else [from_bad(p, Convention.DQ, flags=value) for p in planes])
    else:
        arrays = [from_bad(p, Convention.GOOD) if convention == "good"
                  else p.astype(np.uint8) for p in planes]
    write_hdulist(_hdulist(arrays, convention, step, params), path)


def _hdulist(arrays: list[np.ndarray], convention: str, step: str, params: dict
             ) -> fits.HDUList:
    meaning = {"bad": "1 = bad (masked)", "good": "1 = good (drizzlepac static mask)",
               "dq": "DQ bitfield"}[convention]
    if len(arrays) == 1:
        hdul = fits.HDUList([fits.PrimaryHDU(arrays[0])])
        target = hdul[0].header
    else:
        name = "DQ" if convention == "dq" else "SCI"
        hdul = fits.HDUList([fits.PrimaryHDU()] + [
            fits.ImageHDU(a, name=name, ver=i) for i, a in enumerate(arrays, start=1)])
        for h in hdul[1:]:
            h.header["DQMCONV"] = (convention, meaning)
        target = hdul[0].header
    target["DQMCONV"] = (convention, meaning)
    if convention == "dq" and all(a.dtype == np.uint32 for a in arrays):
        target["DQ_CONV"] = ("standard", "values are standard JWST pixel DQ flags")
    add_provenance(target, step, params)
    return hdul
