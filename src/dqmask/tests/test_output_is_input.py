"""An output that is an input under another name is refused (issue 12, item 7).

A symbolic link to the input, the input's folder given as ``--output-dir`` (``.``,
``$PWD``, ``sub/../sub``) or an empty ``--output-suffix`` used to overwrite the input
(``grow`` irreversibly; ``nircammask --output-dir .`` stripped ERR, DQ, AREA, VAR_* and
ASDF from a file the docs said was copied). Each is now one line naming the input, exit 1,
every file byte-identical. Only an explicitly in-place command rewrites its input, and it
writes through a link to the file the link points to (the link stays a link), the one way
every command and the docs handle links.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.io.fits import step_records

SHAPE = (64, 64)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    from dqmask import datasets as sample

    folder = tmp_path_factory.mktemp("sources")
    bad = np.zeros(SHAPE, np.uint8)
    bad[10:20, 10:20] = 1
    hdu = fits.PrimaryHDU(bad)
    hdu.header["DQMCONV"] = "bad"
    hdu.writeto(folder / "m.fits")
    (folder / "r.reg").write_text("image\nbox(32,32,40,40,0)\n")
    return {"rate": sample.make_nircam_rate(folder / "x_rate.fits", shape=SHAPE),
            "cal": sample.make_nircam_cal(folder / "x_cal.fits", shape=SHAPE),
            "mask": folder / "m.fits", "reg": folder / "r.reg"}


@pytest.fixture
def work(tmp_path, sources, monkeypatch) -> dict[str, Path]:
    """Copies of the sources in ``tmp_path/data`` (the current folder), plus ``link.fits``
    (a link to the rate) and ``mlink.fits`` (a link to the mask)."""
    data = tmp_path / "data"
    data.mkdir()
    out = {k: data / p.name for k, p in sources.items()}
    for k, p in sources.items():
        out[k].write_bytes(p.read_bytes())
    (data / "link.fits").symlink_to(out["rate"])
    (data / "mlink.fits").symlink_to(out["mask"])
    out["link"], out["mlink"] = data / "link.fits", data / "mlink.fits"
    monkeypatch.chdir(data)
    return out


def _state(folder: Path) -> dict[str, tuple[bool, bytes]]:
    return {p.name: (p.is_symlink(), p.read_bytes()) for p in sorted(folder.iterdir())}


def _refused(run_cli, work, argv, victim: str) -> str:
    folder = work["rate"].parent
    before = _state(folder)
    code, out, err = run_cli(*[str(a).format(**{k: str(v) for k, v in work.items()},
                                             cwd=os.getcwd()) for a in argv])
    assert code == 1, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dqmask: {victim}"), err
    assert "output would overwrite an input" in lines[0], err
    assert _state(folder) == before
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["apply", "{rate}", "--mask", "{mask}", "-o", "{link}"],
    ["apply", "{rate}", "--mask", "{mask}", "-o", "{rate}"],
    ["apply", "{rate}", "--mask", "{mask}", "--output-dir", "."],
    ["apply", "{rate}", "--mask", "{mask}", "--output-dir", "{cwd}"],
    ["apply", "{rate}", "--mask", "{mask}", "--output-dir", "../data/../data"],
], ids=["-o link", "-o itself", "--output-dir .", "--output-dir $PWD", "--output-dir d/../d"])
def test_apply_refuses_its_target_under_another_name(run_cli, work, argv):
    line = _refused(run_cli, work, argv, "{}".format(work["rate"]))
    assert line.endswith("use --in-place to rewrite it")


@pytest.mark.parametrize("argv, victim", [
    (["apply", "{rate}", "--mask", "{mask}", "-o", "{mlink}"], "mask"),
    (["apply", "{rate}", "--region", "{reg}", "-o", "{reg}"], "reg"),
    (["grow", "{mask}", "--pixels", "2", "-o", "{mlink}"], "mask"),
    (["convert", "{mask}", "{mlink}", "--to", "good"], "mask"),
    (["combine", "{rate}", "{mask}", "-o", "{mlink}"], "mask"),
    (["preview", "{rate}", "-o", "{link}"], "rate"),
    (["preview", "{rate}", "--mask", "{mask}", "-o", "{mlink}"], "mask"),
    (["dqinit", "{rate}", "--mask", "N/A", "-o", "{link}"], "rate"),
], ids=["apply mask", "apply region", "grow", "convert", "combine", "preview", "preview mask",
        "dqinit"])
def test_no_command_writes_over_one_of_its_inputs_through_a_link(run_cli, work, argv, victim):
    if argv[0] == "dqinit":
        code, _, err = run_cli(*[a.format(**work) for a in argv])
        assert code == 2 and "output would overwrite input" in err  # refused before any work
        return
    _refused(run_cli, work, argv, str(work[victim]))


def test_detect_with_an_empty_suffix_refuses_to_replace_the_image(run_cli, work):
    line = _refused(run_cli, work, ["detect", "{cal}", "--include-region", "{reg}",
                                    "--output-suffix", "", "--overwrite"], str(work["cal"]))
    assert "choose another --output-suffix" in line


@pytest.mark.parametrize("command", ["nircammask", "dolphot"])
@pytest.mark.parametrize("folder", [".", "{cwd}", "../data/../data"])
def test_dolphot_output_dir_that_is_the_inputs_folder_is_refused(run_cli, work, command,
                                                                  folder):
    line = _refused(run_cli, work, [command, "--output-dir", folder, "{cal}"], str(work["cal"]))
    assert "--output-dir writes copies" in line


def test_dolphot_output_dir_elsewhere_still_copies(run_cli, work):
    code, _, err = run_cli("nircammask", "--output-dir", "prep", str(work["cal"]))
    assert code == 0, err
    assert fits.getheader(work["cal"], 1).get("DOL_NIRC") is None  # input untouched
    assert "DOL_NIRC" in fits.getheader(Path("prep") / work["cal"].name, 1)


def test_in_place_through_a_link_rewrites_the_file_it_points_to(run_cli, work):
    code, _, err = run_cli("apply", str(work["link"]), "--mask", str(work["mask"]),
                           "--in-place")
    assert code == 0, err
    assert work["link"].is_symlink() and os.readlink(work["link"]) == str(work["rate"])
    assert len(step_records(fits.getheader(work["rate"]), "apply")) == 1


def test_dolphot_in_place_through_a_link_rewrites_the_file_it_points_to(run_cli, work):
    link = work["cal"].parent / "cal_link.fits"
    link.symlink_to(work["cal"])
    code, _, err = run_cli("nircammask", str(link))
    assert code == 0, err
    assert link.is_symlink()
    assert "DOL_NIRC" in fits.getheader(work["cal"], 1)  # as DOLPHOT: through the link
    assert sorted(p.name for p in work["cal"].parent.iterdir() if p.name.startswith(".")) == []
