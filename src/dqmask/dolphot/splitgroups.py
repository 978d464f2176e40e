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
from typing import TYPE_CHECKING

from ..errors import InputError
from ..io.atomic import atomic_output, refuse_output_is_input
from ..io.fits_scan import BLOCK, CARD, scan_plain
from ..io.provenance import add_provenance_cards, fixed_card, set_card

if TYPE_CHECKING:
    from astropy.io import fits

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


#: One header card as (keyword, image); an image is 80 characters, more for a long string
#: astropy read with its CONTINUE cards (kept whole).
Card = tuple[str, str]
_NO_EXTENSIONS = "There are no standard extensions"


def _merged_header(primary: list[Card], ext: list[Card], bitpix: int,
                   axes: tuple[int, ...]) -> list[Card]:
    """Primary cards (values replaced by the extension's) then extension-only cards.

    The structural cards are made afresh (SIMPLE, BITPIX, NAXIS, NAXISn, EXTEND = F) as
    astropy formats them; the extension's BSCALE / BZERO / BLANK follow, copied as they are.
    """
    out: list[Card] = [("SIMPLE", fixed_card("SIMPLE", True, "conforms to FITS standard")),
                       ("BITPIX", fixed_card("BITPIX", bitpix)),
                       ("NAXIS", fixed_card("NAXIS", len(axes)))]
    out += [(f"NAXIS{k}", fixed_card(f"NAXIS{k}", n)) for k, n in enumerate(axes, 1)]
    out.append(("EXTEND", fixed_card("EXTEND", False, _NO_EXTENSIONS)))
    for key in ("BSCALE", "BZERO", "BLANK"):
        out += [card for card in ext if card[0] == key][:1]
    ext_cards: dict[str, Card] = {}
    for card in ext:
        if card[0] not in _COMMENTARY and not _structural(card[0]):
            ext_cards.setdefault(card[0], card)
    used: set[str] = set()
    for card in primary:
        key = card[0]
        if _structural(key):
            continue
        if key not in _COMMENTARY and key in ext_cards:
            if key in used:
                continue
            used.add(key)
            card = ext_cards[key]
        out.append(card)
    for card in ext:
        key = card[0]
        if _structural(key) or (key not in _COMMENTARY and key in used):
            continue
        if key not in _COMMENTARY:
            used.add(key)
        out.append(card)
    return out


def _primary_chip(cards: list[Card]) -> list[Card] | None:
    """The primary header as chip0's: EXTEND = F (astropy's update of the card), NEXTEND
    removed; None where only astropy can tell how it re-formats EXTEND."""
    out = list(cards)
    if not set_card(out, "EXTEND", fixed_card("EXTEND", False, _NO_EXTENSIONS), False):
        return None
    nextend = [i for i, (key, _) in enumerate(out) if key == "NEXTEND"]
    if nextend:
        del out[nextend[0]]
    return out


def _header_bytes(cards: list[Card], params: dict[str, str]) -> bytes:
    """The header with dqmask's provenance, as FITS bytes (END, blank-padded)."""
    work = list(cards)
    if add_provenance_cards(work, "splitgroups", params) is None:
        return _astropy_header_bytes(cards, params)
    text = "".join(image for _, image in work) + "END".ljust(CARD)
    return (text + " " * (-len(text) % BLOCK)).encode("ascii")


def _astropy_header_bytes(cards: list[Card], params: dict[str, str]) -> bytes:
    """:func:`_header_bytes` by astropy, where the card images alone cannot be exact (a
    DQMPnnnn long string, a card over 80 characters...)."""
    from astropy.io import fits

    from ..io.fits import add_provenance

    header = fits.Header([fits.Card.fromstring(image) for _, image in cards])
    add_provenance(header, "splitgroups", params)
    return header.tostring().encode("ascii")


@dataclass(frozen=True)
class _Job:
    out: str
    cards: list[Card]
    loc: int
    span: int


def _plan_plain(path: str, base: str) -> list[_Job] | None:
    """The chips of a plain, well-formed file, read without astropy; None: ask astropy."""
    if path.lower().endswith(".gz"):
        return None
    hdus = scan_plain(path)
    if hdus is None:
        return None
    primary = list(zip(hdus[0].keywords, hdus[0].cards, strict=True))
    jobs = []
    for i, hdu in enumerate(hdus):
        if not hdu.is_image_with_data:
            continue
        cards = (_primary_chip(primary) if i == 0 else
                 _merged_header(primary, list(zip(hdu.keywords, hdu.cards, strict=True)),
                                hdu.bitpix, hdu.axes))
        if cards is None:
            return None
        jobs.append(_Job(f"{base}.chip{i}.fits", cards, hdu.data_offset, hdu.data_span))
    return jobs


def _plan_astropy(path: str, base: str) -> list[_Job]:
    """The chips of any file :func:`~dqmask.io.fits.open_fits` accepts (its checks and
    messages)."""
    from ..io.fits import open_fits

    with open_fits(path) as hdul:
        primary = _cards(hdul[0].header)
        jobs = []
        for i, hdu in enumerate(hdul):
            if not _has_image(hdu):
                continue
            info = hdu.fileinfo()
            header = hdu.header
            if i == 0:
                cards = _primary_chip(primary) or _astropy_primary_chip(header)
            else:
                axes = tuple(int(header[f"NAXIS{k}"])
                             for k in range(1, int(header["NAXIS"]) + 1))
                cards = _merged_header(primary, _cards(header), int(header["BITPIX"]), axes)
            jobs.append(_Job(f"{base}.chip{i}.fits", cards, info["datLoc"], info["datSpan"]))
    return jobs


def _cards(header: fits.Header) -> list[Card]:
    return [(card.keyword, card.image) for card in header.cards]


def _has_image(hdu) -> bool:
    header = hdu.header
    if "XTENSION" in header and str(header["XTENSION"]).strip().upper() != "IMAGE":
        return False
    n = int(header.get("NAXIS", 0))
    return n > 0 and all(int(header.get(f"NAXIS{k}", 0)) > 0 for k in range(1, n + 1))


def _astropy_primary_chip(header: fits.Header) -> list[Card]:
    out = header.copy()
    out["EXTEND"] = (False, _NO_EXTENSIONS)
    out.remove("NEXTEND", ignore_missing=True)
    return _cards(out)


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
    jobs = _plan_plain(path, base)
    if jobs is None:
        jobs = _plan_astropy(path, base)
    if not jobs:
        raise InputError(path, "no image extension with data to split")
    for job in jobs:
        refuse_output_is_input(job.out, [path], "rename the input or write to another folder")
    outputs = tuple(job.out for job in jobs)
    if dry_run:
        return SplitResult(path, outputs, dry_run=True)
    params = {"source": os.path.basename(path)}
    with _Source(path) as source:
        for job in jobs:
            header = _header_bytes(job.cards, params)
            with atomic_output(job.out) as fh:
                fh.write(header)
                written = _copy_range(source, job.loc, job.span, fh)
                pad = (-written) % BLOCK
                if pad:
                    fh.write(b"\0" * pad)
            log.debug("%s: wrote %s", path, job.out)
    return SplitResult(path, outputs)


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
