"""``detect``: claw / wisp detection inside DS9 regions of one image -> seed + 0/1 mask.

read (SCI, its header, DQ; region files through :mod:`dqmask.io.regions`) -> compute
(:func:`dqmask.claws.core.detect`) -> write (new files only, atomically):

=================================  =========  ===================================================
file                               dtype      content
=================================  =========  ===================================================
``<X><S>.fits``                    float32    seed image in [0, 1] (``DQMCONV = 'seed'``:
                                              > 0 = bad)
``<X><S>_zeroonemask.fits``        uint8      ``seed > 0`` (``DQMCONV = 'bad'``: 1 = bad)
``<X><S>_bkg2d.fits``              float32    background map (``save_intermediate``)
``<X><S>_rms2d.fits``              float32    rms map (``save_intermediate``)
``<X><S>_valid_pixels.fits``       uint8      1 = used for statistics (``save_intermediate``)
=================================  =========  ===================================================

``X`` is the input name without ``.fits`` / ``.fits.gz``, ``S`` the suffix (default
``_seed_image``). Every output is a primary HDU carrying the SCI header (so its WCS), the
Crab-compatible ``MPIXAREA`` / ``SMOOTH`` keywords and a dqmask provenance record. With
``compat="crab"`` the arrays are float64 / int64 as Crab.Toolkit.JWST writes them, and DS9
exclude (``-``) shapes inside the region files count as ordinary shapes, as there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from ..errors import InputError
from ..io.atomic import refuse_output_is_input
from ..io.fits import add_provenance, open_fits, write_hdulist
from ..io.regions import RegionInfo, region_layers, region_warnings_to_log
from .core import Detection, DetectParams, detect
from .options import DEFAULT_SUFFIX, PARAMETERS

__all__ = ["STEP", "DEFAULT_SUFFIX", "DetectResult", "read_image", "output_names",
           "detect_file", "arc_polygon"]

STEP = "detect"
log = logging.getLogger(__name__)

_STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3",
               "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "BLANK", "CHECKSUM",
               "DATASUM")


@dataclass(frozen=True)
class DetectResult:
    """What ``detect`` wrote for one image."""

    image: str
    outputs: dict[str, str]
    detected: int
    masked: int
    total: int
    rms: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI (the notes are logged as warnings by :func:`detect_file`)."""
        return (f"{self.image}: {self.detected} pixels detected, {self.masked} in the mask "
                f"({100 * self.masked / max(self.total, 1):.3f}%), rms {self.rms:.4g} -> "
                f"{self.outputs['seed']}, {self.outputs['zeroonemask']}")


