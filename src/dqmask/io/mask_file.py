"""Mask files of every kind: read them as ``bad`` planes, write them in a chosen convention.

Input specifications
--------------------
A mask input is written ``PATH[CHIP]@CONVENTION``; both suffixes are optional:

* ``PATH`` ending in ``.reg`` (or ``.region``): DS9 region file, painted onto the image
  planes of a reference (``like``) through :mod:`dqmask.io.regions` (image, physical and sky
  frames; ``-`` shapes exclude). Result True = inside the regions.
* any other ``PATH``: a FITS file read by :func:`read_fits_mask` with the rules below (the
  ones ``dqmask apply --mask`` uses too, so every command reads a file the same way).
  One plane per chip (``SCI`` / ``DQ`` extensions in EXTVER order).
* ``[CHIP]``: keep only chip number CHIP (1-based, EXTVER order), e.g. ``flt.fits[2]``.
* ``@CONVENTION``: read as this convention instead of guessing (``bad``, ``good``,
  ``background``, ``user_mask``, ``dq``, ``seed``).

``--mask-convention CONV`` (every command that reads a mask file) is the same thing spelled
as an option: it applies to each input without an ``@`` suffix; an input whose ``@`` suffix
says otherwise is refused (:func:`mask_spec` does both, in one place).

Reading a FITS mask file (``convention="auto"``)
------------------------------------------------
The first rule that applies decides; the choice is reported. Rules 2-7 are the mask file
formats of :data:`FORMATS` (a small registry: each :class:`MaskFormat` says how it is
identified and, if dqmask writes it, how it is written; :func:`register` adds one), tried
in order.

1. The file has ``DQ`` extensions (a JWST MASK reference file, a rate/cal/flt file):
   ``dq`` convention, one plane per DQ extension; bad = any bit set (or ``mask_flags``).
2. A ``DQMCONV`` keyword (written by dqmask) names the convention.
3. ``MPIXAREA`` or ``SMOOTH`` keywords (Crab.Toolkit.JWST seed / zeroonemask products), or
   a float image with values in [0, 1] that is not a JWST model: ``seed``, bad = value > 0.
4. ``uint8`` / ``bool`` 0/1 image without keywords: NSClean ``background`` (1 = background),
   bad = 0. Nothing in such a file says which value is bad, so this guess is also logged as
   a warning (logger ``dqmask``), before any command writes anything.
5. ``int16`` 0/1 image: drizzlepac static mask ``good`` (1 = good), bad = 0.
6. ``float`` image of a JWST model (``DATAMODL`` or ``TELESCOP = 'JWST'``) holding 0, 1
   (and NaN): jwst ``user_mask`` (1.0 = background), bad = 0 or NaN.
7. Other integer images: 0/1 only -> ``bad`` (1 = bad, e.g. a zeroonemask); wider values ->
   ``dq`` (any bit set).

Nothing is guessed that could flip a mask's meaning: a ``DQMCONV`` naming no convention
(``'bad_pixels'``), or values that do not fit the convention rules 4-6 would pick (a uint8
image of 0-255, an int16 HST DQ array, a float rate image), is refused with one line naming
the conventions to choose from (``--mask-convention`` / ``PATH@CONV``).

Image planes are the ``SCI`` extensions (by EXTVER), else the primary array, else the first
image extension. ``convention=...`` overrides the guess. Planes are converted strip by strip
from the file (no memory map), so reading a 20000x20000 mask holds the ``bool`` result and
one strip.

Output conventions (each written by the format of :data:`FORMATS` that holds it)
---------------------------------------------------------------------------------
``bad``         primary uint8 (1 = bad), ``DQMCONV = 'bad'``; several chips: one ``SCI``
                extension per chip.
``good``        primary int16 (1 = good, drizzlepac static mask), ``DQMCONV = 'good'``.
``background``  NSClean layout (primary uint8, 1 = background) via
                :mod:`dqmask.io.background_mask`; one chip only.
``user_mask``   jwst ``clean_flicker_noise`` ``user_mask`` (ImageModel, SCI float32,
                1.0 = background) via :mod:`dqmask.io.background_mask`; one chip only.
``dq``          jwst ``dq_init --user_supplied_dq`` layout (primary uint32, standard pixel
                flags, ``DQ_CONV = 'standard'``; same layout as
                :func:`dqmask.dq_init.mask_ref.write_user_dq`); several chips: ``DQ`` extensions.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..conventions import DEFAULT_DQ_FLAGS, Convention, from_bad, to_bad
from ..errors import InputError
from ..flags import parse_flags
from .background_mask import write_background_mask
from .files import require_regular_file
from .fits import add_provenance, open_fits, read_rows, strip_rows, write_hdulist

__all__ = [
    "READ_CONVENTIONS",
    "MASK_CONVENTIONS",
    "WRITE_CONVENTIONS",
    "MaskSpec",
    "MaskData",
    "MaskFormat",
    "MaskImage",
    "WriteRequest",
    "FORMATS",
    "register",
    "Reference",
    "parse_spec",
    "mask_spec",
    "is_region_file",
    "reference_of",
    "read_mask_file",
    "read_fits_mask",
    "guess_convention",
    "read_dq_planes",
    "write_mask",
]

#: Conventions a mask file is read in: every :class:`~dqmask.conventions.Convention`.
READ_CONVENTIONS: tuple[str, ...] = tuple(c.value for c in Convention)
#: What ``convention=`` accepts when reading a FITS mask: ``auto`` (guess) or a convention.
MASK_CONVENTIONS = ("auto", *READ_CONVENTIONS)
_REGION_SUFFIXES = (".reg", ".region")
log = logging.getLogger(__name__)
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

    def __str__(self) -> str:
        """The input spelled back (``PATH[CHIP]@CONV``); :func:`parse_spec` reads it again."""
        chip = f"[{self.chip}]" if self.chip is not None else ""
        conv = f"@{self.convention}" if self.convention else ""
        return f"{self.path}{chip}{conv}"


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
    def shapes(self) -> tuple[tuple[int, int], ...]:
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


def mask_spec(text: str | os.PathLike, convention: str | None = None) -> MaskSpec:
    """A mask input as the user wrote it, with the ``--mask-convention`` option applied.

    The one place where both spellings of a mask's convention meet: ``PATH[CHIP]@CONV``
    and ``--mask-convention CONV`` (``None`` or ``"auto"``: not given) mean the same. The
    option applies to an input without ``@``; an ``@`` that says otherwise is an error, so a
    pasted command line never reads a mask with a polarity the user did not ask for.

    Parameters
    ----------
    text : str or path-like
        ``PATH[CHIP]@CONVENTION`` (both suffixes optional).
    convention : str, optional
        The ``--mask-convention`` value: one of :data:`MASK_CONVENTIONS`.

    Returns
    -------
    MaskSpec
        ``convention`` None means: guess (the rules of the module docstring).

    Raises
    ------
    InputError
        Unknown convention, chip 0, or ``@CONV`` and ``--mask-convention`` disagreeing.
    """
    spec = parse_spec(os.fspath(text))
    if convention in (None, "auto"):
        return spec
    if convention not in READ_CONVENTIONS:
        raise InputError(spec.path, f"unknown mask convention {convention!r} (choose from "
                                    f"{', '.join(MASK_CONVENTIONS)})")
    if spec.convention is not None and spec.convention != convention:
        raise InputError(spec.path, f"@{spec.convention} and {{mask_convention}} {convention} "
                                    f"disagree; give one", mentions=("mask_convention",))
    if spec.is_region:
        return spec  # regions have no convention: inside = bad
    return MaskSpec(spec.path, spec.chip, convention)


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
        if any(0 in shape for shape in shapes):
            raise InputError(path, "the reference image has no pixels (an axis of length 0)")
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
        data = read_fits_mask(spec.path, spec.convention or "auto", flags)
    if spec.chip is not None:
        if spec.chip > len(data.planes):
            raise InputError(spec.path, f"chip {spec.chip} asked, the file has "
                                        f"{len(data.planes)}")
        data = MaskData(data.path, (data.planes[spec.chip - 1],), data.convention,
                        f"{data.reason}; chip {spec.chip}")
    return data


# --------------------------------------------------------------------------------------------
# FITS mask files (the rules of the module docstring)
# --------------------------------------------------------------------------------------------


def _image_hdus(hdul: fits.HDUList) -> list[fits.hdu.base._BaseHDU]:
    sci = [h for h in hdul if (h.name or "").upper() == "SCI" and _ndim(h) >= 2]
    if sci:
        return sorted(sci, key=lambda h: int(h.header.get("EXTVER", 1) or 1))
    if _ndim(hdul[0]) >= 2:
        return [hdul[0]]
    for h in hdul[1:]:
        if isinstance(h, fits.ImageHDU) and _ndim(h) >= 2:
            return [h]
    return []


def _dq_hdus(hdul: fits.HDUList) -> list[fits.hdu.base._BaseHDU]:
    dq = [h for h in hdul if (h.name or "").upper() == "DQ" and _ndim(h) >= 2]
    return sorted(dq, key=lambda h: int(h.header.get("EXTVER", 1) or 1))


def _ndim(hdu: fits.hdu.base._BaseHDU) -> int:
    """Dimensions of an image HDU's data, from its header (the data is not read)."""
    if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)):
        return 0
    return int(hdu.header.get("NAXIS", 0) or 0)


