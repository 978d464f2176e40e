"""Every sample at once: :func:`make_all` and ``python -m dqmask.datasets``."""

from __future__ import annotations

from pathlib import Path

from ._common import PathLike
from .hst import WFC3_IR_SHAPE, make_acs_wfc_flt, make_wfc3_ir_flt, make_wfc3_uvis_flt
from .jwst import (
    JWST_FULL,
    SMALL_NIRCAM_SUBARRAY,
    make_nircam_cal,
    make_nircam_i2d,
    make_nircam_rate,
    make_nircam_rateints,
    make_nircam_uncal,
    make_niriss_cal,
    make_nirspec_ifu_rate,
)

__all__ = ["SAMPLE_KEYS", "make_all", "main"]

#: Keys of :func:`make_all`.
SAMPLE_KEYS = (
    "nircam_cal", "nircam_rate", "nircam_rateints", "nircam_uncal", "nircam_i2d",
    "niriss_cal", "nirspec_ifu_rate", "acs_wfc_flt", "wfc3_uvis_flt", "wfc3_ir_flt",
)


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------


def make_all(outdir: PathLike, *, small: bool = False, seed: int = 0) -> dict[str, Path]:
    """Write one file of each kind into ``outdir``; return ``{key: path}``.

    Keys: :data:`SAMPLE_KEYS`. Full size by default; ``small=True`` writes quick, small
    versions (NIRCam SUB320 corner subarray, 256 x 256 NIRISS, 128 x 256 HST chips,
    256 x 256 WFC3/IR, a 300 x 320 i2d, 4-group uncal). The NIRSpec IFU rate is always full
    frame (IFU exposures are; NSClean masks are 2048 x 2048); a smaller one is available with
    :func:`make_nirspec_ifu_rate` ``shape=``.

    Parameters
    ----------
    outdir : path-like
        Folder (created).
    small : bool
        Small files for tests.
    seed : int
        Random seed for every file.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    p = {k: out / f"{v}.fits" for k, v in {
        "nircam_cal": "jw09999001001_02101_00001_nrca1_cal",
        "nircam_rate": "jw09999001001_02101_00001_nrca1_rate",
        "nircam_rateints": "jw09999001001_02101_00001_nrca1_rateints",
        "nircam_uncal": "jw09999001001_02101_00001_nrca1_uncal",
        "nircam_i2d": "jw09999-o001_t001_nircam_clear-f200w_i2d",
        "niriss_cal": "jw09999002001_02101_00001_nis_cal",
        "nirspec_ifu_rate": "jw09999003001_03101_00001_nrs1_rate",
        "acs_wfc_flt": "jdqm01a1q_flt",
        "wfc3_uvis_flt": "idqm01a1q_flt",
        "wfc3_ir_flt": "idqm01b1q_flt",
    }.items()}
    sub = SMALL_NIRCAM_SUBARRAY if small else None
    res: dict[str, Path] = {}
    res["nircam_cal"] = make_nircam_cal(p["nircam_cal"], subarray=sub, seed=seed)
    res["nircam_rate"] = make_nircam_rate(p["nircam_rate"], subarray=sub, seed=seed)
    res["nircam_rateints"] = make_nircam_rateints(p["nircam_rateints"], subarray=sub,
                                                  seed=seed, nints=2)
    res["nircam_uncal"] = make_nircam_uncal(p["nircam_uncal"], subarray=sub, seed=seed,
                                            ngroups=4 if small else 10)
    res["nircam_i2d"] = make_nircam_i2d(p["nircam_i2d"], shape=(300, 320) if small
                                        else (2200, 2300), seed=seed)
    res["niriss_cal"] = make_niriss_cal(p["niriss_cal"], seed=seed,
                                        shape=(256, 256) if small else JWST_FULL)
    # NIRSpec IFU exposures are always full frame (NSClean masks are 2048 x 2048): full
    # frame even when small
    res["nirspec_ifu_rate"] = make_nirspec_ifu_rate(p["nirspec_ifu_rate"], seed=seed)
    hst_chip = (128, 256) if small else None
    res["acs_wfc_flt"] = make_acs_wfc_flt(p["acs_wfc_flt"], shape=hst_chip, seed=seed)
    res["wfc3_uvis_flt"] = make_wfc3_uvis_flt(p["wfc3_uvis_flt"], shape=hst_chip, seed=seed)
    res["wfc3_ir_flt"] = make_wfc3_ir_flt(p["wfc3_ir_flt"], seed=seed,
                                          shape=(256, 256) if small else WFC3_IR_SHAPE)
    return res


def main(argv: list[str] | None = None) -> int:
    """``python -m dqmask.datasets OUTDIR [--small] [--seed N]``: write every sample."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dqmask.datasets",
                                     description="Write generated JWST/HST sample files.")
    parser.add_argument("outdir")
    parser.add_argument("--small", action="store_true", help="small, fast files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for key, path in make_all(args.outdir, small=args.small, seed=args.seed).items():
        print(f"{key:18s} {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
