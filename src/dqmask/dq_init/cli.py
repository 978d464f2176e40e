"""``dqmask dqinit``: apply a JWST MASK reference file to raw exposures (jwst ``dq_init``).

Start-up stays light: the parser is built from :data:`dqmask.dq_init.options.PARAMETERS`
(no numpy, no astropy), and the file-level code (:mod:`dqmask.dq_init.files`,
:mod:`dqmask.dq_init.mask_ref`) is imported by :func:`run` only, so ``dqmask dqinit --help``
loads neither.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli._common import (
    add_batch_options,
    add_output_options,
    batch_options,
    command_parser,
    output_path,
    run_batch,
)
from ..errors import UsageError
from ..io.atomic import same_file
from ..pipeline.options import add_arguments, by_name
from .options import OUTPUT_SUFFIX, PARAMETERS

if TYPE_CHECKING:
    from .mask_ref import MaskRef

SUFFIX = "_" + OUTPUT_SUFFIX


def register(sub, common) -> argparse.ArgumentParser:
    p = command_parser(sub, common, "dqinit", f"""
        OR a JWST MASK reference file into each exposure's PIXELDQ (DQ for FGS guide-star
        data) and its DO_NOT_USE flags into GROUPDQ, exactly as the jwst dq_init step does:
        subarray and multistripe/superstripe extraction, DQ_DEF flag mapping, optional user
        DQ. Only the DQ extensions and the primary header are rewritten; SCI is copied byte
        for byte. Default output: the name `strun dq_init` gives, <root>{SUFFIX}.fits beside
        each input (X_uncal.fits -> X_dqinitstep.fits).""")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JWST raw exposures (*_uncal.fits)")
    param = by_name(PARAMETERS)
    param["mask"].add_to(p, required=True)
    add_arguments(p, (param[name] for name in ("user_dq", "max_fraction")))
    add_output_options(p, default_suffix=SUFFIX)
    add_arguments(p, (o for o in PARAMETERS if o.name not in _BEFORE_OUTPUT))
    add_batch_options(p)
    return p


#: Options listed before the output options in ``--help``; every other parameter after them.
_BEFORE_OUTPUT = ("mask", "user_dq", "max_fraction")


def _worker(path: str, *, args_out: dict[str, str], mask: str | MaskRef, user_dq: str | None,
            force: bool, ignore_detector: bool, faithful: bool, all_stripes: bool,
            max_fraction: float) -> str:
    from .files import dq_init_file

    result = dq_init_file(path, mask, args_out[path], user_dq=user_dq, force=force,
                          ignore_detector=ignore_detector, faithful=faithful,
                          user_dq_all_stripes=all_stripes, max_fraction=max_fraction)
    return result.summary()


def run(args: argparse.Namespace) -> int:
    from .files import load_user_dq

    if args.output and len(args.inputs) != 1:
        raise UsageError("-o/--output needs exactly one input; use --output-dir")
    mask = _mask(args)  # a bad MASK fails once, before any input is written
    if args.user_dq:  # so does a bad user DQ
        load_user_dq(args.user_dq, max_fraction=args.max_fraction, faithful=args.faithful)
    outs = {p: _output(args, p) for p in args.inputs}
    same = [p for p, o in outs.items() if not args.in_place and _same_file(p, o)]
    if same:
        raise UsageError(f"output would overwrite input {same[0]}; use --in-place to do that")
    worker = functools.partial(_worker, args_out=outs, mask=mask, user_dq=args.user_dq,
                               force=args.force, ignore_detector=args.ignore_detector,
                               faithful=args.faithful, all_stripes=args.user_dq_all_stripes,
                               max_fraction=args.max_fraction)
    return run_batch(args.inputs, worker, label="dqinit", **batch_options(args))


def _mask(args: argparse.Namespace) -> str | MaskRef:
    """``--mask`` as the workers get it; a bad MASK fails before any input is written.

    One input: its worker reads the MASK (every check of a read, before anything is
    written) and owns the array, which becomes the exposure's mask without a copy; a check
    here first would open and check the file twice. Several inputs in this process: read
    once here and shared (each exposure cuts its own copy), instead of once per input.
    Worker processes or a cluster: headers checked here, so that a bad MASK is one error,
    not one per input; each worker reads it.
    """
    from .mask_ref import check_mask_ref, read_mask_ref

    if args.mask.strip().upper() == "N/A" or len(args.inputs) == 1:
        return args.mask
    batch = batch_options(args)
    if batch["jobs"] <= 1 and not batch["scheduler"]:
        return read_mask_ref(args.mask)
    check_mask_ref(args.mask)
    return args.mask


def _output(args: argparse.Namespace, path: str) -> str:
    """-o / --output-dir / --in-place, else the name jwst's strun gives beside the input."""
    if args.output or args.output_dir or args.in_place:
        return output_path(args, path, suffix=SUFFIX, n_inputs=len(args.inputs))
    from .files import default_output_name

    return default_output_name(path)


