"""The dqmask Python API: one import for every file-level operation, in one shape.

Every job is ``job(input, output=None, *, options) -> Result``: ``input`` is a path (or a
list of paths where the job combines several), ``output`` the file (or, for jobs writing
several files, the folder) to write, default as the ``dqmask`` command names it; options are
keyword-only, with the command-line option names (``--n-sigma`` is ``n_sigma``); the result
is a frozen dataclass whose ``summary()`` is the line the command prints. The functions
behind them (``apply_to_file``, ``make_background``...) stay available under their names.

Errors: a problem with an input file raises :class:`~dqmask.errors.InputError`, a value a
function cannot use :class:`~dqmask.errors.ParameterError`; both are subclasses of ``ValueError`` naming
the file and the Python parameter. Nothing is written when they are raised.

Mask conventions of the files read and written: see :mod:`dqmask.conventions` (``bad``:
True = bad; ``good``: 1 = good; ``background`` / ``user_mask``: 1 = background; ``dq``:
the bits of ``bad_flags`` make a pixel bad).

Examples
--------
These need real files, so they are shown, not run (``make test`` runs the examples of the
pure modules):

>>> from dqmask import api
>>> api.dq_init("jw01_uncal.fits", mask="nrca1_mask.fits").summary()       # doctest: +SKIP
>>> api.static(["j1_flt.fits", "j2_flt.fits"], "masks", sig=4.0)            # doctest: +SKIP
>>> api.apply("jw01_rate.fits", "jw01_rate.fits", mask="claws.fits",
...           flags="DO_NOT_USE")                                          # doctest: +SKIP
>>> api.background(["a_rate.fits", "b_rate.fits"], "bg.fits", n_sigma=2.0,
...                fmt="jwst")                                             # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from .apply.files import ApplyOptions, ApplyResult, TargetedMask, apply_to_file, read_mask
from .claws.core import DetectParams
from .claws.files import DetectResult, detect_file
from .conventions import Convention, convert, from_bad, to_bad
from .dolphot.files import (
    MaskOptions,
    PrepareResult,
    SplitResult,
    prepare_file,
    splitgroups,
)
from .dq_init.files import DqInitResult, dq_init_file
from .errors import ParameterError
from .flags import decode, flag_counts, parse_flags
from .io.fits import classify
from .nsclean.files import (
    BackgroundResult,
    PictureResult,
    convert_mask,
    fits2png,
    make_background,
    png2fits,
)
from .static.files import StaticMaskResult, make_static_masks
from .toolbox.files import (
    RegionsResult,
    ToolResult,
    combine_files,
    convert_file,
    grow_file,
    regions_file,
)
from .toolbox.preview import PreviewResult, preview_file

__all__ = [
    # shared ground
    "classify", "parse_flags", "decode", "flag_counts",
    "Convention", "to_bad", "from_bad", "convert",
    # one shape: job(input, output=None, *, options) -> Result
    "JOBS",
    "dq_init", "static", "dolphot", "split", "background", "picture", "bgconvert",
    "paint", "detect", "apply", "combine", "grow", "convert_mask_file", "regions",
    "preview",
    # results
    "DqInitResult", "StaticMaskResult", "PrepareResult", "SplitResult", "BackgroundResult",
    "PictureResult", "DetectResult", "ApplyResult", "ToolResult", "RegionsResult",
    "PreviewResult",
    # the functions behind them (their own argument orders, kept)
    "dq_init_file",
    "make_static_masks",
    "prepare_file", "splitgroups", "MaskOptions",
    "png2fits", "fits2png", "make_background", "convert_mask",
    "detect_file", "DetectParams", "apply_to_file", "ApplyOptions", "read_mask",
    "combine_files", "grow_file", "convert_file", "regions_file", "preview_file",
]

Path = str | os.PathLike


def _beside(path: Path, suffix: str, ext: str = ".fits") -> str:
    """``<root><suffix><ext>`` beside ``path`` (root: the name without .fits / .gz)."""
    folder, name = os.path.split(os.fspath(path))
    for tail in (".gz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(tail):
            name = name[: -len(tail)]
    return os.path.join(folder, f"{name}{suffix}{ext}")


def _paths(inputs: Path | Sequence[Path]) -> list[Path]:
    return ([os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike))
            else [os.fspath(p) for p in inputs])


def _output(output: Path | None, paths: Sequence[Path], suffix: str, ext: str = ".fits"
            ) -> Path:
    """``output``, or the default name beside the first input."""
    if output is not None:
        return output
    if not paths:
        raise ParameterError("input", "names no file")
    return _beside(paths[0], suffix, ext)


# -------------------------------------------------------------------------------- dq_init


def dq_init(input: Path, output: Path | None = None, *, mask: Path, **options
            ) -> DqInitResult:
    """``dqmask dqinit``: jwst ``dq_init`` with a MASK reference file.

    ``output`` None: ``<root>_dqinitstep.fits`` beside the input (as ``strun dq_init``). Options: ``user_dq``
    (``dq`` convention, bits OR-ed in), ``force``, ``ignore_detector``, ``faithful``,
    ``user_dq_all_stripes``, ``max_fraction`` (:func:`dqmask.dq_init.files.dq_init_file`).
    """
    from .dq_init.files import default_output_name

    out = default_output_name(input) if output is None else output
    return dq_init_file(input, mask, out, **options)


# -------------------------------------------------------------------------------- static


def static(input: Path | Sequence[Path], output: Path | None = None, **options
           ) -> StaticMaskResult:
    """``dqmask static``: drizzlepac static masks (``good`` convention: 1 = good).

    ``output``: the folder of the masks (default: the current folder). Options: ``sig``,
    ``output_name``, ``legacy_names``, ``chips``, ``good_flags`` (AstroDrizzle's bits: DQ
    bits that do *not* make a pixel bad; ``dq_bits`` is its old name), ``jobs``.
    """
    if "good_flags" in options:
        options["dq_bits"] = options.pop("good_flags")
    return make_static_masks(_paths(input), output_dir="." if output is None else output,
                             **options)


# -------------------------------------------------------------------------------- dolphot


def dolphot(input: Path, output: Path | None = None, *, routine: str = "auto",
            options: MaskOptions | None = None, **kwargs) -> PrepareResult:
    """``dqmask dolphot`` / ``acsmask`` / ``nircammask``...: prepare one image for DOLPHOT.

    ``output`` None: in place, as DOLPHOT's tools. ``options``: the DOLPHOT flags
    (:class:`MaskOptions`); ``pam_dir``, ``dry_run`` as :func:`prepare_file`.
    """
    return prepare_file(input, routine, options, output=output, **kwargs)


def split(input: Path, output: Path | None = None, *, dry_run: bool = False) -> SplitResult:
    """``dqmask splitgroups``: one ``<name>.chip<N>.fits`` per image HDU, in folder
    ``output`` (default: beside the input)."""
    return splitgroups(input, output, dry_run=dry_run)


# -------------------------------------------------------------------------------- nsclean


def background(input: Path | Sequence[Path], output: Path | None = None, **options
               ) -> BackgroundResult:
    """``dqmask background``: automatic NSClean background mask (1 = background).

    ``output`` None: ``<first input root>_bgmask.fits``. Options: ``n_sigma``, ``grow``,
    ``min_region``, ``fmt``, ``per_integration``, ``stats``, ``force``.
    """
    paths = _paths(input)
    return make_background(paths, _output(output, paths, "_bgmask"), **options)


def paint(input: Path, output: Path | None = None, **options) -> BackgroundResult:
    """``dqmask png2fits``: a painted PNG (pure red = background) to a background mask.
    ``output`` None: ``<root>.fits`` beside the PNG."""
    out = os.path.splitext(os.fspath(input))[0] + ".fits" if output is None else output
    return png2fits(input, out, **options)


def picture(input: Path | Sequence[Path], output: Path | None = None, **options
            ) -> PictureResult:
    """``dqmask fits2png``: the picture of rate image(s) to paint on. ``output`` None:
    ``<first input root>.png``."""
    paths = _paths(input)
    return fits2png(paths, _output(output, paths, "", ".png"), **options)


def bgconvert(input: Path, output: Path | None = None, **options) -> BackgroundResult:
    """``dqmask bgconvert``: a background mask in the other layout. ``output`` None:
    ``<root>_<fmt>.fits``."""
    if output is None:
        output = _beside(input, "_" + options.get("fmt", "jwst"))
    return convert_mask(input, output, **options)


# -------------------------------------------------------------------------------- claws


def detect(input: Path, output: Path | None = None, *, include_regions: Sequence[str],
           exclude_regions: Sequence[str] = (), params: DetectParams | None = None,
           **options) -> DetectResult:
    """``dqmask detect``: claws / wisps inside DS9 regions -> seed + 0/1 mask.

    ``output``: the folder of the outputs (default: beside the input). ``params``: the
    detection parameters (:class:`DetectParams`, also given one by one as keywords:
    ``sigma=3``...); other options: ``suffix``, ``save_intermediate``, ``overwrite``.
    """
    fields = set(DetectParams.__dataclass_fields__)
    given = {k: options.pop(k) for k in list(options) if k in fields}
    params = replace(params or DetectParams(), **given)
    return detect_file(input, include_regions, exclude_regions, params,
                       output_dir=output, **options)


# -------------------------------------------------------------------------------- apply


def apply(input: Path, output: Path | None = None, *, options: ApplyOptions | None = None,
          **kwargs) -> ApplyResult:
    """``dqmask apply``: OR DQ flags into a file where masks / regions are set.

    ``output`` None: ``<root>_masked.fits`` beside the input (``output=input``: in place).
    ``options``: an :class:`ApplyOptions`, or its fields as keywords (``mask=``, ``flags=``
    (the flags to set), ``region_paths=``, ``grow=``...); ``bad_flags``: for a ``dq``
    convention ``mask`` path, the DQ bits that make a pixel bad (default any).
    """
    bad_flags = kwargs.pop("bad_flags", None)
    if bad_flags is not None and isinstance(kwargs.get("mask"), (str, os.PathLike)):
        from .apply.files import split_chip
        from .io.mask_file import mask_spec, read_mask_file

        text, chip = split_chip(kwargs.pop("mask"))  # PATH[SCI,N]@CONV as on the command line
        mask = TargetedMask(read_mask_file(mask_spec(text), flags=bad_flags), chip)
        kwargs["masks"] = (*kwargs.get("masks", ()), mask)
    opts = replace(options or ApplyOptions(), **kwargs)
    return apply_to_file(input, _beside(input, "_masked") if output is None else output, opts)


# -------------------------------------------------------------------------------- toolbox


def combine(input: Sequence[Path], output: Path | None = None, **options) -> ToolResult:
    """``dqmask combine``: masks of any convention with ``op`` or / and / not (``output``
    None: ``<first root>_combined.fits``). Options: ``op``, ``to``, ``bad_flags`` (dq inputs:
    bits that make a pixel bad), ``flags`` (``to="dq"``: bits written), ``like``,
    ``region_mode``."""
    paths = _paths(input)
    return combine_files([os.fspath(p) for p in paths],
                         os.fspath(_output(output, paths, "_combined")),
                         **_toolbox(options))


def grow(input: Path, output: Path | None = None, *, pixels: int, **options) -> ToolResult:
    """``dqmask grow``: grow the bad pixels by ``pixels`` (``output`` None:
    ``<root>_grown.fits``). Options: ``footprint``, ``to``, ``bad_flags``, ``flags``,
    ``like``."""
    out = _beside(input, "_grown") if output is None else os.fspath(output)
    return grow_file(os.fspath(input), out, pixels=pixels, **_toolbox(options))


def convert_mask_file(input: Path, output: Path | None = None, *, to: str, **options
                      ) -> ToolResult:
    """``dqmask convert``: a mask in another convention (``output`` None:
    ``<root>_<to>.fits``). Options: ``bad_flags``, ``flags``, ``like``."""
    out = _beside(input, f"_{to}") if output is None else os.fspath(output)
    return convert_file(os.fspath(input), out, to=to, **_toolbox(options))


def regions(input: Path, output: Path | None = None, **options) -> RegionsResult:
    """``dqmask regions``: DS9 polygons of the bad pixels (``output`` None:
    ``<root>.reg``). Options: ``bad_flags``, ``like``, ``color``."""
    out = _beside(input, "", ".reg") if output is None else os.fspath(output)
    return regions_file(os.fspath(input), out, **_toolbox(options))


def preview(input: Path, output: Path | None = None, **options) -> PreviewResult:
    """``dqmask preview``: PNG quick-look with the mask overlaid (``output`` None:
    ``<root>_preview.png``). Options: ``mask``, ``dq``, ``bad_flags`` (dq-convention mask
    files), ``before``, ``max_size``, ``color``, ``alpha``, ``limits``, ``stretch``..."""
    out = _beside(input, "_preview", ".png") if output is None else output
    if "bad_flags" in options:
        options["flags"] = options.pop("bad_flags")
    return preview_file(input, out, **options)


def _toolbox(options: dict) -> dict:
    """The toolbox functions' own names: ``flags`` = bits that make a dq input bad,
    ``flags_out`` = bits written."""
    options = dict(options)
    if "flags" in options:
        options["flags_out"] = options.pop("flags")
    if "bad_flags" in options:
        options["flags"] = options.pop("bad_flags")
    return options


#: command name -> its function here
JOBS = {
    "dqinit": dq_init, "static": static, "dolphot": dolphot, "splitgroups": split,
    "background": background, "png2fits": paint, "fits2png": picture,
    "bgconvert": bgconvert, "detect": detect, "apply": apply, "combine": combine,
    "grow": grow, "convert": convert_mask_file, "regions": regions, "preview": preview,
}
