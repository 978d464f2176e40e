"""``io.fits_scan.scan_plain``: whenever it accepts a file, astropy reads that file as it is.

The contract (issue 14, splitgroups without astropy): for every file scan_plain returns
HDUs for, astropy parses every card without a warning, ``verify("fix+warn")`` has nothing
to report, :func:`dqmask.io.fits.open_fits` accepts it, and the card images, keywords and
data offsets are astropy's. Generated files are valid ones with near misses mixed in
(lower-case keys, bad quotes, stray bytes, duplicated structural cards, missing END,
truncation, trailing bytes...): where astropy objects, scan_plain must have declined.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqmask.conftest import shared_file
from dqmask.errors import InputError
from dqmask.io import fits_scan
from dqmask.io.fits import _check_headers, open_fits
from dqmask.io.fits_scan import scan_plain, why_not_plain
from dqmask.tests.malformed import build_corpus


def assert_astropy_agrees(path: Path) -> None:
    """scan_plain accepted ``path``: astropy must read it the same way, silently."""
    hdus = scan_plain(path)
    assert hdus is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(path, lazy_load_hdus=False) as hdul:
            assert len(hdul) == len(hdus)
            for raw, hdu in zip(hdus, hdul, strict=True):
                for card in hdu.header.cards:
                    card.value  # noqa: B018 - parses the card
                    card.comment  # noqa: B018
                assert [c.image for c in hdu.header.cards] == list(raw.cards)
                assert [c.keyword for c in hdu.header.cards] == list(raw.keywords)
                info = hdu.fileinfo()
                assert (info["hdrLoc"], info["datLoc"], info["datSpan"]) == (
                    raw.header_offset, raw.data_offset, raw.data_span)
                assert type(hdu) is not fits.hdu.base._ValidHDU
                hdu.verify("fix+warn")
                assert [c.image for c in hdu.header.cards] == list(raw.cards)
    assert [str(w.message) for w in caught] == []
    with fits.open(path) as hdul:  # dqmask's own card-by-card checks accept it too
        _check_headers(hdul, str(path))  # (open_fits skips them for a file scan_open vouches for)
        assert len(hdul) == len(hdus)
    with open_fits(path) as hdul:
        assert len(hdul) == len(hdus)


# --------------------------------------------------------------------------------------------
# Generated files
# --------------------------------------------------------------------------------------------

_GOOD_VALUES = ["'SCI     '", "'O''Brien'", "''", "'a b c   '", "T", "F", "42", "-7", "+3",
                "1.5", "-0.25E+03", "3.", ".5", "6.02E23", "'x/y'", "'AXIS.1: 1'",
                "'EXTVER: 2'", "'NAXES:  2.5E3'"]
_NEAR_VALUES = ["'unclosed", "'odd'quote'", "1.5e3", "1.5D3", "(1, 2)", "", "TRUE", "1.5.2",
                "'a'' /b'", "'DP: 1.5'", "  ", "'x' junk", "0x10", "nan", "'it''s'",
                "'AXIS.1: 1e3'", "'A.B: x'", "'a b: 1'", "'AXIS.1 : 1'"]
_GOOD_KEYS = ["OBSERVER", "EXPTIME", "FILTER1", "DATE-OBS", "A_2_0", "TARGNAME", "BUNIT",
              "NEXTEND", "DQM_VER", "DQMR0001"]
#: Keys whose value or place matters to astropy (any value is drawn for them), and near misses
_NEAR_KEYS = ["EXTNAME", "EXTVER", "BSCALE", "BZERO", "BLANK", "EXTEND", "lower", "MiXed", "HIERARCH", "CONTINUE", "END", "A B", " LEAD", "TOOLONGKEY",
              "BITPIX", "NAXIS", "SIMPLE", "XTENSION", "GROUPS", "PCOUNT", "GCOUNT", "NAXIS9",
              "TFIELDS", "TFORM1", "ZIMAGE", "TDIM1"]
#: Long strings (astropy's and HST's spellings), then near misses: a CONTINUE after a part
#: not ending in "&", a comment inside, a last part ending in "&", a CONTINUE alone.
_LONG = [["S_REGION= 'POLYGON ICRS 137.86 -64.87 &'", "CONTINUE  '137.81 -64.88 &'",
          "CONTINUE  '137.86 -64.87 '"],
         ["TITLE   = 'NGC 346: Star Formation at Low &'", "CONTINUE  'Metallicity&'",
          "CONTINUE  '' / Proposal title"],
         ["EXTNAME = 'LONG&'", "CONTINUE  'NAME'"],
         ["HDRNAME = 'a''b&'", "CONTINUE  ' c'"]]
_LONG_NEAR = [["S_REGION= 'POLYGON'", "CONTINUE  'more'"],
              ["S_REGION= 'POLYGON&' / comment", "CONTINUE  'more'"],
              ["S_REGION= 'POLYGON&'", "CONTINUE  'more&' / inside", "CONTINUE  'end'"],
              ["S_REGION= 'POLYGON&'", "CONTINUE  'more&'"],
              ["CONTINUE  'alone'"], ["NAXIS1  = 'A&'", "CONTINUE  'B'"],
              ["S_REGION= 'POLYGON&'", "CONTINUE  more"]]
_COMMENTARY = ["HISTORY a step was run", "COMMENT  a note / with slash", " " * 80,
               "        free text under a blank key", "HISTORY", "COMMENT = 'looks like'"]


def _card(key: str, value: str, comment: str | None) -> str:
    text = f"{key:<8}= {value:>20}" + (f" / {comment}" if comment is not None else "")
    return text[:80].ljust(80)


@st.composite
def extra_cards(draw, near: bool) -> list[str]:
    keys = _GOOD_KEYS + (_NEAR_KEYS if near else [])
    values = _GOOD_VALUES + (_NEAR_VALUES if near else [])
    cards = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            cards.append(draw(st.sampled_from(_COMMENTARY)).ljust(80)[:80])
        elif kind == 4:
            cards += [c.ljust(80) for c in draw(st.sampled_from(_LONG + (_LONG_NEAR if near
                                                                           else [])))]
        else:
            comment = draw(st.one_of(st.none(), st.sampled_from(["", "a comment", "x/y",
                                                                 "O'Neil", "   padded"])))
            cards.append(_card(draw(st.sampled_from(keys)), draw(st.sampled_from(values)),
                               comment))
    return cards


@st.composite
def hdu_bytes(draw, primary: bool, near: bool) -> bytes:
    bitpix = draw(st.sampled_from([8, 16, 32, -32, -64]))
    axes = draw(st.lists(st.integers(0, 5), min_size=0, max_size=3))
    xtension = None if primary else draw(st.sampled_from(
        ["IMAGE", "IMAGE", "BINTABLE", "HDRLET"] + (["image", "TABLE", "A3DTABLE"] if near
                                                   else [])))
    if xtension == "BINTABLE":
        bitpix, axes = 8, [draw(st.integers(1, 4)), draw(st.integers(0, 3))]
    cards = [_card("SIMPLE", "T", "conforms") if primary else
             _card("XTENSION", f"'{xtension:<8}'", "extension"),
             _card("BITPIX", str(bitpix), None), _card("NAXIS", str(len(axes)), None)]
    cards += [_card(f"NAXIS{k}", str(n), None) for k, n in enumerate(axes, 1)]
    if primary:
        if not near or draw(st.booleans()):
            cards.append(_card("EXTEND", draw(st.sampled_from(["T", "F"])) if near else "T",
                               None))
    else:
        cards += [_card("PCOUNT", "0", None), _card("GCOUNT", "1", None)]
    if xtension == "BINTABLE":
        cards += [_card("TFIELDS", "1", None), _card("TFORM1", f"'{axes[0]}A'", None)]
    cards += draw(extra_cards(near))
    if near and draw(st.integers(0, 4)) == 0:  # a structural card out of its place
        i, j = draw(st.integers(0, len(cards) - 1)), draw(st.integers(0, len(cards) - 1))
        cards[i], cards[j] = cards[j], cards[i]
    header = "".join(cards)
    if not (near and draw(st.integers(0, 9)) == 0):  # END, unless the near miss drops it
        header += "END".ljust(80)
    header += " " * (-len(header) % 2880)
    size = abs(bitpix) // 8 * int(np.prod(axes)) if axes else 0
    data = bytes(size) + bytes(-size % 2880)
    return header.encode("ascii") + data


@st.composite
def fits_files(draw, near: bool) -> bytes:
    raw = draw(hdu_bytes(True, near))
    for _ in range(draw(st.integers(0, 3))):
        raw += draw(hdu_bytes(False, near))
    if near:
        how = draw(st.integers(0, 7))
        if how == 0:  # truncated
            raw = raw[:draw(st.integers(0, len(raw) - 1))]
        elif how == 1:  # trailing bytes
            raw += draw(st.sampled_from([b"\0" * 2880, b"junk", b"\0"]))
        elif how == 2:  # a stray byte in a header
            pos = draw(st.integers(0, min(len(raw), 2880) - 1))
            raw = raw[:pos] + draw(st.sampled_from([b"\t", b"\xe9", b"\0", b"\x7f"])) + raw[
                pos + 1:]
    return raw


_SETTINGS = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                              HealthCheck.too_slow])


@_SETTINGS
@given(raw=fits_files(near=True))
def test_whenever_scan_plain_accepts_a_file_astropy_reads_it_as_it_is(tmp_path, raw):
    path = tmp_path / "f.fits"
    path.write_bytes(raw)
    if scan_plain(path) is not None:
        assert_astropy_agrees(path)


@_SETTINGS
@given(raw=fits_files(near=False))
def test_scan_plain_accepts_well_formed_files(tmp_path, raw):
    path = tmp_path / "g.fits"
    path.write_bytes(raw)
    reason = why_not_plain(path)
    if reason is None:
        assert_astropy_agrees(path)
    else:  # only the value spellings scan_plain leaves to astropy on purpose
        assert any(ok in reason for ok in ("may split differently", "EXTNAME twice",
                                           "record-valued")), reason


def test_scan_plain_declines_every_malformed_file_of_the_corpus(tmp_path):
    corpus = build_corpus(tmp_path)
    accepted = []
    for name, case in corpus.items():
        if not case.path.is_file():
            continue
        try:
            with open_fits(case.path):
                continue  # astropy and dqmask read it; nothing to say
        except InputError:
            pass
        if scan_plain(case.path) is not None:
            accepted.append(name)
    assert accepted == []


@pytest.mark.parametrize(("name", "plain"), [
    ("hst_stis_ccd_o4k19a010_flt.fits", True),
    ("hst_acs_hrc_j8bt09jcq_raw.fits", True),
    ("jwst_fgs_acq1_uncal_jw01019.fits", True),
    ("jwst_nircam_mask_0026_nrca1_MASK_ref.fits", True),
    ("hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits", True),  # long strings, DP1.AXIS.1 cards
    ("hst_wfc3_ir_f110w_ib4606cpq_flt_10x10.fits", True),
    ("jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits", True),
    ("jwst_nirspec_fs_cal_header_stub_2x5.fits", True),
    ("hst_acs_wfc_j94f05bgq_flt_ZEROED_DATA.fits.gz", False),  # compressed
])
def test_scan_plain_on_real_files(name, plain):
    path = shared_file(name)
    if plain:
        assert_astropy_agrees(path)
    else:
        assert scan_plain(path) is None


def test_scan_plain_never_blocks_on_a_fifo_and_declines_it(tmp_path):
    import os

    fifo = tmp_path / "pipe.fits"
    os.mkfifo(fifo)
    assert scan_plain(fifo) is None


def test_scan_plain_reads_headers_only(tmp_path, monkeypatch):
    big = np.zeros((512, 512), np.float32)
    path = tmp_path / "big.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(big), fits.ImageHDU(big)]).writeto(path)
    read: list[int] = []
    real = fits_scan._read_header

    def counting(fh, offset):
        cards, end = real(fh, offset)
        read.append(end - offset)
        return cards, end

    monkeypatch.setattr(fits_scan, "_read_header", counting)
    hdus = scan_plain(path)
    assert hdus is not None and len(hdus) == 3
    assert sum(read) == 3 * 2880  # one header block each, never the 2 MiB of data
    assert [h.data_bytes for h in hdus] == [0, big.nbytes, big.nbytes]


def test_open_fits_checks_card_by_card_only_what_the_scan_does_not_vouch_for(tmp_path,
                                                                              monkeypatch):
    """A plain file scan_open accepts skips the per-card parse and verify (the costly part
    of opening); a compressed one, or one the scan declines, still gets every check."""
    import gzip

    from dqmask.io import fits as dqfits

    checked: list[str] = []
    real = dqfits._check_headers
    def spy(hdul, path):
        checked.append(path)
        real(hdul, path)

    monkeypatch.setattr(dqfits, "_check_headers", spy)
    plain = tmp_path / "plain.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4), np.float32),
                                                   name="SCI")]).writeto(plain)
    packed = tmp_path / "packed.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    odd = tmp_path / "odd.fits"  # bytes after the last HDU: the scan declines it
    odd.write_bytes(plain.read_bytes() + bytes(2880))
    for path in (plain, packed, odd):
        with open_fits(path) as hdul:
            assert hdul["SCI"].data.shape == (4, 4)
    assert checked == [str(packed), str(odd)]
