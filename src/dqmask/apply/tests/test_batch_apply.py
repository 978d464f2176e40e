"""50 full-frame rate files through ``dqmask apply``: --jobs 1, --jobs 2 and a dask cluster
give the same bytes; a corrupt file is reported at the end and the other 49 are done; files
already done are skipped from their header record.

The files are real 2048x2048 NIRCam rate products (one made by :mod:`dqmask.datasets`, then
varied per file in DQ) reduced to the extensions apply reads or copies (PRIMARY, SCI, DQ,
ASDF), written once per session; each run's outputs are hashed and deleted before the next
run. About 40 s of CPU (3 x 50 applies of 32 MB files plus a skip pass).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from astropy.io import fits

from dqmask.flags import JWST_PIXEL

N_FILES = 50
CORRUPT = 17  # index of the truncated file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    from dqmask.datasets import make_rate_batch

    root = tmp_path_factory.mktemp("batch50")
    paths = make_rate_batch(root / "in", N_FILES)
    raw = paths[CORRUPT].read_bytes()
    paths[CORRUPT].write_bytes(raw[: len(raw) // 2])  # truncated mid-SCI
    region = root / "claw.reg"
    region.write_text("# Region file format: DS9 version 4.1\nimage\n"
                      "polygon(300,400,900,520,1100,900,700,1000,350,800)\n"
                      "-circle(700,700,60)\n")
    yield {"paths": paths, "region": region, "root": root}
    shutil.rmtree(root, ignore_errors=True)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _run(run_cli, batch, out: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli("apply", *batch["paths"], "--region", batch["region"],
                   "--output-dir", out, *extra)


def _check_run(code: int, err: str, out: Path, batch) -> None:
    bad = batch["paths"][CORRUPT]
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1] == f"dqmask: 1 of {N_FILES} inputs failed: {bad}"
    assert lines[-2].startswith(f"dqmask: {bad}: truncated")
    done = sorted(p.name for p in out.iterdir())
    assert done == sorted(p.name for i, p in enumerate(batch["paths"]) if i != CORRUPT)


def test_jobs_and_cluster_give_the_same_bytes(run_cli, batch):
    before = _digests(batch["root"] / "in")
    one, two, cluster_out = (batch["root"] / name for name in ("j1", "j2", "dask"))

    code, _, err = _run(run_cli, batch, one, "--jobs", "1")
    _check_run(code, err, one, batch)
    reference = _digests(one)
    code, _, err = _run(run_cli, batch, two, "--jobs", "2")
    _check_run(code, err, two, batch)
    assert _digests(two) == reference
    shutil.rmtree(two)

    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code, _, err = _run(run_cli, batch, cluster_out, "--scheduler",
                            cluster.scheduler_address)
    _check_run(code, err, cluster_out, batch)
    assert _digests(cluster_out) == reference
    shutil.rmtree(cluster_out)
    assert len(reference) == N_FILES - 1
    assert _digests(batch["root"] / "in") == before  # inputs untouched

    # the mask really is in the output DQ (DO_NOT_USE + OTHER_BAD_PIXEL inside the polygon)
    sample = next(one.iterdir())
    with fits.open(sample) as h:
        flags = JWST_PIXEL["DO_NOT_USE"] | JWST_PIXEL["OTHER_BAD_PIXEL"]
        assert h["DQ"].data[500, 600] & flags == flags  # inside the polygon (0-based y, x)
        assert h["DQ"].data[699, 699] & JWST_PIXEL["OTHER_BAD_PIXEL"] == 0  # excluded circle

    # a second pass over the outputs is skipped from the header record, nothing rewritten
    done = sorted(one.iterdir())
    code, _, err = run_cli("apply", *done, "--region", batch["region"], "--in-place",
                           "--jobs", "2")
    assert code == 0
    assert err.count("already processed by dqmask apply; skipped") == N_FILES - 1
    assert _digests(one) == reference
