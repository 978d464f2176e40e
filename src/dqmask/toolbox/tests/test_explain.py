"""``dqmask explain``: values to flag names, files to per-extension flag counts."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels as dm

from dqmask.conftest import shared_file
from dqmask.flags import ACS, JWST_GROUP, JWST_PIXEL, STIS, WFC3_IR, decode

_EXT = re.compile(r"^  \[(\d+)\] (\w+),(\d+) (\w+) ([\dx]+): (\d+) of (\d+) pixels flagged$")
_FLAG = re.compile(r"^      (\w+)\s+(\d+)  \(([\d.]+)%\)(?:  (.+))?$")


def parse_explain(out: str) -> tuple[str, dict[tuple[str, int], dict]]:
    """Split ``explain FILE`` output into its first line and {(EXTNAME, EXTVER): section}."""
    lines = out.splitlines()
    sections: dict[tuple[str, int], dict] = {}
    current: dict | None = None
    for line in lines[1:]:
        if m := _EXT.match(line):
            current = {"index": int(m[1]), "dtype": m[4], "shape": m[5], "flagged": int(m[6]),
                       "size": int(m[7]), "counts": {}}
            sections[(m[2], int(m[3]))] = current
        elif m := _FLAG.match(line):
            assert current is not None, line
            current["counts"][m[1]] = int(m[2])
            current.setdefault("descriptions", {})[m[1]] = m[4] or ""
        else:
            raise AssertionError(f"unexpected explain line {line!r}")
    return lines[0], sections


def expected_counts(dq: np.ndarray, table) -> dict[str, int]:
    """Per-flag pixel counts computed directly, bit by bit."""
    bits = dq.dtype.itemsize * 8
    pattern = dq.astype(np.int64) & ((1 << bits) - 1)  # by value: byte order cannot matter
    out = {}
    for b in range(bits):
        n = int(np.count_nonzero(pattern & (1 << b)))
        if n:
            out[decode(1 << b, table)[0]] = n
    return out


def _quiet_save(model, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(str(path))
    model.close()
    return path


@pytest.fixture
def jwst_rate(tmp_path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(3)
    dq = np.zeros((40, 30), np.uint32)
    for value, n in [(1, 50), (2, 7), (1073741825, 11), (1 << 31, 3), (1024 | 4, 5),
                     (0xFFFFFFFF, 1)]:
        idx = rng.choice(dq.size, n, replace=False)
        dq.flat[idx] |= np.uint32(value)
    m = dm.ImageModel((40, 30))
    m.data = np.zeros((40, 30), np.float32)
    m.dq = dq
    m.meta.telescope = "JWST"
    m.meta.instrument.name = "NIRCAM"
    m.meta.instrument.detector = "NRCB1"
    m.meta.exposure.type = "NRC_IMAGE"
    m.meta.bunit_data = "DN/s"
    return _quiet_save(m, tmp_path / "jw_test_rate.fits"), dq


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "line"), [
    (["1073741825"], "1073741825 = 1073741825 = DO_NOT_USE + OTHER_BAD_PIXEL"),
    (["DO_NOT_USE,SATURATED"], "DO_NOT_USE,SATURATED = 3 = DO_NOT_USE + SATURATED"),
    (["0x80000000"], "0x80000000 = 2147483648 = REFERENCE_PIXEL"),
    (["0"], "0 = 0 = GOOD"),
    (["--table", "acs", "4352"], "4352 = 4352 = SATPIXEL + DRIZ_CR"),
    (["--table", "wfc3-ir", "1024"], "1024 = 1024 = SPIKE"),
    (["--table", "wfc3-uvis", "1024"], "1024 = 1024 = TRAP"),
    (["--table", "stis", "32768"], "32768 = 32768 = BIT15"),
    (["--table", "jwst-group", "20"], "20 = 20 = JUMP_DET + BIT4"),
    (["UNRELIABLE_ERROR"], "UNRELIABLE_ERROR = 256 = RESERVED"),
])
def test_explain_value(run_cli, argv, line):
    code, out, err = run_cli("explain", *argv)
    assert code == 0, err
    assert out.splitlines()[0] == line
    assert err == ""


def test_explain_complement_acs(run_cli):
    code, out, _ = run_cli("explain", "--table", "acs", "~4")
    assert code == 0
    value, names = out.splitlines()[0].split(" = ")[1:]
    assert int(value) == 0xFFFB
    assert names.split(" + ") == [n for n in decode(0xFFFB, ACS)]
    assert "DETECTORPROB" not in names and names.strip().endswith("BIT15")


def test_explain_several_values(run_cli):
    code, out, _ = run_cli("explain", "1", "2", "4")
    assert code == 0
    assert [ln for ln in out.splitlines() if not ln.startswith(" ")] == [
        "1 = 1 = DO_NOT_USE", "2 = 2 = SATURATED", "4 = 4 = JUMP_DET"]


@pytest.mark.parametrize(("argv", "lines"), [
    (["1073741825"], ["1073741825 = 1073741825 = DO_NOT_USE + OTHER_BAD_PIXEL",
                      "      DO_NOT_USE                      1  Bad pixel. Do not use.",
                      "      OTHER_BAD_PIXEL        1073741824  A catch-all flag"]),
    (["--table", "wfc3-ir", "1056"],
     ["1056 = 1056 = UNSTABLE + SPIKE",
      "      UNSTABLE                       32  Unstable response",
      "      SPIKE                        1024  Cosmic-ray spike detected during up-the-ramp "
      "fitting"]),
    (["--table", "stis", "32768"], ["32768 = 32768 = BIT15",
                                    "      BIT15                       32768  bit 15: no STIS flag"]),
    (["--table", "jwst-group", "UNDERSAMP"],
     ["UNDERSAMP = 128 = CHARGELOSS",
      "      CHARGELOSS                    128  Charge migration (was RESERVED_4)"]),
    (["0"], ["0 = 0 = GOOD"]),
])
def test_explain_value_prints_each_flag_with_its_description(run_cli, argv, lines):
    code, out, err = run_cli("explain", *argv)
    assert (code, err) == (0, "")
    assert out.splitlines() == lines


def test_explain_help_imports_neither_numpy_nor_astropy():
    from dqmask.tests.helpers import fresh_interpreter_json

    code = ("import contextlib, io, json, sys\n"
            "from dqmask.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            "        main(['explain', '--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "import dqmask.toolbox.cli_explain\n"
            "print(json.dumps([m for m in ('numpy', 'astropy') if m in sys.modules]))\n")
    assert fresh_interpreter_json(code) == []


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_explain_jwst_rate_counts_exactly(run_cli, jwst_rate):
    path, dq = jwst_rate
    code, out, err = run_cli("explain", path)
    assert code == 0, err
    head, sections = parse_explain(out)
    assert head == f"{path}: JWST NIRCAM NRCB1 rate - 1 chip"
    assert list(sections) == [("DQ", 1)]
    sec = sections["DQ", 1]
    assert sec["dtype"] == "uint32" and sec["shape"] == "40x30" and sec["size"] == 1200
    assert sec["flagged"] == int(np.count_nonzero(dq))
    assert sec["counts"] == expected_counts(dq, JWST_PIXEL)
    # bit order, and the values we planted
    assert list(sec["counts"]) == [n for n in JWST_PIXEL if n in sec["counts"]]
    assert sec["counts"]["REFERENCE_PIXEL"] >= 4 and sec["counts"]["OTHER_BAD_PIXEL"] >= 12
    assert len(sec["counts"]) == 32  # the 0xFFFFFFFF pixel carries every flag


def test_explain_hst_uses_hst_table(run_cli, tmp_path):
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="HST", INSTRUME="WFC3", DETECTOR="IR")
    dq = np.zeros((6, 7), np.int16)
    dq[0, 0] = 1024  # SPIKE on IR (TRAP on UVIS, SMALLBLEM on ACS)
    dq[1, :3] = 8  # BADZERO
    dq[2, 2] = -32768  # bit 15, unnamed
    dq[3, 3] = 16 | 512
    path = tmp_path / "ir_flt.fits"
    fits.HDUList([primary, fits.ImageHDU(np.zeros((6, 7), np.float32), name="SCI", ver=1),
                  fits.ImageHDU(dq, name="DQ", ver=1)]).writeto(path)
    code, out, err = run_cli("explain", path)
    assert code == 0, err
    head, sections = parse_explain(out)
    assert head == f"{path}: HST WFC3 IR flt - 1 chip"  # no SUBARRAY keyword
    sec = sections["DQ", 1]
    assert sec["dtype"] == "int16"
    assert sec["counts"] == {"BADZERO": 3, "HOTPIX": 1, "BADFLAT": 1, "SPIKE": 1, "BIT15": 1}
    assert sec["counts"] == expected_counts(dq, WFC3_IR)
    assert sec["flagged"] == 6
    assert sec["descriptions"] == {name: WFC3_IR.description(name) for name in sec["counts"]}
    assert sec["descriptions"]["SPIKE"] == "Cosmic-ray spike detected during up-the-ramp fitting"
    assert sec["descriptions"]["BIT15"] == "bit 15: no WFC3/IR flag"


def test_explain_groupdq_uses_group_table(run_cli, tmp_path):
    m = dm.RampModel((1, 3, 5, 4))
    m.meta.telescope = "JWST"
    m.meta.instrument.name = "NIRCAM"
    m.meta.instrument.detector = "NRCA1"
    m.meta.exposure.type = "NRC_IMAGE"
    m.pixeldq = np.zeros((5, 4), np.uint32)
    m.pixeldq[0, 0] = 16 | 1024
    m.groupdq = np.zeros((1, 3, 5, 4), np.uint8)
    m.groupdq[0, 1, 2, 2] = 16  # not a group flag: BIT4, never OUTLIER
    m.groupdq[0, 2, 2, 2] = 4 | 128
    m.groupdq[0, 2, 3, 3] = 4
    path = _quiet_save(m, tmp_path / "jw_test_ramp.fits")
    code, out, err = run_cli("explain", path)
    assert code == 0, err
    _, sections = parse_explain(out)
    assert sections["PIXELDQ", 1]["counts"] == {"OUTLIER": 1, "DEAD": 1}
    group = sections["GROUPDQ", 1]
    assert group["dtype"] == "uint8" and group["shape"] == "1x3x5x4"
    assert group["counts"] == {"JUMP_DET": 2, "BIT4": 1, "CHARGELOSS": 1}
    assert group["counts"] == expected_counts(m.groupdq, JWST_GROUP)
    assert group["flagged"] == 3
    assert group["descriptions"] == {"JUMP_DET": "Jump detected during exposure",
                                     "BIT4": "bit 4: no JWST group flag",
                                     "CHARGELOSS": "Charge migration (was RESERVED_4)"}
    assert sections["PIXELDQ", 1]["descriptions"]["OUTLIER"] == (
        "Flagged by outlier detection (was RESERVED_1)")


def test_explain_acs_two_chips(run_cli, tmp_path):
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="HST", INSTRUME="ACS", DETECTOR="WFC")
    hdus = [primary]
    for ver, value in ((1, 16), (2, 4096)):
        dq = np.zeros((4, 4), np.int16)
        dq[0, :ver] = value
        hdus += [fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI", ver=ver),
                 fits.ImageHDU(dq, name="DQ", ver=ver)]
    path = tmp_path / "acs_flt.fits"
    fits.HDUList(hdus).writeto(path)
    code, out, _ = run_cli("explain", path)
    assert code == 0
    _, sections = parse_explain(out)
    assert sections["DQ", 1]["counts"] == {"HOTPIX": 1}
    assert sections["DQ", 2]["counts"] == {"DRIZ_CR": 2}
    assert sections["DQ", 2]["index"] == 4


def test_explain_file_without_dq(run_cli, tmp_path):
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="HST", INSTRUME="ACS", DETECTOR="WFC")
    path = tmp_path / "nodq.fits"
    fits.HDUList([primary, fits.ImageHDU(np.zeros((3, 3), np.float32), name="SCI")]
                 ).writeto(path)
    code, out, _ = run_cli("explain", path)
    assert code == 0
    assert out.splitlines()[1] == "  no DQ, PIXELDQ or GROUPDQ extension"


def test_explain_real_nircam_cutout(run_cli):
    path = shared_file("jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits")
    code, out, _ = run_cli("explain", path)
    assert code == 0
    head, sections = parse_explain(out)
    assert head == f"{path}: JWST NIRCAM NRCALONG cal FULL 1 chip"
    with fits.open(path) as hdul:
        dq = hdul["DQ"].data
        assert sections["DQ", 1]["counts"] == expected_counts(dq, JWST_PIXEL)
    assert sections["DQ", 1]["flagged"] == 179  # README.txt


def test_explain_real_mask_reference_uses_dq_def(run_cli):
    path = shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits")
    code, out, _ = run_cli("explain", path)
    assert code == 0
    head, sections = parse_explain(out)
    assert "mask_ref" in head
    sec = sections["DQ", 1]
    assert sec["flagged"] == 132823 and sec["counts"]["DO_NOT_USE"] == 7401  # README.txt
    with fits.open(path) as hdul:
        rows = hdul["DQ_DEF"].data
        names = {str(n).strip() for n in rows["NAME"]}
        own = {str(r["NAME"]).strip(): " ".join(str(r["DESCRIPTION"]).split()) for r in rows}
    assert set(sec["counts"]) <= names | {f"BIT{b}" for b in range(32)}
    # this file's DQ_DEF has empty DESCRIPTIONs: its names are described as the JWST flags
    # of the same name (its own bit numbering is not JWST's: REFERENCE_PIXEL is 2 there)
    assert not any(own.values())
    desc = sec["descriptions"]
    assert desc["DO_NOT_USE"] == "Bad pixel. Do not use."
    assert desc["REFERENCE_PIXEL"] == "Pixel is a reference pixel"
    assert desc["BIT10"] == "bit 10: not in the file's DQ_DEF"


def test_explain_prints_a_dq_def_description_of_its_own(run_cli, tmp_path):
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="JWST", INSTRUME="NIRCAM", DETECTOR="NRCA1",
                          REFTYPE="MASK")
    dq_def = fits.BinTableHDU.from_columns([
        fits.Column("BIT", "J", array=[0, 1]), fits.Column("VALUE", "J", array=[1, 2]),
        fits.Column("NAME", "40A", array=["DO_NOT_USE", "HOT"]),
        fits.Column("DESCRIPTION", "80A", array=["", "Hot  in the dark"])], name="DQ_DEF")
    dq = np.array([[1, 2, 3, 0]], np.uint32)
    path = tmp_path / "mask.fits"
    fits.HDUList([primary, fits.ImageHDU(dq, name="DQ"), dq_def]).writeto(path)
    code, out, err = run_cli("explain", path)
    assert code == 0, err
    _, sections = parse_explain(out)
    assert sections["DQ", 1]["counts"] == {"DO_NOT_USE": 2, "HOT": 2}
    assert sections["DQ", 1]["descriptions"] == {"DO_NOT_USE": "Bad pixel. Do not use.",
                                                 "HOT": "Hot in the dark"}


def test_explain_real_hst_stis(run_cli):
    path = shared_file("hst_stis_ccd_o4k19a010_flt.fits")
    code, out, _ = run_cli("explain", path)
    assert code == 0
    _, sections = parse_explain(out)
    assert set(sections) == {("DQ", 1), ("DQ", 2)}
    with fits.open(path) as hdul:
        for ver in (1, 2):
            assert sections["DQ", ver]["counts"] == expected_counts(hdul["DQ", ver].data, STIS)
            assert sections["DQ", ver]["dtype"] == "int16"