def _strips(hdul: fits.HDUList, hdu: fits.hdu.base._BaseHDU):
    """(start, stop, rows) of an image HDU, strip by strip (:func:`~.fits.read_rows`)."""
    shape = hdu.shape
    i = hdul.index(hdu)
    step = strip_rows(shape, max(1, abs(int(hdu.header.get("BITPIX", 8))) // 8))
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        yield start, stop, read_rows(hdul, i, start, stop)


def _data_dtype(hdul: fits.HDUList, hdu: fits.hdu.base._BaseHDU) -> np.dtype:
    """The dtype astropy decodes the data to (from one row, never the whole image)."""
    return read_rows(hdul, hdul.index(hdu), 0, 1).dtype


# --------------------------------------------------------------------------------------------
# The formats: how each kind of mask file is identified and written (a small registry)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskImage:
    """What identifying a mask image may look at (its data is read only by ``zero_one``).

    Attributes
    ----------
    dtype : dtype
        The image's decoded dtype.
    header, primary : Header
        The image's header and the file's primary header.
    zero_one : callable
        ``zero_one()`` -> True if every value is 0 or 1 (NaN allowed in floats); reads the
        data strip by strip, so call it only when the dtype alone does not decide.
    """

    dtype: np.dtype
    header: fits.Header
    primary: fits.Header
    zero_one: Callable[[], bool]

    def keyword(self, name: str) -> object:
        """``name`` from the image's header, else the primary header's (None if absent)."""
        return self.header.get(name, self.primary.get(name))

    @property
    def is_jwst_model(self) -> bool:
        """The file is a JWST datamodel (``DATAMODL``, or ``TELESCOP = 'JWST'``)."""
        return "DATAMODL" in self.primary or (
            str(self.primary.get("TELESCOP", "")).strip().upper() == "JWST")


#: ``identify(image)`` -> ``(convention, reason)`` if the image is in this format, else None.
#: It may raise ``ValueError`` to refuse an image whose dtype says this format but whose
#: values do not (nothing is guessed that could flip a mask's meaning).
Identify = Callable[[MaskImage], tuple[str, str] | None]


@dataclass(frozen=True)
class WriteRequest:
    """What a format's writer gets: ``bad`` planes and the write's options.

    Attributes
    ----------
    path : str
        Output file.
    planes : list of ndarray of bool
        ``bad`` convention (True = bad), one 2-D plane per chip.
    step, params : str, dict
        Provenance record.
    flags : str or int or None
        ``dq`` only: the value written on bad pixels.
    dq_planes : sequence of ndarray or None
        ``dq`` only: integer planes written as they are (lossless dq -> dq).
    like : str or None
        ``user_mask`` only: the JWST product whose metadata the model copies.
    """

    path: str
    planes: list[np.ndarray]
    step: str
    params: dict
    flags: str | int | None = None
    dq_planes: Sequence[np.ndarray] | None = None
    like: str | os.PathLike | None = None


@dataclass(frozen=True)
class MaskFormat:
    """One kind of mask file: the convention it holds, how to tell it, how to write it.

    Attributes
    ----------
    name : str
        Short name (``nsclean``, ``drizzlepac``...).
    convention : str or None
        The convention of its images (None: the file says, as dqmask's ``DQMCONV``).
    description : str
        One line for documentation and reports.
    identify : callable or None
        See :data:`Identify`; None: never guessed (only chosen by convention).
    write : callable or None
        ``write(request: WriteRequest) -> None``; None: dqmask reads it, never writes it.
    """

    name: str
    convention: str | None
    description: str
    identify: Identify | None = None
    write: Callable[[WriteRequest], None] | None = None


#: Every format by name, in identification order (the first that identifies a file wins).
FORMATS: dict[str, MaskFormat] = {}


def register(name: str, *, convention: str | None, description: str,
             identify: Identify | None = None,
             write: Callable[[WriteRequest], None] | None = None) -> MaskFormat:
    """Add a mask file format (after those already registered: identified after them).

    Raises
    ------
    ValueError
        ``name`` is taken, ``convention`` is not one of :data:`READ_CONVENTIONS`, or a
        second format would write the same convention.
    """
    if name in FORMATS:
        raise ValueError(f"mask format {name!r} is already registered")
    if convention is not None and convention not in READ_CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}")
    if write is not None and (convention is None or convention in _WRITERS):
        raise ValueError(f"format {name!r} cannot write {convention!r}: "
                         + ("no fixed convention" if convention is None
                            else f"{_WRITERS[convention].name!r} writes it"))
    fmt = MaskFormat(name, convention, description, identify, write)
    FORMATS[name] = fmt
    if write is not None and convention is not None:
        _WRITERS[convention] = fmt
    return fmt


#: The format that writes each convention.
_WRITERS: dict[str, MaskFormat] = {}


def guess_convention(dtype: np.dtype, header: fits.Header, primary: fits.Header,
                     zero_one: Callable[[], bool]) -> tuple[str, str]:
    """The convention of a mask image (rules 2-7 of the module docstring) and why.

    The first of :data:`FORMATS` whose ``identify`` knows the image decides.

    Parameters
    ----------
    dtype : dtype
        The image's (decoded) dtype.
    header, primary : Header
        The image's header and the file's primary header.
    zero_one : callable
        ``zero_one()`` -> True if every value of the image is 0 or 1 (called only for
        integer images that no other rule decides).

    Raises
    ------
    ValueError
        A ``DQMCONV`` that names no convention, values that do not fit the convention the
        dtype suggests (``background``, ``good``, ``user_mask`` hold 0 and 1 only), or a
        dtype no rule covers.
    """
    image = MaskImage(np.dtype(dtype), header, primary, zero_one)
    for fmt in FORMATS.values():
        found = fmt.identify(image) if fmt.identify is not None else None
        if found is not None:
            return found
    raise ValueError(f"cannot tell the convention of a {dtype} image")


def _require_zero_one(image: MaskImage, what: str) -> None:
    """Refuse to read an image as ``what`` (its dtype's usual convention) unless it holds 0
    and 1 only (NaN allowed in floats): other values mean it is something else."""
    if image.dtype.kind != "b" and not image.zero_one():
        raise ValueError(f"{image.dtype.name} image with values other than 0 and 1 is not "
                         f"{what}; say how to read it (choose from "
                         f"{', '.join(READ_CONVENTIONS)})")


# -- identification rules (module docstring, rules 2-7), in order ---------------------------


def _by_dqmconv(image: MaskImage) -> tuple[str, str] | None:
    raw = image.keyword("DQMCONV")
    if raw is None:
        return None
    conv = str(raw).strip().lower()
    if conv in READ_CONVENTIONS:
        return conv, f"DQMCONV = '{conv}'"
    raise ValueError(f"DQMCONV = {str(raw)!r} is not a mask convention (choose from "
                     f"{', '.join(READ_CONVENTIONS)})")


def _crab_seed(image: MaskImage) -> tuple[str, str] | None:
    if any(k in h for h in (image.header, image.primary) for k in ("MPIXAREA", "SMOOTH")):
        return "seed", "Crab.Toolkit.JWST seed / zeroonemask keywords (MPIXAREA/SMOOTH)"
    if image.dtype.kind == "f" and not image.is_jwst_model:
        return "seed", "float image without model keywords (seed: > 0 = bad)"
    return None


def _nsclean(image: MaskImage) -> tuple[str, str] | None:
    if not (image.dtype.kind == "b" or (image.dtype.kind == "u" and image.dtype.itemsize == 1)):
        return None
    _require_zero_one(image, "an NSClean background mask")
    return "background", f"{image.dtype.name} image without keywords (NSClean: 1 = background)"


def _drizzlepac(image: MaskImage) -> tuple[str, str] | None:
    if not (image.dtype.kind == "i" and image.dtype.itemsize == 2):
        return None
    _require_zero_one(image, "a drizzlepac static mask (1 = good)")
    return "good", "int16 image (drizzlepac static mask: 1 = good)"


def _user_mask(image: MaskImage) -> tuple[str, str] | None:
    if image.dtype.kind != "f" or not image.is_jwst_model:
        return None
    _require_zero_one(image, "a jwst user_mask (1.0 = background)")
    return "user_mask", "float image of a JWST model (clean_flicker_noise user_mask)"


def _zero_one(image: MaskImage) -> tuple[str, str] | None:
    if image.dtype.kind in "iu" and image.zero_one():
        return "bad", f"{image.dtype.name} image of 0/1 (1 = bad)"
    return None


def _dq_image(image: MaskImage) -> tuple[str, str] | None:
    if image.dtype.kind in "iu":
        return "dq", f"{image.dtype.name} image with values beyond 0/1 (DQ bitfield)"
    return None


# -- writers ---------------------------------------------------------------------------------


def _one_plane(request: WriteRequest, convention: str) -> np.ndarray:
    if len(request.planes) != 1:
        raise ValueError(f"the {convention} format holds one 2-D mask, not "
                         f"{len(request.planes)} chips; pick one with FILE[CHIP]")
    return request.planes[0]


def _write_background(request: WriteRequest) -> None:
    plane = _one_plane(request, "background")
    write_background_mask(request.path, ~plane, "nsclean", step=request.step,
                          params=request.params, like=request.like)


def _write_user_mask(request: WriteRequest) -> None:
    plane = _one_plane(request, "user_mask")
    write_background_mask(request.path, ~plane, "jwst", step=request.step,
                          params=request.params, like=request.like)


def _write_bad(request: WriteRequest) -> None:
    _write_images([p.astype(np.uint8) for p in request.planes], "bad", request)


def _write_good(request: WriteRequest) -> None:
    _write_images([from_bad(p, Convention.GOOD) for p in request.planes], "good", request)


def _write_dq(request: WriteRequest) -> None:
    value = DEFAULT_DQ_FLAGS if request.flags is None else parse_flags(request.flags)
    arrays = (list(request.dq_planes) if request.dq_planes is not None
              else [from_bad(p, Convention.DQ, flags=value) for p in request.planes])
    _write_images(arrays, "dq", request)


def _write_images(arrays: list[np.ndarray], convention: str, request: WriteRequest) -> None:
    write_hdulist(_hdulist(arrays, convention, request.step, request.params), request.path)


# -- the registry, in identification order (rule 1, DQ extensions, is read_fits_mask's) ----

register("dqmask", convention=None, identify=_by_dqmconv,
         description="a mask written by dqmask: its DQMCONV keyword names the convention")
register("crab-seed", convention="seed", identify=_crab_seed,
         description="Crab.Toolkit.JWST / dqmask detect seed image (float, > 0 = bad)")
register("nsclean", convention="background", identify=_nsclean, write=_write_background,
         description="NSClean background mask: primary uint8, 1 = background")
register("drizzlepac", convention="good", identify=_drizzlepac, write=_write_good,
         description="drizzlepac static mask: int16, 1 = good")
register("jwst-user-mask", convention="user_mask", identify=_user_mask, write=_write_user_mask,
         description="jwst clean_flicker_noise user_mask: ImageModel SCI float32, "
                     "1.0 = background")
register("zero-one", convention="bad", identify=_zero_one, write=_write_bad,
         description="0/1 integer image, 1 = bad (dqmask bad mask: primary uint8)")
register("dq", convention="dq", identify=_dq_image, write=_write_dq,
         description="DQ bitfield image (jwst dq_init user_supplied_dq: primary uint32, "
                     "DQ_CONV = 'standard')")

#: Conventions a mask file is written in (those a registered format writes), in the
#: :class:`~dqmask.conventions.Convention` order.
WRITE_CONVENTIONS: tuple[str, ...] = tuple(c.value for c in Convention if c.value in _WRITERS)


def _plane_to_bad(data: np.ndarray, convention: str, mask_flags: str | None) -> np.ndarray:
    """Rows of a mask image in ``convention`` -> ``bad`` (True = bad); element-wise."""
    if convention == "bad":
        return (data != 0) & ~np.isnan(data) if data.dtype.kind == "f" else data != 0
    if convention == "dq":
        if data.dtype.kind not in "iu":
            raise ValueError(f"a DQ mask must be integer, not {data.dtype}")
        return to_bad(data, "dq", flags=mask_flags)
    return to_bad(data, convention)


def read_fits_mask(path: str | os.PathLike, convention: str = "auto",
                   mask_flags: str | None = None) -> MaskData:
    """Read a FITS mask file of any dqmask convention into ``bad`` planes.

    Parameters
    ----------
    path : path-like
        FITS mask (see the module docstring for how ``auto`` decides).
    convention : str
        One of :data:`MASK_CONVENTIONS`.
    mask_flags : str, optional
        ``dq`` masks only: the bits that make a pixel bad (default: any bit).

    Returns
    -------
    MaskData
        Planes in the ``bad`` convention (True = bad), C-contiguous ``bool``.

    Raises
    ------
    InputError
        Unreadable file, no image data, or a convention that cannot be guessed.
    """
    path = os.fspath(path)
    if convention not in MASK_CONVENTIONS:
        raise InputError(path, f"unknown mask convention {convention!r}")
    with open_fits(path) as hdul:
        primary = hdul[0].header
        dqs = _dq_hdus(hdul)
        if dqs and convention in ("auto", "dq"):
            hdus, conv, reason = dqs, "dq", "DQ extension(s)"
        else:
            hdus = _image_hdus(hdul)
            if not hdus:
                raise InputError(path, "no 2-D image in the mask file")
        for h in hdus:
            if _ndim(h) != 2:
                raise InputError(path, f"mask plane {h.name or 'PRIMARY'} is "
                                       f"{_ndim(h)}-D; a mask must be 2-D")
            if 0 in h.shape:
                raise InputError(path, f"mask plane {h.name or 'PRIMARY'} has no pixels "
                                       f"({'x'.join(map(str, h.shape[::-1]))})")
        if hdus is not dqs:
            conv, reason = convention, "given"
            if convention == "auto":
                first = hdus[0]

                def zero_one() -> bool:  # 0 and 1 only (NaN allowed in floats)
                    return not any(np.any((rows != 0) & (rows != 1) & (rows == rows))
                                   for _, _, rows in _strips(hdul, first))

                try:
                    conv, reason = guess_convention(_data_dtype(hdul, first), first.header,
                                                    primary, zero_one)
                except ValueError as exc:
                    raise InputError(path, f"{exc}; give {{mask_convention}}",
                                     mentions=("mask_convention",)) from None
        planes = []
        for h in hdus:
            plane = np.empty(h.shape, dtype=bool)
            try:
                for start, stop, rows in _strips(hdul, h):
                    plane[start:stop] = _plane_to_bad(rows, conv, mask_flags)
            except InputError:
                raise
            except (ValueError, TypeError) as exc:
                raise InputError(path, str(exc)) from None
            planes.append(plane)
    if conv == "background" and reason.startswith(("uint8", "bool")):  # a guess (rule 4)
        log.warning("%s: nothing in the file says which value is bad: read as NSClean "
                    "'background' (1 = background, 0 = bad); if 1 marks bad pixels, give "
                    "%s@bad or --mask-convention bad", path, path)
    return MaskData(path, tuple(planes), conv, reason)


def _read_regions(spec: MaskSpec, reference: Reference | None, mode: str) -> MaskData:
    from .regions import regions_to_mask

    require_regular_file(spec.path, "region file")
    if reference is None:
        raise InputError(spec.path, "a region file needs a reference image for its shape "
                                    "(give {like} FILE or a FITS mask input)",
                         mentions=("like",))
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
    request = WriteRequest(os.fspath(path), [np.asarray(p, dtype=bool) for p in planes], step,
                           params, flags, dq_planes, like)
    write = _WRITERS[convention].write
    assert write is not None  # _WRITERS holds formats that write
    write(request)


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
