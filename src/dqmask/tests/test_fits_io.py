"""FITS layer: open_fits, classify, FitsUpdate and provenance (dqmask.io.fits)."""

from __future__ import annotations

import gzip
import hashlib
import mmap
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels as dm

from dqmask import __version__
from dqmask.conftest import shared_file
from dqmask.errors import InputError
from dqmask.io import fits as fits_io
from dqmask.io.atomic import TMP_MARK
from dqmask.io.fits import (
    FitsUpdate,
    add_provenance,
    classify,
    get_hdu,
    has_record,
    open_fits,
    params_digest,
    read_rows,
    require_keyword,
    row_reader,
    step_records,
    write_hdulist,
)

# --------------------------------------------------------------------------------------------
# Tiny generated files (built here on purpose: no dependency on dqmask.datasets)
# --------------------------------------------------------------------------------------------


def _jwst_meta(model, *, instrument="NIRCAM", detector="NRCA1", exp_type="NRC_IMAGE",
               subarray="FULL", bunit="DN/s", steps=()) -> None:
    model.meta.telescope = "JWST"
    model.meta.instrument.name = instrument
    model.meta.instrument.detector = detector
    model.meta.exposure.type = exp_type
    model.meta.subarray.name = subarray
    model.meta.subarray.xstart = 1
    model.meta.subarray.ystart = 1
    model.meta.subarray.xsize = 2048
    model.meta.subarray.ysize = 2048
    if hasattr(model.meta, "bunit_data") and bunit:
        model.meta.bunit_data = bunit
    for step in steps:
        setattr(model.meta.cal_step, step, "COMPLETE")