def _same_file(a: str, b: str) -> bool:
    return same_file(a, b)  # through links, "." and "sub/../sub" (dqmask.io.atomic)


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """Make a MASK reference and a raw ramp if the samples lack them; run dqinit on it."""
    import numpy as np

    from .files import default_output_name, dq_init_file
    from .mask_ref import write_mask_ref, write_user_dq

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    uncal = samples.get("nircam_uncal")
    if uncal is None:
        uncal = workdir / "demo_nircam_uncal.fits"
        _demo_uncal(uncal)
    with_header = _header_of(uncal)
    ny, nx = 2048, 2048
    rng = np.random.default_rng(3)
    std = np.zeros((ny, nx), np.uint32)
    std[:4, :] = std[-4:, :] = std[:, :4] = std[:, -4:] = 2**31  # reference pixels
    idx = rng.integers(0, ny * nx, 2000)
    std.reshape(-1)[idx] = 1 | 2048  # DO_NOT_USE + HOT
    mask = workdir / "demo_mask_ref.fits"
    write_mask_ref(mask, std, instrument=with_header.get("INSTRUME", "NIRCAM"),
                   detector=with_header.get("DETECTOR", "NRCA1"),
                   dq_def=[(1, "DO_NOT_USE"), (2, "HOT"), (4, "REFERENCE_PIXEL")])
    say(f"wrote MASK reference {mask} (DQ_DEF compressed: 1=DO_NOT_USE 2=HOT 4=REFERENCE_PIXEL)")
    user = workdir / "demo_user_dq.fits"
    sy, sx = with_header.get("SUBSIZE2", ny), with_header.get("SUBSIZE1", nx)
    udq = np.zeros((sy, sx), np.uint32)
    udq[10:20, 10:20] = 1
    write_user_dq(user, udq)
    say(f"wrote user DQ {user} (a 10x10 DO_NOT_USE box)")
    result = dq_init_file(uncal, mask, default_output_name(workdir / Path(uncal).name),
                          user_dq=user, force=True)
    say("dqmask dqinit " + result.summary())


def _header_of(path: Path) -> dict[str, Any]:
    from ..io.fits import open_fits

    with open_fits(path) as hdul:
        return {k: hdul[0].header[k] for k in ("INSTRUME", "DETECTOR", "SUBSIZE1", "SUBSIZE2")
                if k in hdul[0].header}


def _demo_uncal(path: Path) -> None:
    import numpy as np
    from astropy.io import fits

    from ..io.fits import write_hdulist

    primary = fits.PrimaryHDU()
    h = primary.header
    for key, value in (("TELESCOP", "JWST"), ("INSTRUME", "NIRCAM"), ("DETECTOR", "NRCA1"),
                       ("EXP_TYPE", "NRC_IMAGE"), ("SUBARRAY", "SUB64P"), ("SUBSTRT1", 1),
                       ("SUBSTRT2", 1), ("SUBSIZE1", 64), ("SUBSIZE2", 64), ("FASTAXIS", -1),
                       ("SLOWAXIS", 2), ("NINTS", 1), ("NGROUPS", 3)):
        h[key] = value
    sci = fits.ImageHDU(np.full((1, 3, 64, 64), 1000, np.uint16), name="SCI")
    write_hdulist(fits.HDUList([primary, sci]), path)
