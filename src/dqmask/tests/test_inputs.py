"""Input lists (@list, jwst association JSON, HST _asn.fits) and per-exposure {root} patterns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask import datasets as sample
from dqmask.claws.files import arc_polygon
from dqmask.errors import InputError
from dqmask.flags import JWST_PIXEL
from dqmask.io.inputs import expand_inputs, expand_pattern, exposure_file, exposure_root

SEED = "jw01727044001_04101_{:05d}_nrcb1"
EXPOSURES = [SEED.format(n) for n in (1, 2, 3, 4)]


def touch(folder: Path, *names: str) -> list[str]:
    for name in names:
        (folder / name).write_bytes(b"")
    return [str(folder / n) for n in names]


# ---------------------------------------------------------------------------------- @lists


def test_at_list_expands_in_order_without_comments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    touch(tmp_path, "a_flt.fits", "b_flt.fits", "c_flt.fits")
    (tmp_path / "list.txt").write_text("# inputs\nb_flt.fits\n\na_flt.fits  # first\n"
                                       "b_flt.fits\n")
    assert expand_inputs(["c_flt.fits", "@list.txt"]) == ["c_flt.fits", "b_flt.fits",
                                                          "a_flt.fits", "b_flt.fits"]


def test_at_list_with_a_missing_member_is_one_line_naming_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    touch(tmp_path, "a_flt.fits")
    (tmp_path / "list.txt").write_text("a_flt.fits\nmissing_flt.fits\n")
    with pytest.raises(InputError) as info:
        expand_inputs(["@list.txt"])
    assert info.value.oneline() == ("@list.txt: member missing_flt.fits not found "
                                    "(missing_flt.fits)")


def test_missing_list_file(tmp_path):
    with pytest.raises(InputError, match="no such list file"):
        expand_inputs([f"@{tmp_path / 'nope.txt'}"])


# ------------------------------------------------------------------------ jwst associations


def jwst_asn(folder: Path, products: list[list[str]]) -> Path:
    asn = {"asn_type": "image3", "asn_rule": "candidate_Asn_Lv3Image", "program": "01727",
           "asn_id": "o044", "target": "t001", "asn_pool": "pool", "version_id": None,
           "code_version": "3.0.0", "degraded_status": "No known degraded exposures",
           "constraints": "none",
           "products": [{"name": f"product{i}",
                         "members": [{"expname": e, "exptype": "science"} for e in members]}
                        for i, members in enumerate(products)]}
    path = folder / "jw01727-o044_image3_00001_asn.json"
    path.write_text(json.dumps(asn))
    return path


def test_jwst_association_members_relative_to_its_folder(tmp_path, monkeypatch):
    sub = tmp_path / "data"
    sub.mkdir()
    names = [f"{e}_cal.fits" for e in EXPOSURES]
    touch(sub, *names)
    asn = jwst_asn(sub, [names[:3], names[3:]])
    monkeypatch.chdir(tmp_path)
    assert expand_inputs([str(asn.relative_to(tmp_path))]) == [f"data/{n}" for n in names]


def test_jwst_association_order_is_jwsts(tmp_path):
    from jwst.associations import load_asn

    names = [f"{e}_cal.fits" for e in EXPOSURES]
    touch(tmp_path, *names)
    asn = jwst_asn(tmp_path, [names[2:], names[:2]])
    with open(asn) as fh:
        theirs = [m["expname"] for p in load_asn(fh)["products"] for m in p["members"]]
    assert [Path(p).name for p in expand_inputs([str(asn)])] == theirs


def test_jwst_association_missing_member(tmp_path):
    names = [f"{e}_cal.fits" for e in EXPOSURES]
    touch(tmp_path, *names[:3])
    asn = jwst_asn(tmp_path, [names])
    with pytest.raises(InputError) as info:
        expand_inputs([str(asn)])
    assert info.value.path == str(asn)
    assert info.value.problem.startswith(f"member {names[3]} not found")


# ------------------------------------------------------------------------- HST associations


def hst_asn(path: Path, rows: list[tuple[str, str, bool]]) -> Path:
    cols = fits.ColDefs([
        fits.Column("MEMNAME", "14A", array=[r[0] for r in rows]),
        fits.Column("MEMTYPE", "14A", array=[r[1] for r in rows]),
        fits.Column("MEMPRSNT", "L", array=[r[2] for r in rows])])
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(path)
    return path


ROWS = [("J8BT06O6Q", "EXP-DTH", True), ("J8BT06O7Q", "EXP-DTH", True),
        ("J8BT06O8Q", "EXP-DTH", False), ("J8BT06010", "PROD-DTH", True),
        ("J8BT06O9Q", "EXP-DTH", True)]


# stsci.tools' reader (the reference) uses astropy's deprecated chararray methods
@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyDeprecationWarning")
def test_hst_association_takes_present_exp_members_as_stsci_tools(tmp_path, monkeypatch):
    from stsci.tools import asnutil

    monkeypatch.chdir(tmp_path)  # stsci.tools looks for the members in the current folder
    touch(tmp_path, "j8bt06o6q_flt.fits", "j8bt06o7q_flt.fits", "j8bt06o7q_flc.fits",
          "j8bt06o9q_flt.fits")
    asn = hst_asn(tmp_path / "j8bt06010_asn.fits", ROWS)
    got = expand_inputs([str(asn)])
    assert [Path(p).name for p in got] == ["j8bt06o6q_flt.fits", "j8bt06o7q_flc.fits",
                                           "j8bt06o9q_flt.fits"]
    theirs = asnutil.readASNTable(asn.name, prodonly=False)["order"]
    assert [Path(p).name.split("_")[0] for p in got] == theirs


def test_hst_association_missing_member(tmp_path):
    touch(tmp_path, "j8bt06o6q_flt.fits", "j8bt06o9q_flt.fits")
    asn = hst_asn(tmp_path / "j8bt06010_asn.fits", ROWS)
    with pytest.raises(InputError) as info:
        expand_inputs([str(asn)])
    assert info.value.problem == (f"member j8bt06o7q not found (no j8bt06o7q_flc.fits or "
                                  f"j8bt06o7q_flt.fits in {tmp_path})")


# ----------------------------------------------------------------------------- {root}


@pytest.mark.parametrize(("name", "root"), [
    ("jw01727044001_04101_00001_nrcb1_cal.fits", "jw01727044001_04101_00001_nrcb1"),
    ("/data/jw01727044001_04101_00002_nrcb1_rate.fits.gz", "jw01727044001_04101_00002_nrcb1"),
    ("j8bt06o6q_flt.fits", "j8bt06o6q"),
    ("image.fits", "image"),
])
def test_exposure_root_is_the_name_up_to_its_last_suffix(name, root):
    assert exposure_root(name) == root


def test_pattern_fills_root_and_refuses_other_fields():
    assert (expand_pattern("{root}_cal_claws.pix.reg", "x/jw01_04101_00003_nrcb1_cal.fits")
            == "jw01_04101_00003_nrcb1_cal_claws.pix.reg")
    assert expand_pattern("plain.reg", "a_cal.fits") == "plain.reg"
    with pytest.raises(InputError, match="unknown field"):
        expand_pattern("{name}.reg", "a_cal.fits")


def test_exposure_file_names_the_exposure_when_missing(tmp_path):
    image = str(tmp_path / f"{EXPOSURES[0]}_cal.fits")
    with pytest.raises(InputError) as info:
        exposure_file(str(tmp_path / "{root}_cal_claws.pix.reg"), image)
    assert info.value.path == image
    assert f"no {tmp_path}/{EXPOSURES[0]}_cal_claws.pix.reg for this exposure" in str(info.value)


# ------------------------------------------------------ the seed's claw loop, one command each


@pytest.fixture
def seed_exposures(tmp_path, monkeypatch):
    """The seed's four NRCB1 exposures (cal + rate) and their claw region files."""
    monkeypatch.chdir(tmp_path)
    for n, root in enumerate(EXPOSURES):
        sample.make_nircam_cal(f"{root}_cal.fits", shape=(128, 128), detector="NRCB1", seed=n)
        sample.make_nircam_rate(f"{root}_rate.fits", shape=(128, 128), detector="NRCB1",
                                seed=n)
        Path(f"{root}_cal_claws.pix.reg").write_text(arc_polygon((128, 128), half_width=20))
    return tmp_path


