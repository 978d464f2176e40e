"""Relative pixel area from an image's own SIP distortion (pure: numbers in, arrays out).

What DOLPHOT reads from STScI's pixel-area maps (PAMs), computed from the SCI header's WCS
when no map is given (``--pam-dir``): the area of each pixel relative to a nominal pixel.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .core import row_blocks

__all__ = ["sip_pixel_area", "sip_area_at", "poly_product"]

def _sip_terms(coeffs: Mapping[tuple[int, int], float]) -> tuple[np.ndarray, np.ndarray]:
    """Coefficient matrices of d/du and d/dv of a SIP polynomial ``sum c_pq u^p v^q``.

    Returns ``(Du, Dv)`` with ``Du[q, p]`` the coefficient of ``u^p v^q`` in the u-derivative.
    """
    order = max((p + q for p, q in coeffs), default=0) + 1
    du = np.zeros((order, order))
    dv = np.zeros((order, order))
    for (p, q), c in coeffs.items():
        if p >= 1:
            du[q, p - 1] += p * c
        if q >= 1:
            dv[q - 1, p] += q * c
    return du, dv


def poly_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Coefficients of the product of two 2-D polynomials (their full 2-D convolution).

    ``a[q, p]`` and ``b[q, p]`` are the coefficients of ``v^q u^p``; the result has shape
    ``(a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1)``. The terms are added in
    the order ``scipy.signal.convolve2d(a, b)`` adds them in (a test checks the two agree
    to the bit): row by row of ``b``, within a row four terms at a time (summed left to
    right, then added to the total), the last ``len % 4`` terms one by one.

    Examples
    --------
    >>> poly_product(np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])).tolist()
    [[3.0, 6.0], [4.0, 8.0]]
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    shape = (a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1)
    out = np.zeros(shape)

    def term(q: int, p: int) -> np.ndarray:  # b[q, p] * a shifted to (q, p), zero-filled
        t = np.zeros(shape)
        t[q:q + a.shape[0], p:p + a.shape[1]] = a
        t *= b[q, p]
        return t

    width = b.shape[1]
    blocked = width - width % 4 if width >= 4 else 0
    for q in range(b.shape[0]):
        for p in range(0, blocked, 4):
            out += ((term(q, p) + term(q, p + 1)) + term(q, p + 2)) + term(q, p + 3)
        for p in range(blocked, width):
            out += term(q, p)
    return out


def sip_pixel_area(shape: tuple[int, int], crpix: tuple[float, float], cd: np.ndarray,
                   a: Mapping[tuple[int, int], float], b: Mapping[tuple[int, int], float],
                   nominal_scale: float | None = None, rows_per_chunk: int = 512,
                   reference_area: float | None = None) -> np.ndarray:
    """Relative pixel area of a SIP-distorted image (the PAM DOLPHOT would read).

    The area of pixel (x, y) is ``|det CD| * det(I + J_SIP(u, v))`` with ``u = x + 1 - CRPIX1``,
    ``v = y + 1 - CRPIX2`` (FITS 1-based pixels), J_SIP the Jacobian of the SIP polynomials
    A, B. The tangent-plane projection's own area change (< 1e-6 over an HST chip) and the
    small-scale lookup-table distortions (D2IM, WCSDVARR) are neglected.

    Parameters
    ----------
    shape : (ny, nx)
    crpix : (CRPIX1, CRPIX2)
    cd : ndarray (2, 2)
        CD matrix in degrees per pixel.
    a, b : mapping (p, q) -> coefficient
        SIP A_p_q and B_p_q.
    nominal_scale : float, optional
        Normalise to a pixel of this many arcsec on a side; ``None``: to the area at CRPIX
        (``det(I + J_SIP) = 1`` there, so the result is ``det(I + J_SIP)`` itself).
    reference_area : float, optional
        Normalise to this area in arcsec^2 (see :func:`sip_area_at`); wins over
        ``nominal_scale``.

    Returns
    -------
    ndarray of float32
        Relative pixel area, ``shape``.
    """
    ny, nx = shape
    au, av = _sip_terms(a)
    bu, bv = _sip_terms(b)
    n = max(au.shape[0], bu.shape[0], 1)

    def pad(m: np.ndarray, one: bool = False) -> np.ndarray:
        out = np.zeros((n, n))
        out[: m.shape[0], : m.shape[1]] = m
        if one:
            out[0, 0] += 1.0
        return out

    fu, fv, gu, gv = pad(au, True), pad(av), pad(bu), pad(bv, True)
    # det(I + J_SIP) is itself a polynomial: its coefficients [q, p] of v^q u^p
    det = poly_product(fu, gv) - poly_product(fv, gu)
    cd_area = abs(float(np.linalg.det(np.asarray(cd, dtype=np.float64)))) * 3600.0**2
    if reference_area is not None:
        det *= cd_area / float(reference_area)
    elif nominal_scale is not None:
        det *= cd_area / float(nominal_scale) ** 2
    m = det.shape[0]
    u = np.arange(nx, dtype=np.float64) + 1.0 - float(crpix[0])
    upow_t = np.vander(u, m, increasing=True).T  # (m, nx): u^p
    right = det @ upow_t  # (m, nx): sum_p det[q, p] u^p
    out = np.empty(shape, dtype=np.float32)
    for rows in row_blocks(ny, nx, max(rows_per_chunk, 1) * nx):
        v = np.arange(rows.start, rows.stop, dtype=np.float64) + 1.0 - float(crpix[1])
        out[rows] = np.vander(v, m, increasing=True) @ right
    return out


def sip_area_at(x: float, y: float, crpix: tuple[float, float], cd: np.ndarray,
                a: Mapping[tuple[int, int], float], b: Mapping[tuple[int, int], float]
                ) -> float:
    """Area in arcsec^2 of the pixel at 1-based FITS pixel ``(x, y)`` (may lie off the image)."""
    cd_area = abs(float(np.linalg.det(np.asarray(cd, dtype=np.float64)))) * 3600.0**2
    u, v = float(x) - float(crpix[0]), float(y) - float(crpix[1])

    def d(coeffs, wrt_u):
        total = 0.0
        for (p, q), c in coeffs.items():
            if wrt_u and p:
                total += p * c * u ** (p - 1) * v ** q
            elif not wrt_u and q:
                total += q * c * u ** p * v ** (q - 1)
        return total

    fu, fv = 1.0 + d(a, True), d(a, False)
    gu, gv = d(b, True), 1.0 + d(b, False)
    return cd_area * (fu * gv - fv * gu)
