"""``dqmask nircammask | nirissmask | acsmask | wfc3mask | splitgroups | dolphot``.

DOLPHOT's preparation utilities with DOLPHOT's own flag spellings. As in DOLPHOT, the
arguments are read left to right and a flag applies to every file *after* it
(``dqmask acsmask a_flt.fits -keepcr b_flt.fits``: -keepcr is used for b only). Each flag
also has a ``--long-option`` form, with the value after ``=`` or as the next argument.
Options that are not DOLPHOT's (``--output-dir``, ``--pam-dir``, ``--dry-run``, ``--jobs``,
``--scheduler``)
apply to every file wherever they appear. Flags are matched in any case (``-KEEPCR``,
``-KeepCR``, ``-EXPTIME=5``), before the first file as after it, as DOLPHOT's C does.
Files are rewritten in place (atomically) unless ``--output-dir`` is given; a file already
prepared (DOL_* tag) is left untouched.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli._common import EXIT_OK, SCHEDULER_ENV, configure_logging, run_batch
from ..errors import DqmaskError, UsageError
from ..io.atomic import refuse_output_is_input
from ..pipeline import options as shared
from ..pipeline.options import Option

if TYPE_CHECKING:
    from . import files as step


def _step():
    """``dqmask.dolphot.files``, imported when a file is processed (not for ``--help``):
    numpy and astropy load only when there is work."""
    from . import files

    return files


# flag name -> (MaskOptions field, value or None when the flag takes one, parser of the value)
_Flag = tuple[str, object, Callable[[str], object] | None]


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"not a number: {text!r}") from None


def _int(text: str) -> int:
    return int(_float(text))  # DOLPHOT parses -ncombine with atof, stores an int


def _flag_spec(text: str) -> str:
    """``--dq-bad`` value: kept as text, resolved per file in that file's flag table."""
    if not text.strip():
        raise UsageError("--dq-bad needs flag names or a number (e.g. DO_NOT_USE)")
    return text.strip()


def _offsets(text: str) -> tuple[int, int]:
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise UsageError(f'Cannot parse subarray definition "{text}"') from None


_FLAGS: dict[str, _Flag] = {
    "etctime": ("etctime", True, None),
    "noetctime": ("etctime", False, None),
    "no-etctime": ("etctime", False, None),
    "estnoise": ("estnoise", True, None),
    "keepcr": ("keepcr", True, None),
    "keep-cr": ("keepcr", True, None),
    "keepsat": ("keepsat", True, None),
    "keep-sat": ("keepsat", True, None),
    "usewht": ("usewht", True, None),
    "use-wht": ("usewht", True, None),
    "maskflat": ("maskflat", True, None),
    "mask-flat": ("maskflat", True, None),
    "exptime": ("exptime", None, _float),
    "ncombine": ("ncombine", None, _int),
    "gain": ("gain", None, _float),
    "rdnoise": ("rdnoise", None, _float),
    "saturated-equals": ("saturated_rule", "equals", None),
    "bad-first": ("precedence", "bad", None),
    "dq-bad": ("dq_bad", None, _flag_spec),
}
for _name in ("wfc1", "wfc2", "hrc", "uvis1", "uvis2", "ir"):
    _FLAGS[f"{_name}sub"] = ("subarray", _name, _offsets)
    _FLAGS[f"{_name}-sub"] = ("subarray", _name, _offsets)

_JWST = {"etctime", "noetctime", "no-etctime", "estnoise", "exptime", "ncombine", "gain",
         "rdnoise", "saturated-equals", "bad-first", "dq-bad"}
_ACS = {"keepcr", "keep-cr", "keepsat", "keep-sat", "exptime", "ncombine", "usewht", "use-wht",
        "wfc1sub", "wfc2sub", "hrcsub", "wfc1-sub", "wfc2-sub", "hrc-sub", "dq-bad"}
_WFC3 = {"keepcr", "keep-cr", "keepsat", "keep-sat", "exptime", "ncombine", "usewht", "use-wht",
         "maskflat", "mask-flat", "uvis1sub", "uvis2sub", "irsub", "uvis1-sub", "uvis2-sub",
         "ir-sub", "dq-bad"}
ALLOWED = {"nircammask": _JWST, "nirissmask": _JWST, "acsmask": _ACS, "wfc3mask": _WFC3,
           "splitgroups": set(), "dolphot": _JWST | _ACS | _WFC3}

