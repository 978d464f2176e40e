"""The editor's local web server (standard library ``http.server``, no framework).

Safety
------
* Listens on 127.0.0.1 unless another ``host`` is given explicitly.
* Every request path starts with ``/<token>/`` (a random URL-safe token made at start);
  any other path gets 403 before anything is read. The ``Host`` header must name the
  address listened on (or ``localhost``), which defeats DNS-rebinding pages.
* Only the files given at start are read; outputs are written only beside them (or into
  the output folder) under the names :class:`~dqmask.editor.document.Document` makes.
* Request bodies are limited to :data:`MAX_BODY` bytes; query values are checked.

The JSON API is described in ``docs/editor.md``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from ..claws.core import DetectParams
from ..errors import DqmaskError, InputError
from ..io import png as render
from ..io.mask_file import WRITE_CONVENTIONS
from . import shapes
from .document import TILE, Document

__all__ = ["MAX_BODY", "AUTOSAVE_SECONDS", "EditorServer", "STATIC_FILES"]

log = logging.getLogger(__name__)

#: Largest request body accepted (bytes): a region file or a long brush stroke.
MAX_BODY = 4 << 20
#: Seconds between autosaves of a changed session.
AUTOSAVE_SECONDS = 2.0
#: The page's files (package data in ``dqmask/editor/static``) and their content types.
STATIC_FILES = {"index.html": "text/html; charset=utf-8",
                "editor.js": "text/javascript; charset=utf-8",
                "editor.css": "text/css; charset=utf-8"}
_MAX_LEVEL = 16


class EditorServer:
    """The documents, the HTTP server and the autosave thread.

    Parameters
    ----------
    paths : list of str
        Images to edit (stepped through in this order).
    host, port : str, int
        Address (port 0 = any free port).
    outdir : str, optional
        Output folder (default: beside each input).
    regions : str, optional
        DS9 region file loaded onto every chip of the first image at start.
    mask : str, optional
        Initial mask of the first image (``PATH[CHIP]@CONVENTION``).
    """

    def __init__(self, paths: list[str], *, host: str = "127.0.0.1", port: int = 0,
                 outdir: str | None = None, regions: str | None = None,
                 mask: str | None = None, token: str | None = None) -> None:
        if not paths:
            raise InputError(None, "give at least one image")
        self.workdir = tempfile.mkdtemp(prefix="dqmask-edit-")
        self.paths = [os.path.abspath(p) for p in paths]
        self.outdir = outdir
        self.token = token or secrets.token_urlsafe(18)
        self.docs: dict[int, Document] = {}
        self._docs_lock = threading.Lock()
        self.regions_text = None
        self._mask = mask
        try:
            first = self.document(0)  # errors in the first file surface before serving
            if regions:
                try:
                    with open(regions, encoding="utf-8") as fh:
                        self.regions_text = fh.read(MAX_BODY + 1)
                except (OSError, UnicodeDecodeError) as exc:
                    raise InputError(regions, f"not a readable DS9 region file ({exc})"
                                     ) from None
                if len(self.regions_text) > MAX_BODY:
                    raise InputError(regions, f"region file larger than {MAX_BODY} bytes")
                for k in range(len(first.chips)):
                    found, skipped = shapes.from_ds9_text(self.regions_text,
                                                          first.chips[k].header, self.workdir)
                    first.chips[k].shapes = found
                    first.messages += [f"{os.path.basename(regions)}: {m}" for m in skipped]
                    first.messages.append(f"{len(found)} shape(s) loaded from {regions}")
        except Exception:
            self._cleanup()
            raise
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self._stop = threading.Event()
        self._serving = False
        self._autosaver = threading.Thread(target=self._autosave_loop, daemon=True,
                                           name="dqmask-edit-autosave")

    # -- documents ------------------------------------------------------------------------

    def document(self, i: int) -> Document:
        if not 0 <= i < len(self.paths):
            raise ValueError(f"no file {i + 1} (there are {len(self.paths)})")
        with self._docs_lock:
            if i not in self.docs:
                self.docs[i] = Document(self.paths[i], self.outdir, self.workdir,
                                        self._mask if i == 0 else None)
            return self.docs[i]

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/{self.token}/"

    def allowed_hosts(self) -> set[str] | None:
        """``Host`` header values accepted; None (any) when listening on every address,
        whose names cannot be known (the token still guards every request)."""
        if self.host in ("", "0.0.0.0", "::"):
            return None
        names = {"127.0.0.1", "localhost", self.host}
        return {f"{n}:{self.port}" for n in names} | {f"[{self.host}]:{self.port}"}

    # -- running --------------------------------------------------------------------------

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests); returns the thread."""
        self._autosaver.start()
        self._serving = True
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                  name="dqmask-edit-http")
        thread.start()
        return thread

    def serve_forever(self) -> None:
        """Serve until interrupted (the command line)."""
        self._autosaver.start()
        self._serving = True
        try:
            self.httpd.serve_forever()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop serving, write a last autosave, close the files."""
        self._stop.set()
        if self._serving:
            self.httpd.shutdown()  # returns at once when serve_forever has already ended
            self._serving = False
        self.httpd.server_close()
        if self._autosaver.is_alive():
            self._autosaver.join(timeout=10)
        self.autosave_all()
        for doc in list(self.docs.values()):
            doc.close()
        self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def autosave_all(self) -> list[str]:
        written = []
        for doc in list(self.docs.values()):
            try:
                path = doc.autosave()
            except OSError as exc:
                msg = f"autosave failed: {exc}"
                if msg not in doc.messages:
                    doc.messages.append(msg)
                continue
            if path:
                written.append(path)
        return written

    def _autosave_loop(self) -> None:
        while not self._stop.wait(AUTOSAVE_SECONDS):
            self.autosave_all()

    # -- API ------------------------------------------------------------------------------

    def state(self, doc: int, chip: int) -> dict:
        d = self.document(doc)
        with d.lock:
            out = d.describe(chip)
            out["messages"], d.messages = d.messages, []
        out.update(files=[os.path.basename(p) for p in self.paths], doc=doc, tile=TILE,
                   conventions=list(WRITE_CONVENTIONS), limits=list(render.LIMITS),
                   stretches=list(render.STRETCHES),
                   detect_defaults=_detect_defaults(),
                   background_defaults={"n_sigma": 2.0, "grow": 0, "min_region": 5,
                                        "stats": "mode"},
                   outputs={c: d.output_path(c) for c in WRITE_CONVENTIONS}
                   | {"regions": d.output_path("regions")})
        return out

    def action(self, body: dict) -> dict:
        doc, chip = int(body.get("doc", 0)), int(body.get("chip", 0))
        d = self.document(doc)
        op = body.get("op")
        with d.lock:
            d.chip(chip)
            if op == "undo":
                message = d.undo()
            elif op == "redo":
                message = d.redo_last()
            elif op == "shapes":
                message = d.set_shapes(chip, list(body.get("shapes") or []))
            elif op == "paint":
                message = d.paint(chip, body.get("points") or [], float(body.get("size", 1)),
                                  bool(body.get("erase")))
            elif op == "grow":
                message = d.grow_by(chip, int(body.get("pixels", 1)))
            elif op == "invert":
                message = d.invert(chip)
            elif op == "clear":
                message = d.clear(chip)
            elif op == "fill":
                message = d.regions_to_mask(chip)
            elif op == "detect":
                message = d.run_detect(chip, _detect_params(body.get("params") or {}))
            elif op == "background":
                p = body.get("params") or {}
                message = d.auto_background(chip, float(p.get("n_sigma", 2.0)),
                                            int(p.get("grow", 0)), int(p.get("min_region", 5)),
                                            str(p.get("stats", "mode")))
            elif op == "load_regions":
                found, skipped = shapes.from_ds9_text(str(body.get("text", "")),
                                                      d.chip(chip).header, self.workdir)
                mode = body.get("mode", "add")
                now = [] if mode == "replace" else d.chip(chip).shapes
                d.set_shapes(chip, now + found)
                message = "; ".join([f"{len(found)} shape(s) loaded", *skipped])
            elif op == "restore":
                message = d.restore_session()
            elif op == "discard":
                message = d.discard_session()
            else:
                raise ValueError(f"unknown operation {op!r}")
        out = self.state(doc, chip)
        out["message"] = message
        return out

    def save(self, body: dict) -> dict:
        doc, chip = int(body.get("doc", 0)), int(body.get("chip", 0))
        d = self.document(doc)
        what = body.get("what")
        overwrite = bool(body.get("overwrite"))
        with d.lock:
            if what == "mask":
                path = d.save_mask(str(body.get("convention", "bad")),
                                   flags=body.get("flags") or None, overwrite=overwrite)
                message = f"mask written: {path}"
            elif what == "regions":
                path = d.save_regions(chip, overwrite=overwrite)
                message = f"regions written: {path}"
            elif what == "apply":
                message = d.apply_to_dq(body.get("flags") or None,
                                        float(body.get("max_fraction", 0.5)))
                path = d.path if d.outdir == os.path.dirname(d.path) else os.path.join(
                    d.outdir, d.name)
            else:
                raise ValueError(f"unknown save {what!r}")
        out = self.state(doc, chip)
        out.update(message=message, saved=path)
        return out


def _detect_defaults() -> dict:
    p = DetectParams()
    return {"sigma": p.sigma, "smooth": p.smooth, "minpixarea": p.minpixarea,
            "ignore_background": p.ignore_background, "box_size": p.box_size}


def _detect_params(p: dict) -> DetectParams:
    d = DetectParams()
    sigma = float(p.get("sigma", d.sigma))
    smooth = float(p.get("smooth", d.smooth))
    minpixarea = int(p.get("minpixarea", d.minpixarea))
    box = p.get("box_size")
    box = int(box) if box not in (None, "", 0, "0") else None
    if not (sigma > 0 and 0 <= smooth <= 50 and minpixarea >= 0
            and (box is None or box >= 1)):
        raise ValueError("detect needs sigma > 0, 0 <= smooth <= 50, minimum area >= 0, "
                         "box >= 1")
    return DetectParams(sigma=sigma, smooth=smooth, minpixarea=minpixarea,
                        ignore_background=bool(p.get("ignore_background", False)),
                        box_size=box)


def _int(q: dict, key: str, default: int | None = None, lo: int = 0, hi: int = 1 << 40) -> int:
    values = q.get(key)
    if not values:
        if default is None:
            raise ValueError(f"missing parameter {key}")
        return default
    value = int(values[0])
    if not lo <= value <= hi:
        raise ValueError(f"{key} out of range")
    return value


def _handler(app: EditorServer) -> type[BaseHTTPRequestHandler]:
    static = resources.files("dqmask.editor") / "static"

    class Handler(BaseHTTPRequestHandler):
        server_version = "dqmask-edit"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args) -> None:  # quiet unless -vv
            log.debug("edit: " + fmt, *args)

        # -- plumbing ---------------------------------------------------------------------

        def _send(self, status: int, body: bytes, ctype: str, cache: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "private, max-age=3600" if cache else "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: dict) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": message})

        def _route(self) -> tuple[str, dict] | None:
            """Check host and token; returns (path after the token, query) or None (403)."""
            host = self.headers.get("Host", "")
            allowed = app.allowed_hosts()
            if allowed is not None and host not in allowed:
                self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
                return None
            parts = urlsplit(self.path)
            segments = parts.path.split("/", 2)
            token = segments[1] if len(segments) > 1 else ""
            if not hmac.compare_digest(token.encode(), app.token.encode()):
                self._error(HTTPStatus.FORBIDDEN, "missing or wrong token")
                return None
            rest = segments[2] if len(segments) > 2 else ""
            return rest, parse_qs(parts.query, max_num_fields=32)

        def _body(self) -> dict | None:
            length = self.headers.get("Content-Length")
            if length is None:
                self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
                return None
            try:
                n = int(length)
            except ValueError:
                self._error(HTTPStatus.BAD_REQUEST, "bad Content-Length")
                return None
            if n < 0 or n > MAX_BODY:
                self.close_connection = True
                self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"request larger than {MAX_BODY} bytes")
                return None
            try:
                body = json.loads(self.rfile.read(n) or b"{}")
            except (ValueError, UnicodeDecodeError, RecursionError):
                self._error(HTTPStatus.BAD_REQUEST, "body is not JSON")
                return None
            if not isinstance(body, dict):
                self._error(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
                return None
            return body

        def _guard(self, work) -> None:
            try:
                work()
            except FileExistsError as exc:
                self._json(HTTPStatus.CONFLICT, {"error": f"{exc} exists", "exists": str(exc)})
            except InputError as exc:
                self._error(HTTPStatus.UNPROCESSABLE_ENTITY, exc.oneline())
            except DqmaskError as exc:
                self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc) or type(exc).__name__)
            except OSError as exc:
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR,
                            f"{exc.filename or ''}: {exc.strerror or exc}".strip(": "))
            except Exception as exc:  # noqa: BLE001 - the page shows it; the server survives
                log.debug("%s", traceback.format_exc())
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

        # -- verbs ------------------------------------------------------------------------

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            routed = self._route()
            if routed is None:
                return
            rest, q = routed
            if rest in ("", "index.html"):
                rest = "index.html"
            if rest in STATIC_FILES:
                self._send(HTTPStatus.OK, (static / rest).read_bytes(), STATIC_FILES[rest])
                return
            if rest == "api/state":
                self._guard(lambda: self._json(HTTPStatus.OK, app.state(
                    _int(q, "doc", 0), _int(q, "chip", 0))))
            elif rest == "api/tile":
                self._guard(lambda: self._tile(q))
            elif rest == "api/pixel":
                self._guard(lambda: self._json(HTTPStatus.OK, app.document(
                    _int(q, "doc", 0)).pixel(_int(q, "chip", 0), _int(q, "x", lo=-(1 << 40)),
                                             _int(q, "y", lo=-(1 << 40)))))
            else:
                self._error(HTTPStatus.NOT_FOUND, "no such page")

        def _tile(self, q: dict) -> None:
            d = app.document(_int(q, "doc", 0))
            layer = (q.get("layer") or ["image"])[0]
            color = tuple(bytes.fromhex((q.get("color") or ["ff0000"])[0][:6]))
            png = d.tile(_int(q, "chip", 0), layer, _int(q, "z", 0, 0, _MAX_LEVEL),
                         _int(q, "tx"), _int(q, "ty"),
                         stretch=(q.get("stretch") or ["linear"])[0],
                         limits=(q.get("limits") or ["zscale"])[0],
                         percent=float((q.get("percent") or ["99.5"])[0]),
                         flags=_int(q, "flags", 0, 0, (1 << 32) - 1),
                         color=color)  # type: ignore[arg-type]
            self._send(HTTPStatus.OK, png, "image/png", cache=layer == "image")

        def do_POST(self) -> None:  # noqa: N802
            routed = self._route()
            if routed is None:
                return
            rest, _ = routed
            body = self._body()
            if body is None:
                return
            if rest == "api/action":
                self._guard(lambda: self._json(HTTPStatus.OK, app.action(body)))
            elif rest == "api/save":
                self._guard(lambda: self._json(HTTPStatus.OK, app.save(body)))
            else:
                self._error(HTTPStatus.NOT_FOUND, "no such operation")

    return Handler