#: Extensions of JWST / HST products besides SCI: a file holding one of them but no SCI is a
#: damaged product, not a bare image whose first array could be the science.
_PRODUCT_EXTENSIONS = frozenset({"ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "AREA",
                                 "WHT", "CON", "CTX", "SAMP", "TIME", "PIXELDQ", "GROUPDQ"})


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, fits.Header, np.ndarray | None]:
    """The 2-D science image, its header and its DQ (or None).

    The ``SCI`` extension (with the ``DQ`` of the same EXTVER) if present, else a 2-D
    primary array, else the first 2-D image extension. A JWST/HST product that lost its
    ``SCI`` (it has ``ERR``, ``DQ``...) is refused: its ERR is no science image.

    Raises
    ------
    InputError
        No 2-D image, several SCI chips, a non-2-D SCI, or a product without SCI.
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        names = [(h.name or "").upper() for h in hdul]
        if names.count("SCI") > 1:
            raise InputError(path, f"{names.count('SCI')} SCI chips; detect works on "
                                   f"single-chip images")
        if "SCI" in names:
            hdu = hdul["SCI"]
        elif set(names) & _PRODUCT_EXTENSIONS:  # a JWST/HST product without its SCI:
            raise InputError(path, "missing extension SCI (the file has "  # never use ERR
                                   + ", ".join(n for n in names[1:] if n) + ")")
        elif hdul[0].data is not None:
            hdu = hdul[0]
        else:
            hdu = next((h for h in hdul[1:] if isinstance(h, fits.ImageHDU)
                        and h.data is not None), None)
        if hdu is None or hdu.data is None:
            raise InputError(path, "no 2-D image (no SCI extension, empty primary)")
        if hdu.data.ndim != 2:
            raise InputError(path, f"{hdu.name or 'PRIMARY'} is {hdu.data.ndim}-D; detect "
                                   f"needs a 2-D image (a rate or cal, not rateints)")
        image = np.array(hdu.data, dtype=float)
        header = hdu.header.copy()
        dq = None
        if "DQ" in names and hdul["DQ"].data is not None:
            dq = np.array(hdul["DQ"].data)
            if dq.shape != image.shape or dq.dtype.kind not in "iu":
                dq = None
    return image, header, dq


def output_names(image: str | os.PathLike, suffix: str = DEFAULT_SUFFIX,
                 output_dir: str | os.PathLike | None = None,
                 save_intermediate: bool = False) -> dict[str, str]:
    """Output paths by role: ``seed``, ``zeroonemask`` (+ ``bkg2d``, ``rms2d``,
    ``valid_pixels`` with ``save_intermediate``)."""
    image = os.fspath(image)
    name = os.path.basename(image)
    for ext in (".gz", ".fits", ".fit", ".fts"):
        name = name.removesuffix(ext)
    directory = os.fspath(output_dir) if output_dir else os.path.dirname(image)
    base = os.path.join(directory, name + suffix)
    out = {"seed": base + ".fits", "zeroonemask": base + "_zeroonemask.fits"}
    if save_intermediate:
        for role in ("bkg2d", "rms2d", "valid_pixels"):
            out[role] = f"{base}_{role}.fits"
    return out


def _header(sci_header: fits.Header, convention: str, params: DetectParams,
            provenance: dict) -> fits.Header:
    h = fits.Header()
    for card in sci_header.cards:
        if card.keyword not in _STRUCTURAL and card.keyword not in ("HISTORY", "COMMENT"):
            h.append(card, end=True)
    h["EXTNAME"] = "SCI"
    h["DQMCONV"] = (convention, "dqmask mask convention of this array")
    h["MPIXAREA"] = (params.minpixarea, "Minimum connected area (pixels) of a detection")
    if params.smooth > 0:
        h["SMOOTH"] = (params.smooth, "Gaussian2DKernel stddev in pixel")
    add_provenance(h, STEP, provenance)
    return h


def _region_masks(paths: Sequence[str], shape, header, crab: bool = False, *,
                  allow_empty: bool = True) -> tuple[np.ndarray | None, list[RegionInfo]]:
    """The region mask (True = inside) of region files, or None without files, and the
    shapes' :class:`RegionInfo`; ``allow_empty=False``: a file without shapes is refused."""
    if not paths:
        return None, []
    inside, holes, infos = region_layers(paths, shape, header, allow_empty=allow_empty)
    mask = (inside | holes) if crab else (inside & ~holes)  # Crab ignores DS9 '-' shapes
    return mask, infos