#: dqmask's own options of the DOLPHOT commands, declared once (name, default, range,
#: help): they apply to every file wherever they stand. DOLPHOT's flags (``-keepcr``,
#: ``-exptime=``...) are kept as DOLPHOT spells them, in :data:`_FLAGS`.
OUTPUT_DIR = shared.OUTPUT_DIR.but(help="write prepared copies into DIR instead of rewriting "
                                        "the inputs in place")
PAM_DIR = Option("pam_dir", "string", None,
                 "DOLPHOT data root with acs/data/wfc1_pam.fits ... and "
                 "wfc3/data/UVIS1wfc3_map.fits ... (default: pixel area from the image's SIP "
                 "distortion)", metavar="DIR")
DRY_RUN = shared.DRY_RUN
JOBS = shared.JOBS
SCHEDULER = shared.SCHEDULER.but(help=f"{shared.SCHEDULER.help} (default ${SCHEDULER_ENV})")
RUN_OPTIONS = (OUTPUT_DIR, PAM_DIR, DRY_RUN, JOBS, SCHEDULER)
_SHORT = {"jobs": "j"}

_GLOBAL_VALUE = {o.cli_flag[2:]: o for o in RUN_OPTIONS if o.kind != "boolean"}
_GLOBAL_VALUE.update({_SHORT[o.name]: o for o in RUN_OPTIONS if o.name in _SHORT})
_GLOBAL_BOOL = {o.cli_flag[2:]: o for o in RUN_OPTIONS if o.kind == "boolean"}


def _run_value(option: Option, flag: str, text: str) -> object:
    """A run-wide option's value from the command line (UsageError when out of range)."""
    if option.kind != "integer":
        return text
    value = _int(text)
    problem = option.problem(value)
    if problem:
        raise UsageError(f"{flag} {problem}")
    return value

#: The flag tables ``--dq-bad`` names are looked up in, per command (each file then uses
#: its own: JWST pixel flags, ACS, WFC3/UVIS or WFC3/IR).
_DQ_TABLES = {"nircammask": ("jwst",), "nirissmask": ("jwst",), "acsmask": ("acs",),
              "wfc3mask": ("wfc3-uvis", "wfc3-ir"),
              "dolphot": ("jwst", "acs", "wfc3-uvis", "wfc3-ir")}


def _check_dq_bad(spec: str, command: str) -> None:
    """UsageError unless ``spec`` names flags of at least one table the command meets."""
    from ..flags import TABLES, FlagSpecError, parse_flags

    problems = []
    for name in _DQ_TABLES[command]:
        try:
            parse_flags(spec, TABLES[name])
            return
        except FlagSpecError as exc:
            problems.append(f"{name}: {exc}")
    raise UsageError(f"--dq-bad {spec}: " + "; ".join(problems))


def _canonical(token: str) -> str:
    """A DOLPHOT flag in its registered spelling: ``-KEEPCR`` -> ``-keepcr``,
    ``-ExpTime=5`` -> ``-exptime=5`` (DOLPHOT matches flags with strcasecmp); anything
    else unchanged."""
    if not token.startswith("-") or token == "-":
        return token
    dashes = "--" if token.startswith("--") else "-"
    name, eq, value = token[len(dashes):].partition("=")
    key = name.lower()
    if key in _FLAGS or key in _GLOBAL_VALUE or key in _GLOBAL_BOOL:
        return f"{dashes}{key}{eq}{value}"
    return token


@functools.cache
def _case_free(base: type) -> type:
    """A sub-parser class reading DOLPHOT flags in any case before the first file too
    (argparse would refuse ``-KEEPCR`` there; after the first file the tokens are read
    by :func:`parse_tokens`, which ignores case)."""

    class _DolphotParser(base):
        def parse_known_args(self, args=None, namespace=None):
            if args is not None:
                args = [_canonical(str(a)) for a in args]
            return super().parse_known_args(args, namespace)

    _DolphotParser.__name__ = f"Dolphot{base.__name__}"
    return _DolphotParser


_DESCRIPTIONS = {
    "nircammask": "Prepare JWST NIRCam cal/crf/i2d images for DOLPHOT: DN conversion, "
                  "x AREA, bad/saturated pixels past BADPIX/SATURATE, DOLPHOT cards.",
    "nirissmask": "Prepare JWST NIRISS cal/crf/i2d images for DOLPHOT (as nircammask).",
    "acsmask": "Prepare HST ACS flt/flc/crj/drz/drc images for DOLPHOT (DQ masking, "
               "pixel-area correction, cards).",
    "wfc3mask": "Prepare HST WFC3 UVIS/IR flt/flc/drz/drc images for DOLPHOT.",
    "splitgroups": "Split multi-extension FITS files into <name>.chip<N>.fits, one image each.",
    "dolphot": "Prepare each file with the DOLPHOT mask routine its header calls for "
               "(nircammask, nirissmask, acsmask or wfc3mask).",
}


