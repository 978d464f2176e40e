"""One spelling of a mask's convention for every command that reads a mask file.

``PATH@CONV`` and ``--mask-convention CONV`` mean the same everywhere (apply, combine, grow,
convert, regions, preview), and a plain 0/1 ``uint8`` mask whose polarity is guessed
(NSClean ``background``: 1 = background) is said before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.dolphot.tests.test_dolphot_builders import jwst_cal
from dqmask.errors import InputError
from dqmask.io.mask_file import MaskSpec, mask_spec, parse_spec, read_fits_mask

SHAPE = (3, 4)
ONE = (1, 2)  # the only pixel set to 1 in the mask


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    """A JWST cal and a keyword-less uint8 mask with a single 1."""
    sci = np.arange(1.0, 13.0, dtype=np.float32).reshape(SHAPE)
    cal = jwst_cal(tmp_path / "jw_nrca1_cal.fits", sci, np.zeros(SHAPE, np.uint32))
    data = np.zeros(SHAPE, np.uint8)
    data[ONE] = 1
    mask = tmp_path / "m.fits"
    fits.PrimaryHDU(data).writeto(mask)
    return cal, mask


def _warned(err: str, mask: Path) -> bool:
    """The polarity warning is in ``err`` (the log handler wraps lines: blanks ignored)."""
    text = "".join(err.split())
    want = (f"{mask}: nothing in the file says which value is bad: read as NSClean "
            f"'background' (1 = background, 0 = bad); if 1 marks bad pixels, give "
            f"{mask}@bad or --mask-convention bad")
    return "".join(want.split()) in text


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


def test_mask_spec_merges_the_option_and_the_suffix(tmp_path):
    assert mask_spec("m.fits") == MaskSpec("m.fits")
    assert mask_spec("m.fits", "auto") == MaskSpec("m.fits")
    assert mask_spec("m.fits", "bad") == MaskSpec("m.fits", None, "bad")
    assert mask_spec("m.fits@bad", "bad") == mask_spec("m.fits@bad") == MaskSpec("m.fits", None, "bad")
    assert mask_spec("m.fits[2]", "good") == MaskSpec("m.fits", 2, "good")
    assert mask_spec("r.reg", "bad") == MaskSpec("r.reg")  # regions: inside = bad, always
    with pytest.raises(InputError, match="^m.fits: @good and mask_convention bad disagree"):
        mask_spec("m.fits@good", "bad")
    with pytest.raises(InputError, match="unknown mask convention"):
        mask_spec("m.fits", "nonsense")
    for text in ("m.fits", "m.fits[2]", "m.fits@bad", "m.fits[3]@dq"):
        assert str(parse_spec(text)) == text and parse_spec(str(parse_spec(text))) == parse_spec(text)


# --------------------------------------------------------------------------------------------
# apply: the guess is said, then refused by --max-fraction; both spellings read it as bad
# --------------------------------------------------------------------------------------------


def test_apply_says_the_guessed_polarity_then_refuses(files, run_cli):
    cal, mask = files
    code, out, err = run_cli("apply", cal, "--mask", mask, "-o", cal.with_name("o.fits"))
    assert code == 1
    assert f"{mask}: read as 'background'" in out  # the guess is said on stdout
    # the failure is one line (issue 12); -v adds the warning that explains the guess
    assert len(err.splitlines()) == 1 and "above --max-fraction 0.5; refused" in err
    assert not cal.with_name("o.fits").exists()
    code, out, err = run_cli("apply", cal, "--mask", mask, "-o", cal.with_name("o.fits"), "-v")
    assert code == 1 and _warned(err, mask) and "above --max-fraction 0.5; refused" in err


@pytest.mark.parametrize("spelling", ["suffix", "option"])
def test_apply_reads_either_spelling_as_bad(files, run_cli, spelling):
    cal, mask = files
    out = cal.with_name(f"{spelling}.fits")
    argv = (["--mask", f"{mask}@bad"] if spelling == "suffix"
            else ["--mask", mask, "--mask-convention", "bad"])
    code, stdout, err = run_cli("apply", cal, *argv, "-o", out)
    assert code == 0, err
    assert f"{mask}: read as 'bad' (given)" in stdout and not _warned(err, mask)
    dq = fits.getdata(out, "DQ")
    assert np.argwhere(dq != 0).tolist() == [list(ONE)]


def test_apply_refuses_two_spellings_that_disagree(files, run_cli):
    cal, mask = files
    code, _, err = run_cli("apply", cal, "--mask", f"{mask}@good", "--mask-convention", "bad",
                           "-o", cal.with_name("o.fits"))
    assert code == 1
    assert err.splitlines() == [f"dqmask: {mask}: @good and --mask-convention bad disagree; "
                                "give one"]


# --------------------------------------------------------------------------------------------
# Every other command that reads a mask file
# --------------------------------------------------------------------------------------------


def _toolbox(command: str, cal: Path, mask: str, out: Path) -> list:
    if command == "combine":
        return ["combine", mask, "-o", out]
    if command == "grow":
        return ["grow", mask, "--pixels", "0", "-o", out]
    if command == "convert":
        return ["convert", mask, out, "--to", "bad"]
    if command == "regions":
        return ["regions", mask, "-o", out]
    return ["preview", cal, "--mask", mask, "-o", out]


SUFFIX = {"combine": ".fits", "grow": ".fits", "convert": ".fits", "regions": ".reg",
          "preview": ".png"}


@pytest.mark.parametrize("command", list(SUFFIX))
def test_suffix_and_option_are_one_spelling(files, run_cli, command):
    cal, mask = files
    outs = {k: cal.with_name(f"{command}_{k}{SUFFIX[command]}")
            for k in ("suffix", "option", "guess")}
    code, _, err = run_cli(*_toolbox(command, cal, f"{mask}@bad", outs["suffix"]))
    assert code == 0, err
    code, _, err = run_cli(*_toolbox(command, cal, str(mask), outs["option"]),
                           "--mask-convention", "bad")
    assert code == 0, err
    assert not _warned(err, mask)
    assert outs["suffix"].read_bytes() == outs["option"].read_bytes()
    code, _, err = run_cli(*_toolbox(command, cal, str(mask), outs["guess"]))
    assert code == 0, err
    assert _warned(err, mask)
    assert outs["guess"].read_bytes() != outs["option"].read_bytes()
    if SUFFIX[command] == ".fits":
        def bad(path: Path) -> int:  # outputs say their convention (DQMCONV)
            return int(read_fits_mask(path).planes[0].sum())

        assert bad(outs["option"]) == 1  # the single 1 is the bad pixel
        assert bad(outs["guess"]) == 11  # guessed: 1 = background


@pytest.mark.parametrize("command", list(SUFFIX))
def test_the_guess_is_said_before_anything_is_written(files, run_cli, command):
    cal, mask = files
    out = cal.with_name(f"protected{SUFFIX[command]}")
    out.write_bytes(b"an older result")
    out.chmod(0o444)  # the write is refused: what was said came first
    code, _, err = run_cli(*_toolbox(command, cal, str(mask), out), "-v")
    assert code == 1 and _warned(err, mask) and "read-only" in err
    assert out.read_bytes() == b"an older result"
    # without -v the failure is its one line (issue 12): nothing was written, so the guess
    # the warning explains changed nothing
    code, _, err = run_cli(*_toolbox(command, cal, str(mask), out))
    assert code == 1 and len(err.splitlines()) == 1 and "read-only" in err, err
