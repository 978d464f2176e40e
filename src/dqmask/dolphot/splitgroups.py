"""``splitgroups``: one ``<name>.chip<N>.fits`` per image HDU of a multi-extension file.

As DOLPHOT's ``ccdred/splitgroups.c`` (``docs/dolphot.md``, "splitgroups"): the data bytes
of each image are copied unchanged (never decoded); the header is the primary's cards with
the extension's values, then the extension-only cards.
"""

from __future__ import annotations

import errno
import gzip
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from astropy.io import fits

from ..errors import InputError
from ..io.atomic import atomic_output, refuse_output_is_input
from ..io.fits import add_provenance, open_fits

__all__ = ["SplitResult", "splitgroups", "split_name"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitResult:
    """The files :func:`splitgroups` wrote (or would write, ``dry_run``), in HDU order.

    Iterating gives the output names (a list was returned before).
    """

    path: str
    outputs: tuple[str, ...]
    dry_run: bool = False

    def summary(self) -> str:
        """One line: ``IN: wrote OUT1, OUT2``."""
        verb = "would write" if self.dry_run else "wrote"
        return f"{self.path}: {verb} " + ", ".join(self.outputs)

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)

_STRUCTURAL = {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "NEXTEND", "PCOUNT",
               "GCOUNT", "END", "BSCALE", "BZERO", "BLANK", "GROUPS"}
_COMMENTARY = {"HISTORY", "COMMENT", ""}


def split_name(path: str | os.PathLike) -> str:
    """The ``<base>`` of ``<base>.chip<N>.fits``: the name without ``.fits`` / ``.fits.gz``.

    Raises
    ------
    InputError
        The name does not end in ``.fits`` or ``.fits.gz`` (case-insensitive).
    """
    path = os.fspath(path)
    low = path.lower()
    for ext in (".fits.gz", ".fits"):
        if low.endswith(ext) and len(os.path.basename(path)) > len(ext):
            return path[: -len(ext)]
    raise InputError(path, "does not have a .fits extension; skipping")


def _structural(key: str) -> bool:
    return key in _STRUCTURAL or (key.startswith("NAXIS") and key[5:].isdigit())


def _merged_header(primary: fits.Header, ext: fits.Header) -> fits.Header:
    """Primary cards (values replaced by the extension's) then extension-only cards."""
    out = fits.Header()
    out["SIMPLE"] = (True, "conforms to FITS standard")
    out["BITPIX"] = ext["BITPIX"]
    out["NAXIS"] = ext["NAXIS"]
    for k in range(1, int(ext["NAXIS"]) + 1):
        out[f"NAXIS{k}"] = ext[f"NAXIS{k}"]
    out["EXTEND"] = (False, "There are no standard extensions")
    for key in ("BSCALE", "BZERO", "BLANK"):
        if key in ext:
            out.append(fits.Card(key, ext[key], ext.comments[key]))
    ext_cards: dict[str, fits.Card] = {}
    for card in ext.cards:
        if card.keyword not in _COMMENTARY and not _structural(card.keyword):
            ext_cards.setdefault(card.keyword, card)
    used: set[str] = set()
    for card in primary.cards:
        key = card.keyword
        if _structural(key):
            continue
        if key not in _COMMENTARY and key in ext_cards:
            if key in used:
                continue
            used.add(key)
            card = ext_cards[key]
        out.append(_copy_card(card), end=True)
    for card in ext.cards:
        key = card.keyword
        if _structural(key) or (key not in _COMMENTARY and key in used):
            continue
        if key not in _COMMENTARY:
            used.add(key)
        out.append(_copy_card(card), end=True)
    return out


def _copy_card(card: fits.Card) -> fits.Card:
    """A copy keeping the card image byte for byte (long strings keep their CONTINUEs)."""
    return fits.Card.fromstring(card.image)


def _has_image(hdu) -> bool:
    header = hdu.header
    if "XTENSION" in header and str(header["XTENSION"]).strip().upper() != "IMAGE":
        return False
    n = int(header.get("NAXIS", 0))
    return n > 0 and all(int(header.get(f"NAXIS{k}", 0)) > 0 for k in range(1, n + 1))