@dataclass
class Plan:
    """What the command line asks: files with their options, and run-wide settings."""

    files: list[tuple[str, step.MaskOptions]] = field(default_factory=list)
    output_dir: str | None = None
    pam_dir: str | None = None
    dry_run: bool = False
    jobs: int = 1
    scheduler: str | None = field(default_factory=lambda: os.environ.get(SCHEDULER_ENV) or None)
    verbose: int = 0
    quiet: bool = False



def _short_help(command: str) -> str:
    """One-line help for the command list: the description's first clause, lower-case."""
    text = _DESCRIPTIONS[command].split(":")[0].split(" (")[0].rstrip(".")
    return text[0].lower() + text[1:]

def parse_tokens(tokens: list[str], command: str, verbose: int = 0, quiet: bool = False
                 ) -> Plan:
    """Read the arguments left to right, DOLPHOT style.

    A DOLPHOT flag (``-keepcr``, ``-exptime=100``, ``--keep-cr``, ``--exptime 100``) changes
    the options of every later file; run-wide options may stand anywhere.

    Raises
    ------
    UsageError
        Unknown flag, bad value, flag after the last file, no file.
    """
    plan = Plan(verbose=verbose, quiet=quiet)
    # splitgroups takes no DOLPHOT flag (ALLOWED is empty): no MaskOptions, so dolphot.files
    # (numpy, astropy) is not imported
    options: Any = None if command == "splitgroups" else _step().MaskOptions()
    pending: list[str] = []
    allowed = ALLOWED[command]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok in ("-v", "--verbose"):
            plan.verbose += 1
            continue
        if tok in ("-q", "--quiet"):
            plan.quiet = True
            continue
        if not tok.startswith("-") or tok == "-":
            plan.files.append((tok, options))
            pending.clear()
            continue
        body = tok[2:] if tok.startswith("--") else tok[1:]
        name, eq, value = body.partition("=")
        key = name.lower()
        if key in _GLOBAL_BOOL:
            setattr(plan, _GLOBAL_BOOL[key].name, True)
            continue
        if key in _GLOBAL_VALUE:
            if not eq:
                if i >= len(tokens):
                    raise UsageError(f"{tok} needs a value")
                value, i = tokens[i], i + 1
            option = _GLOBAL_VALUE[key]
            setattr(plan, option.name, _run_value(option, tok.partition("=")[0], value))
            continue
        if key not in _FLAGS or key not in allowed:
            raise UsageError(f"unknown option {tok} for {command}")
        field_name, fixed, parse = _FLAGS[key]
        if parse is None:
            if eq:
                raise UsageError(f"{tok}: flag takes no value")
            options = replace(options, **{field_name: fixed})
        else:
            if not eq:
                if i >= len(tokens):
                    raise UsageError(f"{tok} needs a value ({tok}=VALUE)")
                value, i = tokens[i], i + 1
            parsed: Any = parse(value)  # the field's type: float, int, str or (x, y)
            if field_name == "subarray":
                parsed = (str(fixed), *parsed)
            if field_name == "dq_bad":
                _check_dq_bad(parsed, command)
            options = replace(options, **{field_name: parsed})
        pending.append(tok)
    if not plan.files:
        raise UsageError(f"{command}: no input files")
    if pending:
        raise UsageError(f"{' '.join(pending)} after the last file applies to no file "
                         "(DOLPHOT flags apply to the files after them)")
    return plan


class _Tokens(argparse.Action):
    """Append the option (as ``-flag`` or ``-flag=value``) or the files to ``tokens``."""

    def __call__(self, parser, namespace, values, option_string=None):
        tokens = list(getattr(namespace, "tokens", None) or [])
        if option_string is None:
            tokens.extend(values)
        elif values is None or values == []:
            tokens.append(option_string)
        else:
            tokens.append(f"{option_string}={values}")
        namespace.tokens = tokens


def _flag(p: argparse.ArgumentParser, dolphot: str | None, long: str, help: str,
          metavar: str | None = None) -> None:
    names = [n for n in (dolphot, long) if n]
    if metavar is None:
        p.add_argument(*names, nargs=0, action=_Tokens, dest="tokens", help=help)
    else:
        p.add_argument(*names, action=_Tokens, dest="tokens", metavar=metavar, help=help)