def test_seed_claw_loop_detect_then_apply_one_command_each(seed_exposures, run_cli):
    cals = [f"{e}_cal.fits" for e in EXPOSURES]
    code, out, err = run_cli("detect", *cals, "--include-region", "{root}_cal_claws.pix.reg",
                             "--output-suffix", "_claws_seed_image", "--minpixarea", "1",
                             "--ignore-background", "--sigma", "2", "--smooth", "1",
                             "--overwrite")
    assert code == 0, err
    masks = [Path(f"{e}_cal_claws_seed_image_zeroonemask.fits") for e in EXPOSURES]
    assert all(m.exists() for m in masks) and out.count("pixels detected") == 4
    Path("rates.txt").write_text("".join(f"{e}_rate.fits\n" for e in EXPOSURES))
    flags = "DO_NOT_USE+UNRELIABLE_DARK+UNRELIABLE_FLAT+OTHER_BAD_PIXEL"
    code, out, err = run_cli("apply", "@rates.txt", "--mask",
                             "{root}_cal_claws_seed_image_zeroonemask.fits", "--flags", flags,
                             "--zero-data", "--output-dir", "out")
    assert code == 0, err
    value = sum(JWST_PIXEL[f] for f in flags.split("+"))
    for exposure, mask in zip(EXPOSURES, masks, strict=True):
        bad = fits.getdata(mask).astype(bool)
        assert bad.any()
        with fits.open(f"{exposure}_rate.fits") as before, fits.open(
                f"out/{exposure}_rate.fits") as after:
            expected = np.where(bad, before["DQ"].data | value, before["DQ"].data)
            np.testing.assert_array_equal(after["DQ"].data, expected)
            assert (after["SCI"].data[bad] == 0).all()


def test_exposure_without_its_region_file_is_reported_not_skipped(seed_exposures, run_cli):
    Path(f"{EXPOSURES[2]}_cal_claws.pix.reg").unlink()
    rates = [f"{e}_rate.fits" for e in EXPOSURES]
    code, out, err = run_cli("apply", *rates, "--region", "{root}_cal_claws.pix.reg",
                             "--output-dir", "out")
    assert code == 1
    assert (f"dqmask: {EXPOSURES[2]}_rate.fits: no {EXPOSURES[2]}_cal_claws.pix.reg for this "
            f"exposure (from {{root}}_cal_claws.pix.reg)") in err
    assert "1 of 4 inputs failed" in err
    assert sorted(p.name for p in Path("out").iterdir()) == sorted(
        f"{e}_rate.fits" for e in EXPOSURES if e != EXPOSURES[2])