def splitgroups(path: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
                dry_run: bool = False) -> SplitResult:
    """Write ``<base>.chip<N>.fits`` for every image HDU with data (N = 1-based position).

    Each output is one primary HDU: the extension's data bytes copied unchanged (same
    BITPIX, BSCALE, BZERO) under the primary cards (values replaced by same-named extension
    cards, in the primary's order) followed by the extension-only cards. ``chip0`` holds the
    primary image when it has data. Tables (and non-image extensions) are not split.
    The input is never modified; outputs are written atomically and replace old ones.

    Returns
    -------
    SplitResult
        The files written (or that would be, with ``dry_run``).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    base = split_name(path)
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        base = os.path.join(os.fspath(output_dir), os.path.basename(base))
    with open_fits(path) as hdul:
        primary = hdul[0].header
        jobs: list[tuple[str, fits.Header, int, int]] = []
        for i, hdu in enumerate(hdul):
            if not _has_image(hdu):
                continue
            info = hdu.fileinfo()
            header = hdu.header.copy() if i == 0 else _merged_header(primary, hdu.header)
            if i == 0:
                header["EXTEND"] = (False, "There are no standard extensions")
                header.remove("NEXTEND", ignore_missing=True)
            jobs.append((f"{base}.chip{i}.fits", header, info["datLoc"], info["datSpan"]))
    if not jobs:
        raise InputError(path, "no image extension with data to split")
    for out, *_ in jobs:
        refuse_output_is_input(out, [path], "rename the input or write to another folder")
    if dry_run:
        return SplitResult(path, tuple(j[0] for j in jobs), dry_run=True)
    with _Source(path) as source:
        for out, header, loc, span in jobs:
            add_provenance(header, "splitgroups", {"source": os.path.basename(path)})
            with atomic_output(out) as fh:
                fh.write(header.tostring().encode("ascii"))
                written = _copy_range(source, loc, span, fh)
                pad = (-written) % 2880
                if pad:
                    fh.write(b"\0" * pad)
            log.debug("%s: wrote %s", path, out)
    return SplitResult(path, tuple(j[0] for j in jobs))


_CHUNK = 4 << 20
#: errno values meaning "copy_file_range cannot copy between these two files": fall back to
#: reading and writing (cross-device on old kernels, filesystems without it, sandboxes).
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP,
                             errno.EPERM, errno.EBADF})


def _copy_range(source: _Source, loc: int, span: int, fh) -> int:
    """Copy bytes ``loc:loc + span`` of the input to ``fh``; the number of bytes copied
    (fewer if the file ends early).

    From a plain file the kernel copies them (``os.copy_file_range``: no pass through
    Python's memory); otherwise, or where the kernel cannot, in 4 MiB pieces (a chip is
    never held whole).
    """
    written = 0
    if source.fd is not None and _KERNEL_COPY[0]:
        fh.flush()  # what was written so far reaches the descriptor before the kernel copy
        try:
            while written < span:
                n = os.copy_file_range(source.fd, fh.fileno(), span - written, loc + written)
                if not n:
                    return written
                written += n
            return written
        except OSError as exc:
            if written or exc.errno not in _NO_KERNEL_COPY:
                raise
            _KERNEL_COPY[0] = False  # not here: plain reads from now on
    while written < span:
        piece = source.read(loc + written, min(_CHUNK, span - written))
        if not piece:
            break
        fh.write(piece)
        written += len(piece)
    return written


#: Whether os.copy_file_range is worth trying (cleared after the kernel refuses it once).
_KERNEL_COPY = [hasattr(os, "copy_file_range")]


class _Source:
    """Raw byte ranges of the (decompressed) input: ``read(loc, span)``, and ``fd`` the
    descriptor of a plain (not compressed) file, else None."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        self._fh: io.BufferedReader | None = None
        self._raw: bytes | None = None

    def __enter__(self) -> _Source:
        if self.path.lower().endswith(".gz"):
            with gzip.open(self.path, "rb") as gz:
                self._raw = gz.read()
        else:
            self._fh = open(self.path, "rb")  # noqa: SIM115 - closed in __exit__
            self.fd = self._fh.fileno()
        return self

    def read(self, loc: int, span: int) -> bytes:
        if self._raw is not None:
            return self._raw[loc:loc + span]
        assert self._fh is not None  # opened in __enter__
        self._fh.seek(loc)
        return self._fh.read(span)

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.close()