def _parser(sub, common, command: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        command, parents=[common], help=_short_help(command),
        description=_DESCRIPTIONS[command] + (
            "  Inputs are never modified." if command == "splitgroups" else
            "  Flags apply to the files after them, as in DOLPHOT; files are rewritten in "
            "place atomically unless --output-dir; a file already prepared is left alone."),
    )
    base: type = type(p)  # annotated: mypy does not see a type[ArgumentParser] as Hashable
    p.__class__ = _case_free(base)
    p.set_defaults(tokens=None, _run=run, _dolphot_command=command)
    allowed = ALLOWED[command]
    for option in RUN_OPTIONS:
        if option is PAM_DIR and "keepcr" not in allowed:
            continue  # HST commands only
        help_text = option.cli_help_text()
        if option is OUTPUT_DIR and command == "splitgroups":
            help_text = "write the chip files into DIR"
        short = f"-{_SHORT[option.name]}" if option.name in _SHORT else None
        _flag(p, short, option.cli_flag, help_text,
              None if option.kind == "boolean" else option.metavar)
    if "estnoise" in allowed:
        _flag(p, "-etctime", "--etctime", "JWST cal/crf: exposure time = ETC time "
                                          "(TMEASURE; the DOLPHOT 3.x default)")
        _flag(p, "-noetctime", "--no-etctime", "JWST cal/crf: exposure time = EFFEXPTM")
        _flag(p, "-estnoise", "--estnoise", "JWST: read noise from VAR_RNOISE")
        _flag(p, None, "--gain", "JWST: gain (e-/DN) instead of the detector table", "E_PER_DN")
        _flag(p, None, "--rdnoise", "JWST: read noise (e-) instead of the detector table", "E")
        _flag(p, None, "--saturated-equals", "JWST: saturated = DQ == 2 (default: DQ & 2)")
        _flag(p, None, "--bad-first", "JWST: a pixel both bad and saturated is bad "
                                      "(default: saturated)")
    if "keepcr" in allowed:
        _flag(p, "-keepcr", "--keep-cr", "HST: keep cosmic-ray flagged pixels")
        _flag(p, "-keepsat", "--keep-sat", "HST: keep saturated pixels")
        _flag(p, "-usewht", "--use-wht", "HST drizzled: bad where WHT <= 0 (default CTX == 0)")
    if "dq-bad" in allowed:
        tables = " / ".join(_DQ_TABLES[command])
        example = {"acsmask": "WARMPIX", "wfc3mask": "WARMPIX"}.get(command, "DO_NOT_USE")
        _flag(p, None, "--dq-bad", "pixels whose DQ has any of these flags become bad too "
              f"(names of the file's flag table, {tables}, e.g. {example}, or a number); "
              "not a DOLPHOT rule, whose default is kept without it", "FLAGS")
    if "exptime" in allowed:
        _flag(p, "-exptime", "--exptime", "override the exposure time (s)", "SEC")
        _flag(p, "-ncombine", "--ncombine", "override the number of combined images", "N")
    if "maskflat" in allowed:
        _flag(p, "-maskflat", "--mask-flat", "WFC3/IR: mask DQ 512 (bad flat)")
    for chip in ("wfc1", "wfc2", "hrc", "uvis1", "uvis2", "ir"):
        if f"{chip}sub" in allowed:
            _flag(p, f"-{chip}sub", f"--{chip}-sub",
                  f"force a {chip.upper()} subarray at offset X,Y of the full chip", "X,Y")
    p.add_argument("items", nargs=argparse.REMAINDER, action=_Tokens, metavar="FILE",
                   help="FITS files (.fits or .fits.gz), flags in between")
    return p


def register(sub, common) -> argparse.ArgumentParser:
    """Add nircammask, nirissmask, acsmask, wfc3mask, splitgroups and dolphot."""
    parsers = [_parser(sub, common, command)
               for command in ("nircammask", "nirissmask", "acsmask", "wfc3mask", "splitgroups",
                               "dolphot")]
    return parsers[-1]


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _prepare_one(path: str, *, routine: str, options: step.MaskOptions,
                 output_dir: str | None, pam_dir: str | None, dry_run: bool) -> str:
    out = None
    if output_dir:
        out = os.path.join(output_dir, os.path.basename(path))
        refuse_output_is_input(out, [path], "--output-dir writes copies: choose another "
                               "folder, or leave --output-dir out to prepare it in place")
    return _step().prepare_file(path, routine, options, output=out, pam_dir=pam_dir,
                                dry_run=dry_run).summary()