def _regions(image: str, shape, header, include_regions: Sequence[str],
             exclude_regions: Sequence[str], crab: bool
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Include and exclude masks (True = inside) of the region files on the image.

    Shapes off the image are logged as warnings, unless no include shape reaches the image:
    then one error line says why (the warnings would only repeat it).
    """
    with region_warnings_to_log():
        include, infos = _region_masks(include_regions, shape, header, crab,
                                       allow_empty=False)
        if include is not None and not include.any():
            raise InputError(include_regions[0], _nothing_inside(image, infos))
        exclude, _ = _region_masks(exclude_regions, shape, header, crab)
    return include, exclude


def _nothing_inside(image: str, infos: Sequence[RegionInfo]) -> str:
    """Why the include regions cover no pixel of ``image``: the first shape's problem."""
    text = f"the include regions cover no pixel of {image}"
    problems = [p for p in (i.problem() for i in infos if i.include) if p is not None]
    if not problems:
        return text + (": no include shape" if not any(i.include for i in infos) else "")
    n = len(problems) - 1
    more = f" (and {n} more shape{'s' if n > 1 else ''})" if n else ""
    return f"{text}: {problems[0]}{more}"


def detect_file(image: str | os.PathLike, include_regions: Sequence[str],
                exclude_regions: Sequence[str] = (), params: DetectParams | None = None,
                *, suffix: str = DEFAULT_SUFFIX, output_dir: str | os.PathLike | None = None,
                save_intermediate: bool = False, overwrite: bool = False) -> DetectResult:
    """Run the detection on one image and write the seed and 0/1 mask.

    Parameters
    ----------
    image : path-like
        JWST cal / rate / i2d or any FITS with a 2-D image.
    include_regions, exclude_regions : sequence of path-like
        DS9 region files (include: detect only inside; exclude: never inside). DS9 ``-``
        shapes inside an include file are holes in it.
    params : DetectParams
    suffix, output_dir, save_intermediate, overwrite
        Output naming (see the module docstring); existing outputs are refused unless
        ``overwrite``.

    Raises
    ------
    InputError
        Bad image or region file, include regions covering no pixel, existing outputs.

    Notes
    -----
    Fallbacks of the algorithm (Background2D impossible in a thin polygon, ...) are logged
    as warnings on the ``dqmask`` logger, one line each, and kept in ``DetectResult.notes``.
    """
    params = params or DetectParams()
    for option in PARAMETERS:
        option.check(getattr(params, option.name))
    image = os.fspath(image)
    outs = output_names(image, suffix, output_dir, save_intermediate)
    sources = [image, *map(os.fspath, include_regions), *map(os.fspath, exclude_regions)]
    for path in outs.values():  # even with overwrite: e.g. --output-suffix ''
        refuse_output_is_input(path, sources, "choose another --output-suffix or --output-dir")
    if not overwrite:
        for path in outs.values():
            if os.path.exists(path):
                raise InputError(path, "output exists; use {overwrite}", mentions=("overwrite",))
    data, header, dq = read_image(image)
    include, exclude = _regions(image, data.shape, header,
                                list(map(os.fspath, include_regions)),
                                list(map(os.fspath, exclude_regions)), params.compat == "crab")
    try:
        det = detect(data, include, exclude, dq, params)
    except ValueError as exc:
        raise InputError(image, str(exc)) from None
    _write(det, header, params, outs, image, include_regions, exclude_regions, output_dir)
    for note in det.notes:  # e.g. global statistics for a thin polygon: one line each
        log.warning("%s: %s", image, note)
    return DetectResult(image, outs, int(det.detected.sum()), int(det.zeroonemask.sum()),
                        int(data.size), det.rms, det.notes)


def _write(det: Detection, header: fits.Header, params: DetectParams, outs: dict[str, str],
           image: str, include_regions, exclude_regions, output_dir) -> None:
    prov = {"image": os.path.basename(image),
            "include": ",".join(os.path.basename(os.fspath(p)) for p in include_regions),
            "exclude": ",".join(os.path.basename(os.fspath(p)) for p in exclude_regions),
            "sigma": params.sigma, "smooth": params.smooth, "minpixarea": params.minpixarea,
            "ignore_background": params.ignore_background, "rms": round(det.rms, 8)}
    if params.compat != "dqmask":
        prov["compat"] = params.compat
    real, flag = (np.float64, np.int64) if params.compat == "crab" else (np.float32, np.uint8)
    arrays = {"seed": (det.seed.astype(real), "seed"),
              "zeroonemask": (det.zeroonemask.astype(flag), "bad"),
              "bkg2d": (det.background.astype(real), "none"),
              "rms2d": (det.rms_map.astype(real), "none"),
              "valid_pixels": (det.valid.astype(flag), "good")}
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    for role, path in outs.items():
        data, conv = arrays[role]
        hdu = fits.PrimaryHDU(data, header=_header(header, conv, params, prov))
        write_hdulist(fits.HDUList([hdu]), path)


def arc_polygon(shape: tuple[int, int], *, centre: tuple[float, float] = (1.25, 0.25),
                radius: float = 0.75, half_width: float | None = None,
                angles: tuple[float, float] = (-2.22, -0.62), n: int = 24) -> str:
    """A DS9 image-frame polygon hugging an arc (the shape of a NIRCam claw), for demos.

    The arc is centred at ``(centre[0] * ny, centre[1] * nx)`` with radius ``radius * ny``,
    like the claw of :mod:`dqmask.datasets`; the polygon spans ``half_width`` pixels on each
    side (default ``0.06 * min(shape) + 6``).
    """
    ny, nx = shape
    cy, cx, r = centre[0] * ny, centre[1] * nx, radius * ny
    w = 0.06 * min(shape) + 6 if half_width is None else half_width
    theta = np.linspace(angles[0], angles[1], n)
    outer = [(cx + (r + w) * np.cos(t), cy + (r + w) * np.sin(t)) for t in theta]
    inner = [(cx + (r - w) * np.cos(t), cy + (r - w) * np.sin(t)) for t in theta[::-1]]
    pts = ",".join(f"{x + 1:.2f},{y + 1:.2f}" for x, y in outer + inner)  # DS9 is 1-based
    return f"# Region file format: DS9 version 4.1\nimage\npolygon({pts})\n"