def _save(model, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(str(path))
    model.close()
    return path


def make_jwst(kind: str, folder: Path) -> Path:
    """Write a tiny JWST file of product ``kind`` through stdatamodels."""
    rng = np.random.default_rng(1)
    path = folder / f"jw_tiny_{kind}.fits"
    if kind in ("rate", "cal", "crf", "i2d"):
        m = dm.ImageModel((12, 10))
        m.data = rng.normal(size=(12, 10)).astype(np.float32)
        m.dq = np.zeros((12, 10), np.uint32)
        m.dq[0, :4] = [1, 2, 1073741825, 1 << 31]
        m.err = np.ones((12, 10), np.float32)
        steps = {"rate": (), "cal": ("photom",), "crf": ("photom", "outlier_detection"),
                 "i2d": ("photom", "resample")}[kind]
        _jwst_meta(m, bunit="DN/s" if kind == "rate" else "MJy/sr", steps=steps)
        if kind == "i2d":
            m.wht = np.ones((12, 10), np.float32)
            m.con = np.ones((1, 12, 10), np.int32)
        return _save(m, path)
    if kind in ("rateints", "calints"):
        m = dm.CubeModel((3, 12, 10))
        m.data = np.ones((3, 12, 10), np.float32)
        m.dq = np.zeros((3, 12, 10), np.uint32)
        m.dq[1, 2, 3] = 4
        _jwst_meta(m, bunit="DN/s" if kind == "rateints" else "MJy/sr",
                   steps=() if kind == "rateints" else ("photom",))
        return _save(m, path)
    if kind == "ramp":
        m = dm.RampModel((2, 3, 12, 10))
        m.pixeldq = np.zeros((12, 10), np.uint32)
        m.pixeldq[5, 5] = 1024
        m.groupdq = np.zeros((2, 3, 12, 10), np.uint8)
        m.groupdq[0, 1, 4, 4] = 4 | 16
        _jwst_meta(m, instrument="NIRISS", detector="NIS", exp_type="NIS_IMAGE",
                   subarray="SUB64", bunit=None)
        return _save(m, path)
    if kind == "uncal":
        m = dm.Level1bModel((1, 4, 12, 10))
        m.data = np.full((1, 4, 12, 10), 1000, np.uint16)
        _jwst_meta(m, instrument="MIRI", detector="MIRIMAGE", exp_type="MIR_IMAGE",
                   bunit=None)
        return _save(m, path)
    raise ValueError(kind)


def make_hst(kind: str, folder: Path) -> Path:
    """Write a tiny HST file of product ``kind`` with astropy."""
    path = folder / f"hst_tiny_{kind}.fits"
    primary = fits.PrimaryHDU()
    ph = primary.header
    ph["TELESCOP"] = "HST"
    inst, det = {"acs_flt": ("ACS", "WFC"), "uvis_flc": ("WFC3", "UVIS"),
                 "ir_flt": ("WFC3", "IR"), "acs_drz": ("ACS", "WFC"),
                 "acs_drc": ("ACS", "WFC"), "hrc_raw": ("ACS", "HRC"),
                 "stis_sub": ("STIS", "CCD")}[kind]
    ph["INSTRUME"], ph["DETECTOR"] = inst, det
    ph["PCTECORR"] = "COMPLETE" if kind in ("uvis_flc", "acs_drc") else "OMIT"
    ph["FLATCORR"] = "PERFORM" if kind == "hrc_raw" else "COMPLETE"
    ph["SUBARRAY"] = kind == "stis_sub"
    ph["APERTURE"] = "52X2" if kind == "stis_sub" else "WFC"
    hdus: list = [primary]
    if kind in ("acs_drz", "acs_drc"):
        hdus += [fits.ImageHDU(np.ones((9, 8), np.float32), name="SCI"),
                 fits.ImageHDU(np.ones((9, 8), np.float32), name="WHT"),
                 fits.ImageHDU(np.ones((9, 8), np.int32), name="CTX")]
    else:
        nchip = 2 if kind in ("acs_flt", "uvis_flc") else 1
        for ver in range(1, nchip + 1):
            sci_data = (np.full((9, 8), 500, np.uint16) if kind == "hrc_raw"
                        else np.ones((9, 8), np.float32))
            sci = fits.ImageHDU(sci_data, name="SCI", ver=ver)
            if nchip == 2:
                sci.header["CCDCHIP"] = 3 - ver  # ACS/WFC and UVIS: SCI,1 is chip 2
            dq = np.zeros((9, 8), np.int16)
            dq[ver, ver] = -32768 if ver == 1 else 16
            hdus += [sci, fits.ImageHDU(np.ones((9, 8), np.float32), name="ERR", ver=ver),
                     fits.ImageHDU(dq, name="DQ", ver=ver)]
    fits.HDUList(hdus).writeto(path)
    return path


JWST_KINDS = ["rate", "cal", "crf", "i2d", "rateints", "calints", "ramp", "uncal"]
HST_KINDS = ["acs_flt", "uvis_flc", "ir_flt", "acs_drz", "acs_drc", "hrc_raw", "stis_sub"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("generated")
    out = {k: make_jwst(k, folder) for k in JWST_KINDS}
    out.update({k: make_hst(k, folder) for k in HST_KINDS})
    return out


@pytest.fixture
def copy_of(generated, tmp_path) -> Callable[[str], Path]:
    """A private, writable copy of a generated file."""
    def _copy(kind: str) -> Path:
        dst = tmp_path / generated[kind].name
        shutil.copyfile(generated[kind], dst)
        return dst
    return _copy


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def hdu_bytes(path: Path) -> list[tuple[str, int, bytes, bytes]]:
    """(EXTNAME, EXTVER, raw header bytes, raw data bytes) of every HDU, from fileinfo."""
    raw = Path(path).read_bytes()
    out = []
    with fits.open(path) as hdul:
        for i, hdu in enumerate(hdul):
            info = hdul.fileinfo(i)
            out.append((hdu.name, hdu.ver, raw[info["hdrLoc"]: info["datLoc"]],
                        raw[info["datLoc"]: info["datLoc"] + info["datSpan"]]))
    return out


# --------------------------------------------------------------------------------------------
# Classification: real files in ../shared/data
# --------------------------------------------------------------------------------------------

# name: (telescope, instrument, detector, product, n_chips, subarray, is_subarray)
REAL = {
    "jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits":
        ("JWST", "NIRCAM", "NRCALONG", "cal", 1, "FULL", False),
    "jwst_nircam_mask_0026_nrca1_MASK_ref.fits":
        ("JWST", "NIRCAM", "NRCA1", "mask_ref", 0, "GENERIC", False),
    "jwst_fgs_acq1_uncal_jw01019.fits":
        ("JWST", "FGS", "GUIDER2", "uncal", 1, "128X128", True),
    "jwst_miri_f1130w_i2d_64x64_stub.fits":
        ("JWST", "MIRI", "MIRIMAGE", "i2d", 1, "FULL", False),
    "jwst_nirspec_fs_cal_header_stub_2x5.fits":
        ("JWST", "NIRSPEC", "NRS1", "cal", 1, "SUBS200A2", True),
    "hst_stis_ccd_o4k19a010_flt.fits": ("HST", "STIS", "CCD", "flt", 2, "FULL", False),
    "hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits":
        ("HST", "WFC3", "UVIS", "flc", 2, "FULL", False),
    "hst_wfc3_ir_f110w_ib4606cpq_flt_10x10.fits": ("HST", "WFC3", "IR", "flt", 1, "FULL", False),
    "hst_acs_hrc_j8bt09jcq_raw.fits": ("HST", "ACS", "HRC", "raw", 1, "FULL", False),
    "hst_acs_wfc_j94f05bgq_flt_ZEROED_DATA.fits.gz":
        ("HST", "ACS", "WFC", "flt", 2, "FULL", False),
}
NSCLEAN = ["nsclean_masks/nrs1_ifu_mask_thorough.fits.gz",
           "nsclean_masks/nrs2_ifu_mask_thorough.fits.gz",
           "nsclean_masks/20230306_nrs1_ifu_mask.fits.gz",
           "nsclean_masks/20230306_nrs2_ifu_mask.fits.gz"]


@pytest.mark.parametrize("name", sorted(REAL))
def test_classify_real_file(name):
    path = shared_file(name)
    info = classify(path)
    tel, inst, det, product, nchips, subarray, is_sub = REAL[name]
    assert (info.telescope, info.instrument, info.detector, info.product) == (tel, inst, det,
                                                                              product)
    assert len(info.chips) == nchips
    assert info.subarray == subarray
    assert info.is_subarray is is_sub
    assert info.is_jwst == (tel == "JWST") and info.is_hst == (tel == "HST")
    assert info.path == os.fspath(path)


def test_real_file_details(shared_data):
    cut = classify(shared_file("jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits"))
    assert cut.chips[0].shape == (100, 100) and cut.chips[0].dq == cut.extnames.index("DQ")
    assert cut.subsize == (2048, 2048) and cut.exp_type == "NRC_IMAGE"
    fgs = classify(shared_file("jwst_fgs_acq1_uncal_jw01019.fits"))
    assert fgs.exp_type == "FGS_ACQ1" and fgs.substrt == (887, 1022)
    assert fgs.subsize == (128, 128) and fgs.chips[0].shape == (6, 2, 128, 128)
    assert fgs.chips[0].dq is None
    ref = classify(shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits"))
    assert "DQ" in ref.extnames and "DQ_DEF" in ref.extnames
    nrs = classify(shared_file("jwst_nirspec_fs_cal_header_stub_2x5.fits"))
    assert nrs.chips[0].shape == (2, 5) and nrs.exp_type == "NRS_FIXEDSLIT"
    uvis = classify(shared_file("hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits"))
    assert [(c.extver, c.ccdchip, c.shape) for c in uvis.chips] == [(1, 2, (10, 10)),
                                                                    (2, 1, (10, 10))]
    assert all(c.dq is not None and uvis.extnames[c.dq] == "DQ" for c in uvis.chips)
    acs = classify(shared_file("hst_acs_wfc_j94f05bgq_flt_ZEROED_DATA.fits.gz"))
    assert [(c.extver, c.ccdchip, c.shape) for c in acs.chips] == [(1, 2, (2048, 4096)),
                                                                   (2, 1, (2048, 4096))]
    stis = classify(shared_file("hst_stis_ccd_o4k19a010_flt.fits"))
    assert [c.shape for c in stis.chips] == [(1024, 1024)] * 2
    hrc = classify(shared_file("hst_acs_hrc_j8bt09jcq_raw.fits"))
    assert hrc.chips[0].shape == (1044, 1062) and hrc.chips[0].dq is None  # empty DQ


@pytest.mark.parametrize("name", NSCLEAN)
def test_classify_nsclean_masks(name):
    info = classify(shared_file(name))
    assert info.product == "mask" and info.telescope == ""
    assert len(info.chips) == 1 and info.chips[0].shape == (2048, 2048)
    assert info.chips[0].sci == 0


def test_classify_every_shared_fits_file(shared_data):
    """Every FITS file in ../shared/data classifies (nothing raises, nothing 'unknown')."""
    files = sorted(p for p in shared_data.rglob("*") if ".fits" in p.name)
    assert len(files) >= 17
    for path in files:
        info = classify(path)
        assert info.product != "unknown", path
        assert info.chips or info.product == "mask_ref", path


def test_classify_uses_header_not_name(shared_data, tmp_path):
    src = shared_file("hst_wfc3_ir_f110w_ib4606cpq_flt_10x10.fits")
    liar = tmp_path / "jw00000_nrca1_i2d.fits"
    shutil.copyfile(src, liar)
    assert classify(liar).product == "flt" and classify(liar).telescope == "HST"


# --------------------------------------------------------------------------------------------
# Classification: generated files
# --------------------------------------------------------------------------------------------

JWST_EXPECTED = {
    # kind: (instrument, detector, product, chip shape, DQ extname)
    "rate": ("NIRCAM", "NRCA1", "rate", (12, 10), "DQ"),
    "cal": ("NIRCAM", "NRCA1", "cal", (12, 10), "DQ"),
    "crf": ("NIRCAM", "NRCA1", "crf", (12, 10), "DQ"),
    "i2d": ("NIRCAM", "NRCA1", "i2d", (12, 10), "DQ"),
    "rateints": ("NIRCAM", "NRCA1", "rateints", (3, 12, 10), "DQ"),
    "calints": ("NIRCAM", "NRCA1", "calints", (3, 12, 10), "DQ"),
    "ramp": ("NIRISS", "NIS", "ramp", (2, 3, 12, 10), "PIXELDQ"),
    "uncal": ("MIRI", "MIRIMAGE", "uncal", (1, 4, 12, 10), None),
}


@pytest.mark.parametrize("kind", JWST_KINDS)
def test_classify_generated_jwst(generated, kind):
    info = classify(generated[kind])
    inst, det, product, shape, dqname = JWST_EXPECTED[kind]
    assert (info.telescope, info.instrument, info.detector, info.product) == ("JWST", inst, det,
                                                                              product)
    assert len(info.chips) == 1 and info.chips[0].shape == shape
    chip = info.chips[0]
    assert info.extnames[chip.sci] == "SCI"
    assert (info.extnames[chip.dq] if chip.dq is not None else None) == dqname
    assert info.subsize == (2048, 2048) and info.substrt == (1, 1)
    assert info.is_subarray is (kind == "ramp")  # SUB64


HST_EXPECTED = {
    # kind: (instrument, detector, product, n chips, ccdchips, subarray)
    "acs_flt": ("ACS", "WFC", "flt", 2, [2, 1], "FULL"),
    "uvis_flc": ("WFC3", "UVIS", "flc", 2, [2, 1], "FULL"),
    "ir_flt": ("WFC3", "IR", "flt", 1, [None], "FULL"),
    "acs_drz": ("ACS", "WFC", "drz", 1, [None], "FULL"),
    "acs_drc": ("ACS", "WFC", "drc", 1, [None], "FULL"),
    "hrc_raw": ("ACS", "HRC", "raw", 1, [None], "FULL"),
    "stis_sub": ("STIS", "CCD", "flt", 1, [None], "52X2"),
}


@pytest.mark.parametrize("kind", HST_KINDS)
def test_classify_generated_hst(generated, kind):
    info = classify(generated[kind])
    inst, det, product, nchips, ccdchips, subarray = HST_EXPECTED[kind]
    assert (info.telescope, info.instrument, info.detector, info.product) == ("HST", inst, det,
                                                                              product)
    assert len(info.chips) == nchips
    assert [c.ccdchip for c in info.chips] == ccdchips
    assert [c.extver for c in info.chips] == list(range(1, nchips + 1))
    assert info.subarray == subarray and info.is_subarray is (subarray != "FULL")
    for chip in info.chips:
        assert info.extnames[chip.sci] == "SCI" and chip.shape == (9, 8)
        if product in ("flt", "flc", "raw"):
            assert chip.dq is not None
            assert info.extnames[chip.dq] == "DQ"
            with fits.open(generated[kind]) as hdul:
                assert hdul[chip.dq].header["EXTVER"] == chip.extver


def test_describe(generated):
    assert classify(generated["rate"]).describe() == "JWST NIRCAM NRCA1 rate FULL 1 chip"
    assert classify(generated["acs_flt"]).describe() == "HST ACS WFC flt FULL 2 chips"


# --------------------------------------------------------------------------------------------
# open_fits, get_hdu, require_keyword
# --------------------------------------------------------------------------------------------


def test_open_fits_is_memory_mapped_and_read_only(generated):
    with open_fits(generated["rate"]) as hdul:
        assert hdul._file.memmap  # astropy's own flag: data come from a memory map
        assert hdul._file.mode == "readonly"
        base = hdul["SCI"].data
        while isinstance(base, np.ndarray) and not isinstance(base, np.memmap):
            base = base.base
        assert isinstance(base, (np.memmap, mmap.mmap)), type(base)


def test_get_hdu_and_require_keyword(generated):
    with open_fits(generated["acs_flt"]) as hdul:
        assert get_hdu(hdul, ("DQ", 2)).header["EXTVER"] == 2
        with pytest.raises(InputError, match="missing extension DQ,3"):
            get_hdu(hdul, ("DQ", 3), "f.fits")
        with pytest.raises(InputError, match="missing extension WHT"):
            get_hdu(hdul, "WHT", "f.fits")
        assert require_keyword(hdul[0].header, "INSTRUME", "f.fits") == "ACS"
        with pytest.raises(InputError) as err:
            require_keyword(hdul[0].header, "PHOTMJSR", "f.fits")
        assert err.value.oneline() == "f.fits: missing keyword PHOTMJSR in primary header"


# --------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------


def test_add_provenance_writes_version_record_and_one_history_line():
    h = fits.Header()
    rec = add_provenance(h, "apply", {"flags": "DO_NOT_USE", "grow": 2})
    assert rec == params_digest({"grow": 2, "flags": "DO_NOT_USE"})  # order-independent
    assert len(rec) == 16
    assert h["DQM_VER"] == __version__
    assert h["DQMR0001"] == f"apply {rec}"
    assert h.comments["DQMR0001"] == "dqmask step record"
    history = list(h["HISTORY"])
    assert history == [f"dqmask {__version__} apply: flags=DO_NOT_USE, grow=2"]


def test_record_numbering_and_step_records():
    h = fits.Header()
    add_provenance(h, "apply", {}, record="r1")
    add_provenance(h, "grow", {}, record="r2")
    add_provenance(h, "apply", {}, record="r3")
    assert [h[f"DQMR000{i}"] for i in (1, 2, 3)] == ["apply r1", "grow r2", "apply r3"]
    assert step_records(h) == [("apply", "r1"), ("grow", "r2"), ("apply", "r3")]
    assert step_records(h, "apply") == [("apply", "r1"), ("apply", "r3")]
    assert len(h["HISTORY"]) == 3
    del h["DQMR0002"]
    add_provenance(h, "x", {}, record="r4")
    assert h["DQMR0004"] == "x r4"  # never reuses a number below the highest


def test_has_record_is_exact():
    h = fits.Header()
    add_provenance(h, "apply", {}, record="abc123")
    assert has_record(h, "apply", "abc123")
    assert not has_record(h, "apply", "abc")  # prefix of the record
    assert not has_record(h, "apply", "abc1234")
    assert not has_record(h, "app", "abc123")  # prefix of the step
    assert not has_record(h, "apply2", "abc123")
    assert not has_record(h, "grow", "abc123")
    h2 = fits.Header()
    h2.add_history("dqmask 1.0 apply abc123")
    h2.add_history("apply abc123")
    h2["DQMRX001"] = "apply abc123"  # not a record keyword
    assert not has_record(h2, "apply", "abc123")
    assert step_records(h2) == []


def test_record_with_blanks_is_found():
    h = fits.Header()
    add_provenance(h, "apply", {}, record="flags=3 grow=2")
    assert has_record(h, "apply", "flags=3 grow=2")
    assert not has_record(h, "apply", "flags=3")


@pytest.mark.parametrize("step", ["", "two words", "tab\tstep"])
def test_bad_step_name(step):
    with pytest.raises(ValueError):
        add_provenance(fits.Header(), step, {})


def test_provenance_survives_a_write(copy_of):
    path = copy_of("rate")
    with FitsUpdate(path) as up:
        rec = add_provenance(up.header(0), "apply", {"flags": 3})
    with fits.open(path) as hdul:
        assert has_record(hdul[0].header, "apply", rec)
        assert hdul[0].header["DQM_VER"] == __version__
    with FitsUpdate(path) as up:
        add_provenance(up.header(0), "apply", {"flags": 4})
    with fits.open(path) as hdul:
        assert len(step_records(hdul[0].header, "apply")) == 2
        assert "DQMR0002" in hdul[0].header


# --------------------------------------------------------------------------------------------
# FitsUpdate
# --------------------------------------------------------------------------------------------


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if TMP_MARK in p.name]


@pytest.mark.parametrize("kind", ["rate", "acs_flt"])
def test_update_copies_untouched_hdus_byte_for_byte(copy_of, kind):
    path = copy_of(kind)
    before = hdu_bytes(path)
    dqkey = "DQ" if kind == "rate" else ("DQ", 1)
    with FitsUpdate(path) as up:
        dq = up.data(dqkey)
        dq[3, 3] |= 4
        up.set_data(dqkey, dq)
        dq_index = up.index(dqkey)
    after = hdu_bytes(path)
    assert [(n, v) for n, v, _, _ in after] == [(n, v) for n, v, _, _ in before]
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        if i == dq_index:
            assert a[3] != b[3]
            continue
        assert a[2] == b[2], f"header of HDU {i} {b[0]} changed"
        assert a[3] == b[3], f"data of HDU {i} {b[0]} changed"


def test_update_real_multi_extension_file(tmp_path):
    src = shared_file("hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits")
    path = tmp_path / src.name
    shutil.copyfile(src, path)
    before = hdu_bytes(path)
    with FitsUpdate(path) as up:
        i = up.index(("DQ", 2))
        dq = up.data(("DQ", 2))
        dq[0, 0] |= np.int16(-32768)
        up.set_data(("DQ", 2), dq)
        add_provenance(up.header(0), "test", {"x": 1})
    after = hdu_bytes(path)
    assert len(after) == len(before) == 26
    for j, (b, a) in enumerate(zip(before, after, strict=True)):
        if j == 0:
            assert a[3] == b[3]  # primary header changed, (empty) data not
        elif j != i:
            assert (a[2], a[3]) == (b[2], b[3]), f"HDU {j} {b[0]},{b[1]} changed"
    with fits.open(path) as hdul:
        assert hdul["DQ", 2].data.dtype == np.dtype(">i2")
        assert hdul["DQ", 2].data[0, 0] < 0
        assert "BZERO" not in hdul["DQ", 2].header


def test_replaced_dq_stays_uint32_with_bzero(copy_of):
    path = copy_of("rate")
    new = np.zeros((12, 10), np.uint32)
    new[0, 0] = 0xFFFFFFFF
    new[1, 1] = 1 << 31
    new[2, 2] = 1
    with FitsUpdate(path) as up:
        up.set_data("DQ", new)
    with fits.open(path) as hdul:
        hdr = hdul["DQ"].header
        assert hdr["BITPIX"] == 32 and hdr["BZERO"] == 2147483648
        assert hdul["DQ"].data.dtype == np.uint32
        assert np.array_equal(hdul["DQ"].data, new)


def test_header_edits_land(copy_of):
    path = copy_of("cal")
    with FitsUpdate(path) as up:
        up.header("DQ")["DQMTEST"] = (7, "a test card")
        up.header(0)["PRIMTEST"] = "yes"
        assert up.changed == {up.index("DQ"), 0}
    with fits.open(path) as hdul:
        assert hdul["DQ"].header["DQMTEST"] == 7
        assert hdul["DQ"].header.comments["DQMTEST"] == "a test card"
        assert hdul[0].header["PRIMTEST"] == "yes"


def test_exception_inside_update_leaves_file_identical(copy_of):
    path = copy_of("rate")
    digest = sha256(path)
    with pytest.raises(RuntimeError, match="boom"), FitsUpdate(path) as up:
        up.set_data("DQ", np.ones((12, 10), np.uint32))
        add_provenance(up.header(0), "apply", {})
        raise RuntimeError("boom")
    assert sha256(path) == digest
    assert _no_temp_files(path.parent)


def test_cancel_writes_nothing(copy_of):
    path = copy_of("rate")
    digest = sha256(path)
    mtime = path.stat().st_mtime_ns
    with FitsUpdate(path) as up:
        up.set_data("DQ", np.ones((12, 10), np.uint32))
        up.cancel()
    assert sha256(path) == digest and path.stat().st_mtime_ns == mtime


def test_out_path_leaves_input_untouched(copy_of, tmp_path):
    path = copy_of("acs_flt")
    digest = sha256(path)
    out = tmp_path / "result_flt.fits"
    with FitsUpdate(path, out=out) as up:
        dq = up.data(("DQ", 1))
        dq[:] = 4
        up.set_data(("DQ", 1), dq)
    assert sha256(path) == digest
    with fits.open(out) as hdul:
        assert (hdul["DQ", 1].data == 4).all() and hdul["DQ", 1].data.dtype.kind == "i"
        assert hdul["DQ", 1].data.dtype.itemsize == 2


def test_data_returns_private_copy(copy_of):
    path = copy_of("rate")
    digest = sha256(path)
    with FitsUpdate(path) as up:
        dq = up.data("DQ")
        dq[:] = 99
        on_disk = up.peek("DQ")
        assert on_disk is not None and on_disk[5, 5] == 0
        up.cancel()
    assert sha256(path) == digest


def test_missing_extension_in_update_is_input_error(copy_of):
    path = copy_of("rate")
    digest = sha256(path)
    with pytest.raises(InputError, match="missing extension PIXELDQ"), FitsUpdate(path) as up:
        up.data("PIXELDQ")
    assert sha256(path) == digest


def test_stdatamodels_reads_updated_file(copy_of):
    path = copy_of("rate")
    with FitsUpdate(path) as up:
        dq = up.data("DQ")
        dq[7, 7] = 1073741825
        up.set_data("DQ", dq)
        add_provenance(up.header(0), "apply", {"n": 1})
    with dm.open(str(path)) as model:
        assert isinstance(model, dm.ImageModel)
        assert model.dq.dtype == np.uint32
        assert model.dq[7, 7] == 1073741825
        assert model.dq[0, 3] == 1 << 31
        assert model.meta.instrument.name == "NIRCAM"


def test_update_keeps_permissions(copy_of):
    path = copy_of("rate")
    path.chmod(0o640)
    with FitsUpdate(path) as up:
        up.header(0)["X"] = 1
    assert (path.stat().st_mode & 0o777) == 0o640


def test_write_hdulist_roundtrip(tmp_path):
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.arange(6, dtype=np.uint32)
                                                          .reshape(2, 3), name="DQ")])
    target = tmp_path / "out.fits"
    target.write_bytes(b"old content")
    write_hdulist(hdul, target)
    with fits.open(target) as back:
        assert back["DQ"].data.dtype == np.uint32
        assert back["DQ"].data.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert _no_temp_files(tmp_path)


