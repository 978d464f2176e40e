"""splitgroups without numpy/astropy writes the bytes astropy's path writes.

Each file is split twice: through the card-image path (``scan_plain``, the card-image merge
and provenance) and with it disabled (``scan_plain``, ``add_provenance_cards`` and the
card-image chip0 header all declining, so open_fits, astropy's ``Header`` and
``add_provenance`` do the work). The outputs must be the same bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqmask import __version__
from dqmask.cli import main
from dqmask.conftest import shared_file
from dqmask.datasets import (
    make_acs_wfc_flt,
    make_nircam_rate,
    make_wfc3_ir_flt,
    make_wfc3_uvis_flt,
)
from dqmask.dolphot import splitgroups as sg
from dqmask.io import provenance
from dqmask.io.fits_scan import scan_plain


def _split_both(src: Path, folder: Path, monkeypatch) -> list[tuple[bytes, bytes]]:
    """(card-image output, astropy output) for each chip of ``src``."""
    fast = sg.splitgroups(src, folder / "fast")
    with monkeypatch.context() as m:
        m.setattr(sg, "scan_plain", lambda path: None)
        m.setattr(sg, "add_provenance_cards", lambda *a, **k: None)
        m.setattr(sg, "_primary_chip", lambda cards: None)
        slow = sg.splitgroups(src, folder / "slow")
    assert [Path(p).name for p in fast] == [Path(p).name for p in slow]
    return [(Path(a).read_bytes(), Path(b).read_bytes()) for a, b in zip(fast, slow,
                                                                          strict=True)]


def _assert_same(src: Path, folder: Path, monkeypatch, *, plain: bool = True) -> None:
    assert (scan_plain(src) is not None) == plain
    pairs = _split_both(src, folder, monkeypatch)
    assert pairs
    for fast, slow in pairs:
        assert fast == slow


def _small(maker, path: Path, **kw) -> Path:
    return maker(path, shape=(64, 64) if maker is make_nircam_rate else (40, 64), **kw)


@pytest.mark.parametrize("maker", [make_acs_wfc_flt, make_wfc3_uvis_flt, make_wfc3_ir_flt,
                                   make_nircam_rate])
def test_dataset_files_split_the_same_without_astropy(tmp_path, monkeypatch, maker):
    src = _small(maker, tmp_path / "x_flt.fits")
    _assert_same(src, tmp_path, monkeypatch)


def test_prepared_acs_file_splits_the_same_without_astropy(tmp_path, monkeypatch):
    src = _small(make_acs_wfc_flt, tmp_path / "p_flt.fits")
    assert main(["acsmask", "-q", "-wfc1sub=0,0", str(src)]) == 0
    with fits.open(src) as hdul:
        assert hdul[0].header["DQM_VER"] == __version__  # provenance already there
    _assert_same(src, tmp_path, monkeypatch)


@pytest.mark.parametrize("name", ["hst_stis_ccd_o4k19a010_flt.fits",
                                  "hst_acs_hrc_j8bt09jcq_raw.fits",
                                  "hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits",
                                  "hst_wfc3_ir_f110w_ib4606cpq_flt_10x10.fits",
                                  "jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits",
                                  "jwst_fgs_acq1_uncal_jw01019.fits"])
def test_real_files_split_the_same_without_astropy(tmp_path, monkeypatch, name):
    src = tmp_path / name
    shutil.copyfile(shared_file(name), src)
    _assert_same(src, tmp_path, monkeypatch)


def _edited(tmp_path: Path, edit, name: str = "e_flt.fits") -> Path:
    src = _small(make_acs_wfc_flt, tmp_path / "base_flt.fits")
    out = tmp_path / name
    with fits.open(src) as hdul:
        edit(hdul)
        hdul.writeto(out)
    return out


def _trailing_blanks(hdul):
    for hdu in hdul[:2]:
        for _ in range(3):
            hdu.header.append(fits.Card(), end=True)


def _history_at_end(hdul):
    for hdu in hdul[:2]:
        hdu.header.add_history("reduced by calacs")
        hdu.header.add_comment("a comment at the end")
        hdu.header.append(fits.Card(), end=True)


def _old_version(hdul):
    hdul[0].header["DQM_VER"] = ("0.0.1", "dqmask version of the last write")
    hdul[0].header["DQMR0007"] = ("acsmask 0123456789abcdef", "dqmask step record")


def _odd_version_spelling(hdul):  # the same value in another spelling: astropy decides
    hdul[0].header.append(fits.Card.fromstring(f"DQM_VER = '{__version__}' / other"))


def _scaled(hdul):
    hdul[3].header["BZERO"] = 32768
    hdul[3].header["BSCALE"] = 1.0
    hdul[3].header["BLANK"] = -1
    hdul[1].header["BSCALE"] = 1.0
    hdul[1].header.set("BZERO", 0.0, "offset")


def _long_string(hdul):  # CONTINUE cards: one card (its images kept whole), both paths
    hdul[1].header["S_REGION"] = "POLYGON ICRS " + " ".join(["150.123456789"] * 12)


@pytest.mark.parametrize(("edit", "plain"), [
    (_trailing_blanks, True), (_history_at_end, True), (_old_version, True),
    (_odd_version_spelling, True), (_scaled, True), (_long_string, True)])
def test_edited_headers_split_the_same_without_astropy(tmp_path, monkeypatch, edit, plain):
    _assert_same(_edited(tmp_path, edit), tmp_path, monkeypatch, plain=plain)


def test_bscale_bzero_blank_are_the_extensions_card_images(tmp_path):
    src = _edited(tmp_path, _scaled)
    with fits.open(src) as hdul:
        images = {c.keyword: c.image for c in hdul[3].header.cards}
    out = sg.splitgroups(src, tmp_path / "out").outputs[2]  # the DQ of chip 1
    with fits.open(out) as hdul:
        got = {c.keyword: c.image for c in hdul[0].header.cards}
        assert hdul[0].data.dtype == np.uint16  # BZERO = 32768 on int16
    assert [got[k] for k in ("BSCALE", "BZERO", "BLANK")] == [
        images[k] for k in ("BSCALE", "BZERO", "BLANK")]


def test_a_primary_with_data_splits_the_same_without_astropy(tmp_path, monkeypatch):
    data = np.arange(12, dtype=np.int16).reshape(3, 4)
    for extend in ("T", "F", None):
        header = fits.Header()
        header["OBSERVER"] = "me"
        path = tmp_path / f"prim{extend}.fits"
        hdul = fits.HDUList([fits.PrimaryHDU(data, header), fits.ImageHDU(data)])
        hdul.writeto(path)
        if extend != "T":  # astropy always writes EXTEND = T; edit the bytes
            raw = bytearray(path.read_bytes())
            at = raw.index(b"EXTEND  =")
            card = (b" " * 80 if extend is None else
                    b"EXTEND  =                    F".ljust(80))
            raw[at:at + 80] = card
            path.write_bytes(bytes(raw))
        _assert_same(path, tmp_path / f"o{extend}", monkeypatch, plain=extend == "T")


# --------------------------------------------------------------------------------------------
# Generated headers
# --------------------------------------------------------------------------------------------

_KEYS = ["OBSERVER", "EXPTIME", "FILTER1", "CCDCHIP", "EXTNAME", "EXTVER", "NEXTEND",
         "DQM_VER", "DQMR0001", "DQMR0042", "ROOTNAME", "BUNIT"]
_VALUES = ["'SCI     '", "'O''Brien'", "T", "F", "3", "-2.5E+01", f"'{__version__}'",
           "'0.0.1   '", "'acsmask 0123456789abcdef'", "1.5", "'AXIS.1: 1'", "'NAXES: 2'"]
_LONG = ["S_REGION= 'POLYGON ICRS 137.86 -64.87 &'".ljust(80) + "CONTINUE  '137.81'".ljust(80),
         "OBSERVER= 'a long &'".ljust(80) + "CONTINUE  'name&'".ljust(80)
         + "CONTINUE  '' / who".ljust(80)]


def _card(key: str, value: str, comment: str | None) -> str:
    return (f"{key:<8}= {value:>20}" + (f" / {comment}" if comment else ""))[:80].ljust(80)


@st.composite
def _cards(draw) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            out.append(" " * 80)
        elif kind == 1:
            out.append(draw(st.sampled_from(["HISTORY a step", "COMMENT a note",
                                             "        under a blank key"])).ljust(80))
        elif kind == 2:
            out.append(draw(st.sampled_from(_LONG)))
        else:
            out.append(_card(draw(st.sampled_from(_KEYS)), draw(st.sampled_from(_VALUES)),
                             draw(st.sampled_from([None, "a comment",
                                                   "dqmask version of the last write"]))))
    return out


def _header(first: list[str], extra: list[str]) -> bytes:
    text = "".join(first + extra) + "END".ljust(80)
    return (text + " " * (-len(text) % 2880)).encode("ascii")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
@given(primary=_cards(), ext=_cards(), primary_data=st.booleans(),
       name=st.sampled_from(["g_flt.fits", "a_rather_long_name_with_many_parts_flt.fits"]))
def test_generated_headers_split_the_same_without_astropy(tmp_path, monkeypatch, primary, ext,
                                                          primary_data, name):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example
    shape = ["NAXIS   =                    2".ljust(80), "NAXIS1  =                    4".ljust(80),
             "NAXIS2  =                    3".ljust(80)]
    raw = _header(["SIMPLE  =                    T".ljust(80),
                   "BITPIX  =                   16".ljust(80),
                   *(shape if primary_data else ["NAXIS   =                    0".ljust(80)]),
                   "EXTEND  =                    T".ljust(80)], primary)
    if primary_data:
        raw += bytes(range(24)) + bytes(2880 - 24)
    raw += _header(["XTENSION= 'IMAGE   '".ljust(80), "BITPIX  =                  -32".ljust(80),
                    *shape, "PCOUNT  =                    0".ljust(80),
                    "GCOUNT  =                    1".ljust(80)], ext)
    raw += bytes(range(48)) + bytes(2880 - 48)
    src = folder / name
    src.write_bytes(raw)
    try:
        pairs = _split_both(src, folder, monkeypatch)
    except Exception as exc:  # noqa: BLE001 - a file only astropy's path refuses
        assert scan_plain(src) is None, exc  # the card-image path took no part in it
        return
    for fast, slow in pairs:
        assert fast == slow


def test_card_provenance_declines_what_only_astropy_can_write():
    cards = [("SIMPLE", "SIMPLE  =                    T".ljust(80))]
    long = {"source": "x" * 80}
    assert provenance.add_provenance_cards(list(cards), "splitgroups", long) is None
    twice = [*cards, ("DQM_VER", _card("DQM_VER", "'a'", None)),
             ("DQM_VER", _card("DQM_VER", "'b'", None))]
    assert provenance.add_provenance_cards(twice, "splitgroups", {"source": "a"}) is None
    full = [*cards, ("DQMR9999", _card("DQMR9999", "'x y'", None))]
    assert provenance.add_provenance_cards(full, "splitgroups", {"source": "a"}) is None