def _split_one(path: str, *, output_dir: str | None, dry_run: bool) -> str:
    # only .splitgroups: a plain file is split without numpy or astropy (dolphot.files
    # would load both)
    from .splitgroups import splitgroups

    return splitgroups(path, output_dir, dry_run=dry_run).summary()


def _dispatch(path: str, *, per_file: dict, **kw) -> str:
    routine, options = per_file[path]
    return _prepare_one(path, routine=routine, options=options, **kw)


def run(args: argparse.Namespace) -> int:
    command = args._dolphot_command
    plan = parse_tokens(list(args.tokens or []), command, args.verbose, args.quiet)
    if (plan.verbose, plan.quiet) != (args.verbose, args.quiet):
        configure_logging(plan.verbose, plan.quiet)
    paths = [p for p, _ in plan.files]
    if len(set(paths)) != len(paths):
        raise UsageError("a file is named twice; each file is prepared once")
    if plan.output_dir and not plan.dry_run:
        os.makedirs(plan.output_dir, exist_ok=True)
    if command == "splitgroups":
        worker = functools.partial(_split_one, output_dir=plan.output_dir, dry_run=plan.dry_run)
        return run_batch(paths, worker, jobs=plan.jobs, scheduler=plan.scheduler,
                         label="splitgroups")
    routine = "auto" if command == "dolphot" else command
    _step().reset_notes()
    per_file = {p: (routine, o) for p, o in plan.files}
    worker = functools.partial(_dispatch, per_file=per_file, output_dir=plan.output_dir,
                               pam_dir=plan.pam_dir, dry_run=plan.dry_run)
    return run_batch(paths, worker, jobs=plan.jobs, scheduler=plan.scheduler, label=command)


# --------------------------------------------------------------------------------------------
# make demo
# --------------------------------------------------------------------------------------------

_DEMO: tuple[tuple[str, list[str]], ...] = (
    ("nircam_cal", ["-noetctime"]), ("nircam_i2d", []), ("niriss_cal", []),
    ("acs_wfc_flt", []), ("wfc3_uvis_flt", []), ("wfc3_ir_flt", []))
_FULL = {"WFC": ((2048, 4096), "-wfc2sub=0,0"), "UVIS": ((2051, 4096), "-uvis2sub=0,0"),
         "IR": ((1014, 1014), "-irsub=0,0")}


def _demo_flags(path: Path, flags: list[str]) -> list[str]:
    """Small HST samples are not a DOLPHOT format: force a subarray at the chip origin."""
    from ..io.fits import open_fits

    with open_fits(path) as h:
        det = str(h[0].header.get("DETECTOR", "")).upper()
        shape = h["SCI", 1].data.shape if "SCI" in h else None
    if det in _FULL and shape is not None and shape != _FULL[det][0]:
        return [*flags, _FULL[det][1]]
    return flags


def demo(workdir: Path, samples: dict[str, Path], say: Callable[[str], None]) -> None:
    """Copy the samples into ``workdir/dolphot`` and prepare the copies in place, then split."""
    from ..cli import main

    out = Path(workdir) / "dolphot"
    out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    for key, flags in _DEMO:
        if key not in samples:
            say(f"dolphot demo: no sample {key}; skipped")
            continue
        target = out / Path(samples[key]).name
        shutil.copyfile(samples[key], target)
        flags = _demo_flags(target, flags)
        say(f"$ dqmask dolphot {' '.join([*flags, str(target)])}")
        code: int | str
        try:
            code = main(["dolphot", *flags, str(target)])
        except (DqmaskError, OSError) as exc:  # a demo never stops the others
            code = f"{exc}"
        if code != EXIT_OK:
            failed.append(f"{key} ({code})")
            continue
        if key in ("acs_wfc_flt", "wfc3_uvis_flt"):
            say(f"$ dqmask splitgroups {target}")
            if main(["splitgroups", str(target)]) != EXIT_OK:
                failed.append(f"splitgroups {key}")
        say(f"$ dqmask dolphot {target}   # a second run is refused, file unchanged")
        before = target.read_bytes()
        main(["dolphot", str(target)])
        if target.read_bytes() != before:
            failed.append(f"re-run changed {key}")
    if failed:
        raise RuntimeError("dolphot demo failed for " + ", ".join(failed))