def test_update_of_gzipped_file_stays_gzipped(copy_of, tmp_path):
    plain = copy_of("acs_flt")
    gz = tmp_path / "acs_flt.fits.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    with FitsUpdate(gz) as up:
        dq = up.data(("DQ", 2))
        dq[4, 4] = 256
        up.set_data(("DQ", 2), dq)
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    raw = gzip.decompress(gz.read_bytes())
    assert raw[:6] == b"SIMPLE" and len(raw) % 2880 == 0
    assert classify(gz).product == "flt"
    with fits.open(gz) as hdul:
        assert hdul["DQ", 2].data[4, 4] == 256 and hdul["DQ", 2].data.dtype.kind == "i"


def test_update_refreshes_checksums_of_changed_hdus(tmp_path):
    path = tmp_path / "with_sums.fits"
    hdul = fits.HDUList([fits.PrimaryHDU(),
                         fits.ImageHDU(np.zeros((6, 6), np.uint32), name="DQ"),
                         fits.ImageHDU(np.ones((6, 6), np.float32), name="SCI")])
    hdul[0].header["TELESCOP"] = "JWST"
    hdul.writeto(path, checksum=True)
    before = hdu_bytes(path)
    with FitsUpdate(path) as up:
        up.set_data("DQ", np.full((6, 6), 1 << 31, np.uint32))
        add_provenance(up.header(0), "apply", {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum mismatch
        with fits.open(path, checksum=True) as back:
            assert back["DQ"].data[0, 0] == 1 << 31
            assert "DQMR0001" in back[0].header
    after = hdu_bytes(path)
    assert after[2][2:] == before[2][2:]  # untouched SCI: same header (sums) and data


def test_stdatamodels_reads_updated_reference_file(tmp_path):
    src = shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits")
    path = tmp_path / src.name
    shutil.copyfile(src, path)
    with FitsUpdate(path) as up:
        dq = up.data("DQ")
        dq[10, 10] = 4  # raw value 4 is DEAD in this file's DQ_DEF
        up.set_data("DQ", dq)
        add_provenance(up.header(0), "test", {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.MaskModel(str(path)) as model:  # maps raw DQ through DQ_DEF
            assert model.dq.dtype == np.uint32
            assert model.dq[10, 10] == dm.dqflags.pixel["DEAD"]
            assert len(model.dq_def) == 13
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(path, checksum=True) as back:
            assert back["DQ"].data[10, 10] == 4


@pytest.mark.parametrize("padding", [2880, 100])
def test_zero_padding_after_last_hdu_is_accepted(generated, tmp_path, padding):
    path = tmp_path / "padded_rate.fits"
    path.write_bytes(generated["rate"].read_bytes() + b"\0" * padding)
    assert classify(path).product == "rate"


@pytest.mark.parametrize(("plain", "other"), [
    ({"grow": 3}, {"grow": np.int64(3)}),
    ({"grow": 3}, {"grow": np.uint8(3)}),
    ({"f": 0.5}, {"f": np.float32(0.5)}),
    ({"on": True}, {"on": np.bool_(True)}),
    ({"mask": "a/b.fits"}, {"mask": Path("a/b.fits")}),
    ({"flags": [1, 2]}, {"flags": np.array([1, 2], np.uint32)}),
    ({"flags": [1, 2]}, {"flags": (1, 2)}),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
])
def test_params_digest_depends_on_values_not_types(plain, other):
    assert params_digest(plain) == params_digest(other)


def test_params_digest_distinguishes_values():
    assert params_digest({"grow": 3}) != params_digest({"grow": 4})
    assert params_digest({"grow": 3}) != params_digest({"grow": "3"})
    assert params_digest({}) != params_digest({"grow": 0})


def test_long_records_and_params_survive_a_file_round_trip(copy_of):
    path = copy_of("rate")
    record = "x" * 150  # longer than one card: a CONTINUE long string
    params = {"mask": "/very/long/path/" + "d" * 120 + "/mask.fits", "grow": 2}
    with FitsUpdate(path) as up:
        add_provenance(up.header(0), "apply", params, record=record)
        add_provenance(up.header(0), "apply", params)
    with fits.open(path) as hdul:
        header = hdul[0].header
        assert has_record(header, "apply", record)
        assert has_record(header, "apply", params_digest(params))
        assert not has_record(header, "apply", record[:-1])
        history = list(header["HISTORY"])
        assert len(history) == 2 and all(h.startswith(f"dqmask {__version__} apply: mask=")
                                         for h in history)
        # the parameters the card cannot hold are all kept, in DQMPnnnn (a long string)
        assert header["DQMP0001"] == header["DQMP0002"] == f"mask={params['mask']}, grow=2"
        assert history[0].endswith(" ... (see DQMP0001)")


def _one_card_history(text: str) -> bool:
    return len(text) <= 72 and text.isprintable()


@pytest.mark.parametrize("params", [
    {},
    {"flags": "DO_NOT_USE", "grow": 2},
    {"mask": "claws_" + "x" * 40 + ".fits", "conv": "bad", "flags": 1073741825,
     "npix": 123456, "frac": 0.012345, "grow": 3, "zero_data": True},
    {"inputs": ",".join(f"jcli0{i}abq_flt.fits" for i in range(9))},
])
def test_history_of_a_step_is_one_card_that_stdatamodels_reads_as_one_entry(copy_of, params):
    from stdatamodels.jwst import datamodels

    path = copy_of("rate")
    with fits.open(path) as hdul:
        before = list(hdul[0].header.get("HISTORY", []))
    with FitsUpdate(path) as up:
        add_provenance(up.header(0), "apply", params, record="r1")
        add_provenance(up.header(0), "grow", {"pixels": 2}, record="r2")
    header = fits.getheader(path)
    added = list(header["HISTORY"])[len(before):]
    assert len(added) == 2 and all(_one_card_history(h) for h in added)
    with datamodels.open(path) as model, pytest.warns(UserWarning, match="history attribute"):
        entries = [e["description"] for e in model.history]  # what jwst users look at
    assert entries[len(before):] == added
    assert entries[-2].startswith(f"dqmask {__version__} apply")
    assert entries[-1] == f"dqmask {__version__} grow: pixels=2"
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    if f"dqmask {__version__} apply: {shown}" == entries[-2] or not params:
        assert "DQMP0001" not in header
    else:
        assert header["DQMP0001"] == shown and entries[-2].endswith("... (see DQMP0001)")


@pytest.mark.parametrize(("src_gz", "out_gz"), [(False, True), (True, False), (True, True),
                                                (False, False)])
def test_update_between_plain_and_gzip_keeps_every_array(copy_of, tmp_path, src_gz, out_gz):
    plain = copy_of("uvis_flc")
    src = plain
    if src_gz:
        src = tmp_path / "in_flc.fits.gz"
        src.write_bytes(gzip.compress(plain.read_bytes()))
    out = tmp_path / ("out_flc.fits.gz" if out_gz else "out_flc.fits")
    new = np.full((9, 8), 8, np.int16)
    with FitsUpdate(src, out=out) as up:
        up.set_data(("DQ", 1), new)
    assert (out.read_bytes()[:2] == b"\x1f\x8b") is out_gz
    with fits.open(plain) as before, fits.open(out) as after:
        assert len(after) == len(before)
        for a, b in zip(after, before, strict=True):
            if (a.name, a.ver) == ("DQ", 1):
                assert np.array_equal(a.data, new)
            elif b.data is not None:
                assert np.array_equal(a.data, b.data), (a.name, a.ver)


# --------------------------------------------------------------------------------------------
# Strip writing and reading (bounded memory on mosaics)
# --------------------------------------------------------------------------------------------


def _array(dtype: str, shape=(13, 11), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
    a = rng.normal(size=shape).astype(dt)
    a[0, :3] = [np.nan, np.inf, -0.0]
    return a


STRIP_DTYPES = ["uint32", "uint16", "uint64", "int16", "int32", "int64", "uint8", "int8",
                "float32", "float64"]


@pytest.mark.parametrize("dtype", STRIP_DTYPES)
@pytest.mark.parametrize("strip_bytes", [1, 40, 1 << 20])
def test_streamed_hdus_are_byte_identical_to_astropy(copy_of, tmp_path, monkeypatch, dtype,
                                                     strip_bytes):
    """append_strips / set_data_strips write exactly the bytes astropy writes for the whole
    array (uint32: BITPIX 32, BZERO 2**31, sign bit flipped), whatever the strip size."""
    monkeypatch.setattr(fits_io, "STRIP_BYTES", strip_bytes)
    src = copy_of("rate")
    data = _array(dtype)
    calls = []

    def rows(a: int, b: int) -> np.ndarray:
        calls.append((a, b))
        return data[a:b].copy()

    with FitsUpdate(src, out=tmp_path / "astropy.fits") as up:
        up.set_data("DQ", data)
        up.append(fits.ImageHDU(data, name="DQ", ver=2))
    with FitsUpdate(src, out=tmp_path / "strips.fits") as up:
        up.set_data_strips("DQ", data.shape, data.dtype, rows)
        up.append_strips(data.shape, data.dtype, rows, name="DQ", ver=2)
    assert (tmp_path / "strips.fits").read_bytes() == (tmp_path / "astropy.fits").read_bytes()
    assert len(calls) == 2 * len({c for c in calls})  # each strip produced once per HDU
    if strip_bytes == 1:
        assert len(calls) == 2 * data.shape[0]  # one row a strip
    with fits.open(tmp_path / "strips.fits") as hdul:
        back = hdul["DQ", 2].data
        assert back.dtype.newbyteorder("=") == data.dtype
        np.testing.assert_array_equal(back, data)


def test_streamed_uint32_dq_matches_astropy_encoding_exactly(copy_of, tmp_path):
    """The DQ data block is astropy's own encoding of the array: (dq - 2**31) as >i4."""
    data = np.array([[0, 1, 2**31 - 1], [2**31, 2**32 - 1, 1 | 2**30]], dtype=np.uint32)
    src = copy_of("rate")
    with FitsUpdate(src, out=tmp_path / "s.fits") as up:
        up.append_strips(data.shape, np.uint32, lambda a, b: data[a:b], name="DQ", ver=2)
    with fits.open(tmp_path / "s.fits") as hdul:
        info = hdul.fileinfo(len(hdul) - 1)
        header = hdul[-1].header
        assert (header["BITPIX"], header["BZERO"], header["BSCALE"]) == (32, 2**31, 1)
    raw = (tmp_path / "s.fits").read_bytes()[info["datLoc"]:info["datLoc"] + data.nbytes]
    expected = (data.astype(np.int64) - 2**31).astype(">i4").tobytes()
    assert raw == expected


def test_streamed_hdu_with_checksum_is_assembled_and_verifies(copy_of, tmp_path):
    src = copy_of("rate")
    with fits.open(src) as hdul:
        hdul["DQ"].add_checksum()
        hdul.writeto(tmp_path / "sum.fits")
    data = _array("uint32", shape=hdul_shape(src))
    with FitsUpdate(tmp_path / "sum.fits", out=tmp_path / "a.fits") as up:
        up.set_data("DQ", data)
    with FitsUpdate(tmp_path / "sum.fits", out=tmp_path / "b.fits") as up:
        up.set_data_strips("DQ", data.shape, data.dtype, lambda a, b: data[a:b])
    assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(tmp_path / "b.fits", checksum=True) as hdul:
            np.testing.assert_array_equal(hdul["DQ"].data, data)


def hdul_shape(path: Path) -> tuple[int, ...]:
    with fits.open(path) as hdul:
        return hdul["DQ"].data.shape


def test_streamed_strip_of_wrong_shape_or_dtype_is_refused(copy_of, tmp_path):
    src = copy_of("rate")
    shape = hdul_shape(src)
    with pytest.raises(ValueError, match="strip"), FitsUpdate(src, out=tmp_path / "o.fits") as up:
        up.set_data_strips("DQ", shape, np.uint32,
                           lambda a, b: np.zeros((b - a,) + shape[1:], np.float32))
    assert not (tmp_path / "o.fits").exists()
    with pytest.raises(TypeError), FitsUpdate(src, out=tmp_path / "o.fits") as up:
        up.append_strips(shape, bool, lambda a, b: np.zeros((b - a,) + shape[1:], bool))


@pytest.mark.parametrize("dtype", STRIP_DTYPES)
def test_read_rows_decodes_like_astropy(tmp_path, dtype):
    data = _array(dtype, shape=(9, 7), seed=4)
    path = tmp_path / "r.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="X")]).writeto(path)
    with open_fits(path) as hdul:
        reader = row_reader(hdul, "X")
        assert reader is not None
        for a, b in [(0, 9), (2, 5), (8, 9), (4, 4), (7, 20)]:
            rows = reader(a, b)
            assert rows.dtype == data.dtype and rows.dtype.isnative and rows.flags.writeable
            np.testing.assert_array_equal(rows, data[a:b])
        _ = hdul["X"].data  # astropy edits the header once data is loaded: still right
        np.testing.assert_array_equal(read_rows(hdul, "X", 3, 6), data[3:6])
        np.testing.assert_array_equal(read_rows(hdul, "X", 0, 9), hdul["X"].data)


def test_read_rows_of_scaled_or_compressed_data_goes_through_astropy(tmp_path):
    path = tmp_path / "s.fits"
    hdu = fits.ImageHDU(np.arange(20, dtype=np.int16).reshape(4, 5), name="X")
    hdu.header["BSCALE"], hdu.header["BZERO"] = 2.0, 1.0
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    gz = tmp_path / "u.fits.gz"
    data = _array("uint32", shape=(4, 5))
    with gzip.open(gz, "wb") as fh:
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="X")]).writeto(fh)
    with open_fits(path) as hdul:
        assert row_reader(hdul, "X") is None
        np.testing.assert_array_equal(read_rows(hdul, "X", 1, 3), hdul["X"].data[1:3])
    with open_fits(gz) as hdul:
        assert row_reader(hdul, "X") is None
        np.testing.assert_array_equal(read_rows(hdul, "X", 1, 3), data[1:3])


# --------------------------------------------------------------------------------------------
# write_hdulist: non-contiguous image data is written as one block, not element by element
# --------------------------------------------------------------------------------------------


def _views() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    cube = rng.integers(0, 255, size=(3, 4, 5), dtype=np.uint8)
    return {
        "transposed uint8": cube[0].T,
        "strided big-endian int16": rng.integers(-9, 9, size=(8, 10)).astype(">i2")[::2, ::3],
        "transposed big-endian float32": rng.random((6, 7)).astype(">f4").T,
        "transposed uint32 (BZERO)": rng.integers(0, 2**32, size=(4, 6), dtype=np.uint32).T,
        "broadcast plane to cube": np.broadcast_to(cube[1], (2, 4, 5)),
    }


@pytest.mark.parametrize("name", list(_views()))
def test_write_hdulist_of_a_view_is_astropy_bytes_in_one_block(name, tmp_path, monkeypatch):
    from astropy.io.fits import util

    view = _views()[name]
    assert not view.flags.c_contiguous

    def hdul() -> fits.HDUList:
        return fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(view, name="DQ")])

    ref = tmp_path / "astropy.fits"
    hdul().writeto(ref)
    written: list[bool] = []
    real = util._array_to_file_like

    def spy(arr, fileobj):
        written.append(arr.flags.c_contiguous)
        return real(arr, fileobj)

    monkeypatch.setattr(util, "_array_to_file_like", spy)
    out = tmp_path / "dqmask.fits"
    write_hdulist(hdul(), out)
    assert out.read_bytes() == ref.read_bytes()
    assert written and all(written)  # astropy writes a non-contiguous array item by item


def test_write_hdulist_keeps_the_strip_writers_placeholder(tmp_path, monkeypatch):
    """A streamed HDU's zero-stride placeholder is never copied into a whole array."""
    src = tmp_path / "in.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((40, 30), np.uint32), name="DQ")]
                 ).writeto(src)
    copies: list[tuple[int, ...]] = []
    real = np.ascontiguousarray

    def spy(a, *args, **kwargs):
        copies.append(np.shape(a))
        return real(a, *args, **kwargs)

    monkeypatch.setattr(fits_io.np, "ascontiguousarray", spy)
    with fits_io.FitsUpdate(src, tmp_path / "out.fits") as up:
        up.set_data_strips("DQ", (40, 30), np.uint32,
                           lambda a, b: np.full((b - a, 30), 7, np.uint32))
        up.append_strips((10, 30), np.uint8, lambda a, b: np.ones((b - a, 30), np.uint8),
                         name="EXTRA")
    with fits.open(tmp_path / "out.fits") as hdul:
        assert (hdul["DQ"].data == 7).all() and (hdul["EXTRA"].data == 1).all()
    assert (40, 30) not in copies and (10, 30) not in copies
