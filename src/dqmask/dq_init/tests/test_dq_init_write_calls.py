"""The dq_init output reaches the file in contiguous blocks, not element by element, and a
fresh ramp's GROUPDQ is never copied whole.

A ramp's GROUPDQ is a read-only broadcast of one plane: it is written plane by plane from
that plane (a full-size copy of it would be 40 MiB on a full-frame 10-group ramp). The atomic writer is not an OS-level
file to astropy (every byte goes through ``os.write`` so that a full disk is reported as
such), and astropy writes a non-contiguous array to such an object one element per
``write`` call: 42 million calls, seconds of overhead on a full-frame ramp. This checks what
astropy is handed instead of timing anything.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.io.fits import util as fits_util

from dqmask.datasets import make_nircam_uncal
from dqmask.dq_init.files import dq_init_file
from dqmask.dq_init.mask_ref import write_mask_ref


def test_groupdq_of_a_ramp_is_handed_to_astropy_plane_by_plane(tmp_path, monkeypatch):
    uncal = make_nircam_uncal(tmp_path / "jw_x_uncal.fits", ngroups=6, shape=(256, 256))
    mask = tmp_path / "mask.fits"
    dq = np.zeros((2048, 2048), np.uint32)  # a full-frame MASK; the ramp is a subarray of it
    dq[10, 1792 + 10] = 1
    write_mask_ref(mask, dq, instrument="NIRCAM", detector="NRCA1")
    written = []
    real = fits_util._array_to_file_like

    def spy(arr, fileobj):
        written.append((arr.shape, arr.dtype.itemsize, arr.flags.c_contiguous))
        return real(arr, fileobj)

    monkeypatch.setattr(fits_util, "_array_to_file_like", spy)
    out = tmp_path / "jw_x_dqinitstep.fits"
    dq_init_file(uncal, mask, out)
    monkeypatch.undo()
    with fits.open(out) as hdul:
        assert hdul["GROUPDQ"].data.shape == (1, 6, 256, 256)
        assert hdul["PIXELDQ"].data[10, 10] & 1
    assert all(contiguous for *_, contiguous in written), written
    # GROUPDQ (uint8): its six planes, each straight from the one broadcast plane
    assert [s for s, size, _ in written if size == 1 and len(s) > 1] == [(256, 256)] * 6
    assert (1, 6, 256, 256) not in [shape for shape, *_ in written]
