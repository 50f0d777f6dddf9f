"""The ``ptce-geo`` command line.

Every command honours ``--catalogue`` (or ``PTCE_GEO_CATALOGUE``), ``PTCE_GEO_MIRROR``
and ``PTCE_GEO_CACHE``; with none of them, a mirror beside the checkout is used when
there is one (:func:`ptce_geo.settings.discover_data`; ``-v`` says which). Tables go to
stdout as CSV (``--format json`` for JSON) or to ``--output``, which may be neither a
device, a FIFO, a symbolic link nor an input of the command. A bad input ends with a
one-line message on stderr and exit code 2; no traceback is shown unless ``--debug`` is
given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .errors import InvalidInput, PtceGeoError
from .settings import DEFAULT_POLES

logger = logging.getLogger("ptce_geo")

__all__ = ["main", "build_parser"]


def _catalogue(args):
    from .catalogue import load_catalogue

    return load_catalogue(args.catalogue)


def _poles(args, catalogue):
    from .perimeters import read_perimeters

    return read_perimeters(args.poles, catalogue=catalogue)


def _inputs(args) -> list[str]:
    """The files a command reads (an output may not be one of them)."""
    names = ("poles", "catalogue", "zones", "file")
    return [str(getattr(args, n)) for n in names if isinstance(getattr(args, n, None), str)]


def _check_output(args) -> None:
    """Refuse ``--output`` before any work when it is a device, a link or an input."""
    if getattr(args, "output", None):
        from ._integrity import check_output

        check_output(Path(args.output), inputs=_inputs(args), what="--output")


def write_table(df: pd.DataFrame, args, *, table: str = "") -> None:
    """Write a table as CSV or JSON to ``--output`` (atomically) or stdout.

    ``--csv-dialect fr`` writes the French spreadsheet CSV (``;``, decimal comma, French
    headers, BOM in a file); ``table`` picks the headers of names that differ by table.
    """
    if args.format == "json":
        data = df.to_json(orient="records", force_ascii=False, indent=1, double_precision=10).encode("utf-8")
    else:
        from .export import csv_bytes  # formula-looking cells neutralised in both dialects

        data = csv_bytes(df, dialect=getattr(args, "csv_dialect", None) or "machine", table=table)
    text = data.decode("utf-8-sig")
    if args.output:
        from ._integrity import atomic_write_bytes

        try:
            atomic_write_bytes(Path(args.output), data, inputs=_inputs(args), what="--output")
        except OSError as exc:
            raise InvalidInput(f"cannot write {args.output} ({exc.strerror or exc}): free some space or "
                               "choose another --output; the previous file is unchanged.") from None
        sys.stdout.write(f"wrote {args.output}\n")  # as `export` and `card` say what they wrote
    else:
        try:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        except BrokenPipeError:
            raise
        except OSError as exc:
            _silence_stdout()
            raise InvalidInput(f"cannot write the output ({exc.strerror or exc}): free some space, or write to "
                               "a file with --output.") from None


def _progress_factory(stack: contextlib.ExitStack):
    """``factory(label)`` → a download progress callback drawing a tqdm bar on stderr."""
    from ._http import tqdm_progress

    return lambda label: stack.enter_context(tqdm_progress(label))


def cmd_layers(args) -> int:
    from .layers import layer_status

    table = layer_status(catalogue=_catalogue(args))
    if args.format or args.output:
        args.format = args.format or "csv"
        write_table(table, args)
    else:  # a terminal: the notices are too long for the table, they follow it
        sys.stdout.write(table.drop(columns=["notice"]).to_string(index=False) + "\n")
        for lid, notice in zip(table["id"], table["notice"]):
            if notice:
                sys.stdout.write(f"{lid}: historique — {notice}\n")
    return 0


def cmd_fetch(args) -> int:
    from .layers import fetch_layers

    with contextlib.ExitStack() as stack:
        counts = fetch_layers(args.layer or None, catalogue=_catalogue(args), progress=_progress_factory(stack))
    for lid, n in counts.items():
        sys.stdout.write(f"{lid}: {n} units ready\n")
    if not args.layer and not args.no_scorecard:  # the app's first map then needs no computation
        from .options import Options
        from .scorecard import stored_scorecard
        from .settings import poles_path

        path = poles_path()
        if path.is_file():
            for weight in ("area", "population"):
                card = stored_scorecard(path, catalogue=_catalogue(args), options=Options(weight=weight))
            sys.stdout.write(f"poles scorecard: ready ({len(card.ids)} poles of {path.name}, in area and population)\n")
    return 0


def _scorecard(args, *, levels=None, catalogue=None):
    """The Scorecard of ``--poles`` with the command's options (``catalogue``: the one already read)."""
    from .scorecard import Scorecard

    _check_output(args)
    cat = catalogue or _catalogue(args)
    return Scorecard(_poles(args, cat), options=_options(args), catalogue=cat, levels=levels)


def _warn(lines) -> None:
    for line in lines:
        logger.warning("%s", line)


def _division(args) -> str:
    """``--layer`` of ``analyze``: a division (partition) layer of the catalogue, or a one-line refusal.

    A zones layer (QPV, programmes) may overlap and leave gaps: a pole outside every zone is
    normal there, and its figures are the overlap command's (relations, union coverage).
    """
    cat = _catalogue(args)
    spec = cat[args.layer]  # an unknown id: CatalogueError naming the known ones
    if spec.kind != "partition":
        raise InvalidInput(f"--layer {spec.id!r} is a zones layer, not a division: `analyze` measures divisions "
                           f"({', '.join(cat.ids(kind='partition'))}); for zones use "
                           f"`ptce-geo overlap --zones {spec.id}` (or `ptce-geo programmes`).")
    return spec.id


def cmd_analyze(args) -> int:
    from .poles import with_confidence

    layer = _division(args)
    card = _scorecard(args, levels=(layer,))
    table = card.level_table(layer)
    _warn(card.warnings)  # as `scorecard` warns: layers leaving communes out by design are not checked
    write_table(with_confidence(table, card.perimeters), args)
    return 0


def pieces_table(card, layer: str) -> pd.DataFrame:
    """The pieces as the ``pieces`` command prints them (population columns when weighted by it)."""
    p = card.shares(layer)
    out = pd.DataFrame({
        "pole_id": p["pole_id"], "unit_code": p["unit_code"], "unit_name": p["unit_name"],
        "area_km2": p["area_m2"] / 1e6, "share_of_pole": p["share_of_pole"],
        "share_of_unit": p["share_of_unit"],
    })
    ov = card.overlay(layer)
    if ov.weight == "population":
        total = ov.poles["population"].reindex(p["pole_id"]).to_numpy()
        out["population"] = p["population"].to_numpy()
        out["population_share"] = p["population"].to_numpy() / total
    return out.sort_values(["pole_id", "share_of_pole"], ascending=[True, False], kind="stable")


def cmd_pieces(args) -> int:
    cat = _catalogue(args)
    cat[args.layer]  # an unknown id: said before any layer is read
    write_table(pieces_table(_scorecard(args, levels=(), catalogue=cat), args.layer), args, table="pieces")
    return 0


def cmd_scorecard(args) -> int:
    card = _scorecard(args)
    table = card.summary
    _warn(card.warnings)
    write_table(table, args)
    return 0


def cmd_poles_check(args) -> int:
    from .perimeters import check_perimeters

    problems = check_perimeters(args.file, catalogue=_catalogue(args), coverage=True)
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        sys.stdout.write(f"{p.severity}: {p}\n")
    if errors:
        sys.stdout.write(f"{args.file}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)\n")
        return 2
    sys.stdout.write(f"{args.file}: clean ({len(problems)} warning(s))\n")
    return 0


def cmd_poles_build(args) -> int:
    from .poles import build_file

    if args.from_csv:
        return _poles_build_from_csv(args)
    out = build_file(args.poles, output=args.output, catalogue=_catalogue(args), force=args.force)
    sys.stdout.write(f"wrote {out}\n")
    return 0


def _options(args):
    """The command's Options (threshold, weight, tolerance)."""
    from .options import Options

    tolerance = getattr(args, "tolerance", None)  # commands without --tolerance: the default
    return Options(threshold=args.threshold, weight=args.weight or "area",
                   tolerance=0.01 if tolerance is None else tolerance)


def _zone_warnings(res) -> None:
    """Say on stderr when a layer is history and which members could not be resolved."""
    if res.historical:
        logger.warning("layer %s is historical (%s): %s", res.layer, res.period, res.notice)
    bad = res.unresolved
    if len(bad):
        examples = "; ".join(f"{z} {n} ({r}{': ' + c if c else ''})" for z, n, r, c in
                             bad[["zone_code", "zone_name", "reason", "member_code"]].head(3).itertuples(index=False))
        logger.warning("layer %s: %d zone(s) have members not resolved into COG communes and are measured by "
                       "their outline (e.g. %s)", res.layer, bad["zone_code"].nunique(), examples)


def _poles_build_from_csv(args) -> int:
    """``poles build --from-csv LIST.csv``: the poles GeoJSON and the report of every unusable code or row."""
    from .poles import build_from_csv

    out, result = build_from_csv(args.from_csv, output=args.output, catalogue=_catalogue(args))
    for problem in result.report:
        sys.stdout.write(f"{'warning' if not problem.row_skipped else 'skipped'}: {problem}\n")
    skipped = len(result.skipped_rows)
    sys.stdout.write(f"wrote {out}: {result.n_poles} pole(s) from {result.rows} row(s); {skipped} row(s) skipped, "
                     f"{len(result.report) - skipped} code(s) ignored\n")
    return 0


def cmd_overlap(args) -> int:
    from .zones import overlap_table

    _check_output(args)
    cat = _catalogue(args)
    table, note, res = overlap_table(_poles(args, cat), args.zones, catalogue=cat, code_field=args.code_field,
                                     name_field=args.name_field, options=_options(args),
                                     assume_crs=args.assume_crs)
    if note:
        logger.warning("%s", note)
    _zone_warnings(res)
    write_table(table, args, table="overlaps")
    return 0


def cmd_programmes(args) -> int:
    from .zones import programme_summary

    card = _scorecard(args, levels=())
    overlaps = {}
    for lid in args.zones or card.catalogue.ids(kind="zones"):
        overlaps[lid] = res = card.zones(card.catalogue[lid].id)
        _zone_warnings(res)
    write_table(programme_summary(card.perimeters, overlaps, catalogue=card.catalogue), args)
    return 0


def cmd_export(args) -> int:
    from .export import write_export

    cat = _catalogue(args)
    _check_output(args)
    paths = write_export(_poles(args, cat), fmt=args.export_format, output=args.output, layers=args.layer or None,
                         catalogue=cat, threshold=args.threshold, weight=args.weight, dialect=args.csv_dialect,
                         inputs=tuple(_inputs(args)))
    sys.stdout.write("".join(f"wrote {path}\n" for path in paths))
    return 0


def cmd_mirror(args) -> int:
    from .mirror import make_mirror

    with contextlib.ExitStack() as stack:
        report = make_mirror(args.folder, layers=args.layer or None, catalogue=_catalogue(args),
                             progress=_progress_factory(stack))
    folder = report.catalogue.parent
    sys.stdout.write(f"wrote {len(report.files)} files ({report.total_bytes / 2**20:.1f} MB) for "
                     f"{len(report.layers)} layers and {report.catalogue}\n"
                     f"use it with: PTCE_GEO_MIRROR={folder} PTCE_GEO_CATALOGUE={report.catalogue} ptce-geo fetch\n")
    return 0


def cmd_card(args) -> int:
    """The card of one pole (``--output`` a file) or of every pole (``--all``, ``--output`` a folder)."""
    from .card import card_filename, write_card, write_cards
    from .scorecard import Scorecard

    if bool(args.pole) == bool(args.all):
        raise InvalidInput("give one pole id (such as ptce05) or --all: `ptce-geo card ptce05 --output f.pdf`, "
                           "`ptce-geo card --all --output cards/`.")
    fmt = args.card_format
    if fmt is None and args.output and not args.all and Path(args.output).suffix.lower() in (".pdf", ".html"):
        fmt = Path(args.output).suffix.lower()[1:]
    fmt = fmt or "pdf"
    if not args.all:
        _check_output(args)
    cat = _catalogue(args)
    perims = _poles(args, cat)
    if args.pole:
        if args.pole not in set(perims["id"]):
            raise InvalidInput(f"no pole {args.pole!r} in {args.poles}: use one of "
                               f"{', '.join(map(str, list(perims['id'])[:12]))}{'…' if len(perims) > 12 else ''}.")
        perims = perims[perims["id"] == args.pole]  # one pole's figures do not depend on the others
    card = Scorecard(perims, catalogue=cat, options=_options(args))
    if args.all:
        paths = write_cards(card, args.output or "fiches", fmt=fmt)
        sys.stdout.write(f"wrote {len(paths)} cards in {Path(args.output or 'fiches')}\n")
    else:
        path = write_card(card, args.pole, args.output or card_filename(args.pole, fmt), fmt=fmt)
        sys.stdout.write(f"wrote {path}\n")
    return 0


def cmd_territory(args) -> int:
    from .options import Options
    from .scorecard import Scorecard
    from .territory import TerritoryIndex, territory_report

    cat = _catalogue(args)
    index = TerritoryIndex.from_catalogue(cat)
    levels = [args.level] if args.level else None
    if args.level and args.level not in index.levels:
        raise InvalidInput(f"--level {args.level!r} is not in the catalogue: use one of {', '.join(index.levels)}.")
    if not len(index.search(args.query, levels=levels, limit=1)):
        raise InvalidInput(f"no territory matches {args.query!r}: give a name (accents and hyphens optional), "
                           "an INSEE code, a SIREN or a département number.")
    card = Scorecard(_poles(args, cat), options=Options(threshold=args.threshold, weight=args.weight or "area"),
                     catalogue=cat, levels=())
    report, matches = territory_report(card, index, args.query, levels=levels, n_nearest=args.nearest)
    _say_how_read(args.query, matches)
    others = matches[~matches["code"].isin(report["code"])].head(8)
    if len(others):
        logger.warning("other matches: %s", "; ".join(f"{r.label} [{r.level} {r.code}]" for r in others.itertuples()))
    write_table(report, args)
    return 0


#: how a query was read, said when it is not what was typed (match tiers of ptce_geo.territory)
_READ_AS = {7: "a code without its leading zero", 9: "the closest name: nothing matches exactly"}


def _say_how_read(query: str, matches: pd.DataFrame) -> None:
    """Warn when the territory found is not the query as typed: a code whose leading zero was
    dropped (« 1004 » is 01004), a typo (the closest name), five digits that look like a postal
    code (read as an INSEE code: postal codes are not in the official boundaries)."""
    from .territory import POSTAL_LIKE

    if not len(matches):
        return
    best = matches.iloc[0]
    found = f"{best['label']} [{best['level']} {best['code']}]"
    if int(best["tier"]) in _READ_AS:
        logger.warning("%r read as %s (%s)", query, found, _READ_AS[int(best["tier"])])
    elif POSTAL_LIKE.fullmatch(query.strip()) and best["level"] == "communes":
        logger.warning("%r read as the INSEE code of %s: postal codes are not known (the official boundaries "
                       "give none); for a commune, give its name or its INSEE code", query, found)


def _territory_level(text: str) -> str:
    aliases = {"region": "regions", "departement": "departements", "dep": "departements", "commune": "communes"}
    from .fmt import fold

    value = fold(text)
    return aliases.get(value, value)


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("give a share between 0 and 1, such as 0.01")
    return value


def _layer_help(kind: str | None = None) -> str:
    """The layer ids of the catalogue in use, for ``--help`` (never fails)."""
    try:
        from .catalogue import load_catalogue
        from .settings import discover_data

        ids = load_catalogue(discover_data(apply=False).catalogue).ids(kind=kind)
        return "one of: " + ", ".join(ids) + " (see `ptce-geo layers`)"
    except Exception:  # noqa: BLE001 - help text only
        return "a layer id of the catalogue (see `ptce-geo layers`)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ptce-geo``."""
    from . import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--catalogue", help="catalogue TOML file (default: PTCE_GEO_CATALOGUE or boundaries/catalogue.toml)")
    common.add_argument("-v", "--verbose", action="store_true",
                        help="log progress to stderr, with the mirror and catalogue chosen")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--format", choices=("csv", "json"), default="csv", help="table format (default csv)")
    out.add_argument("--output", "-o", help="write to this file instead of stdout")
    out.add_argument("--csv-dialect", choices=("machine", "fr"), default="machine",
                     help="CSV for programs (UTF-8, comma, decimal point; default) or for French spreadsheets (fr: "
                          "BOM, semicolon, decimal comma, French headers, shares in %%)")
    poles = argparse.ArgumentParser(add_help=False)
    poles.add_argument("--poles", default=str(DEFAULT_POLES), help="perimeter file, GeoJSON or CSV list of poles (default: the repository's poles.geojson)")
    poles.add_argument("--threshold", type=_threshold, default=0.01, help="sliver threshold t on share of the pole (default 0.01)")
    poles.add_argument("--weight", choices=("area", "population"), default=None, help="measure of shares (default area)")

    parser = argparse.ArgumentParser(prog="ptce-geo", description="Map PTCE perimeters and measure how they cut across French boundaries.")
    parser.add_argument("--version", action="version", version=f"ptce-geo {__version__}")
    parser.add_argument("-v", "--verbose", dest="verbose_first", action="store_true",
                        help="log progress to stderr, with the mirror and catalogue chosen (before or after the "
                             "command)")
    parser.add_argument("--debug", dest="debug_first", action="store_true",
                        help="show tracebacks (before or after the command)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("layers", parents=[common], help="list the catalogue's layers, their vintage and status")
    p.add_argument("--format", choices=("csv", "json"), default=None, help="table format (default: a text table)")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.set_defaults(fn=cmd_layers)
    p = sub.add_parser("fetch", parents=[common], help="download and prepare layers (all when none named)")
    p.add_argument("layer", nargs="*")
    p.add_argument("--no-scorecard", action="store_true",
                   help="do not compute the poles' scorecard (done, when no layer is named, for the app's first map)")
    p.set_defaults(fn=cmd_fetch)
    for name, fn, helptext in (("analyze", cmd_analyze, "one scorecard row per pole for one layer"),
                               ("pieces", cmd_pieces, "one row per (pole, unit) for one layer")):
        p = sub.add_parser(name, parents=[common, out, poles], help=helptext)
        # analyze: divisions only (a zones layer goes to `overlap`); pieces: any layer
        p.add_argument("--layer", required=True, help=_layer_help("partition" if name == "analyze" else None))
        p.set_defaults(fn=fn)
    sub.add_parser("scorecard", parents=[common, out, poles], help="one row per pole across all levels").set_defaults(fn=cmd_scorecard)
    pp = sub.add_parser("poles", help="build or check a poles file")
    psub = pp.add_subparsers(dest="poles_command", required=True)
    p = psub.add_parser("check", parents=[common], help="list every problem of a poles file")
    p.add_argument("file")
    p.set_defaults(fn=cmd_poles_check)
    p = psub.add_parser("build", parents=[common], help="rebuild every geometry from the code lists")
    p.add_argument("--poles", default=str(DEFAULT_POLES))
    p.add_argument("--output", "-o", help="write here instead of rewriting --poles")
    p.add_argument("--from-csv", metavar="LIST.csv", help="build a poles GeoJSON from a CSV list (id, nom, communes, "
                   "epci, departements, qpv as ';'-separated codes, other columns kept); default output LIST.geojson")
    p.add_argument("--force", action="store_true",
                   help="write even when a perimeter's area changes by more than 1 %% (a new COG vintage)")
    p.set_defaults(fn=cmd_poles_build)
    p = sub.add_parser("overlap", parents=[common, out, poles], help="overlap of poles with a zones layer or file")
    p.add_argument("--zones", required=True, help="a zones layer id or a file (GeoJSON, GeoPackage, zipped Shapefile)")
    p.add_argument("--code-field")
    p.add_argument("--name-field")
    p.add_argument("--tolerance", type=_threshold, default=0.01,
                   help="relation tolerance: coincides/inside from 1 - t, touches below t (default 0.01)")
    p.add_argument("--assume-crs", help="CRS of a zone file that declares none, e.g. EPSG:2154")
    p.set_defaults(fn=cmd_overlap)
    p = sub.add_parser("programmes", parents=[common, out, poles],
                       help="one row per pole: the programmes (zones layers) it sits in")
    p.add_argument("--zones", action="append", help="a zones layer id (repeatable; default: every zones layer)")
    p.add_argument("--tolerance", type=_threshold, default=0.01, help="relation tolerance (default 0.01)")
    p.set_defaults(fn=cmd_programmes)
    p = sub.add_parser("territory", parents=[common, out, poles],
                       help="the poles acting in a territory found by name or code (or the nearest ones)")
    p.add_argument("query", help="a name (accents, case and hyphens optional), an INSEE code, a SIREN or a "
                                 "département number")
    p.add_argument("--level", type=_territory_level, help="search only this level: regions, departements, epci, "
                                                          "ept (when the catalogue has it) or communes")
    p.add_argument("--nearest", type=int, default=3, help="nearest poles listed when none acts there (default 3)")
    p.set_defaults(fn=cmd_territory)
    p = sub.add_parser("export", parents=[common, poles], help="export poles and results for QGIS or a report")
    p.add_argument("--format", dest="export_format", choices=("geojson", "gpkg", "csv"), required=True)
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--layer", action="append", help="add the pieces (partition) or overlaps (zones) of this layer; "
                   "repeatable; " + _layer_help())
    p.add_argument("--csv-dialect", choices=("machine", "fr"), default="machine",
                   help="with --format csv: for programs (default) or for French spreadsheets (fr)")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("mirror", parents=[common], help="copy the layers' files and their catalogue into a folder "
                       "mirror, for use without network")
    p.add_argument("folder", help="the mirror folder (created)")
    p.add_argument("layer", nargs="*", help="layers to copy (default: all); " + _layer_help())
    p.set_defaults(fn=cmd_mirror)
    p = sub.add_parser("card", parents=[common, poles], help="the printable card of a pole (PDF or HTML)")
    p.add_argument("pole", nargs="?", help="the pole's id (such as ptce05)")
    p.add_argument("--all", action="store_true", help="the card of every pole, into the folder --output")
    p.add_argument("--format", dest="card_format", choices=("pdf", "html"), default=None,
                   help="pdf (A4, one or two pages; default) or html (standalone page)")
    p.add_argument("--output", "-o", help="the file (default <id>_fiche.pdf), or the folder with --all "
                   "(default fiches/)")
    p.set_defaults(fn=cmd_card)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ptce-geo``; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose = getattr(args, "verbose", False) or args.verbose_first  # `ptce-geo -v layers` as `layers -v`
    args.debug = getattr(args, "debug", False) or args.debug_first
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s", stream=sys.stderr)
    try:
        with _data_settings(args):
            code = args.fn(args)
        _flush_stdout()  # a full disk behind stdout is said here, not at exit
        return code
    except PtceGeoError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"error: {_one_line(str(exc))}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except Exception as exc:  # a bug: say so in one line, traceback only with --debug
        if args.debug:
            raise
        sys.stderr.write(f"internal error: {exc.__class__.__name__}: {exc} (rerun with --debug and report it)\n")
        return 1


@contextlib.contextmanager
def _data_settings(args):
    """The data settings of one command: a mirror beside the checkout when none is set (``-v`` says which).

    The variables set are put back afterwards, so that ``main`` called twice in one
    process (tests, notebooks) starts from the same environment.
    """
    from .settings import discover_data

    names = ("PTCE_GEO_MIRROR", "PTCE_GEO_CATALOGUE")
    before = {n: os.environ.get(n) for n in names}
    try:
        logger.info("%s", discover_data(getattr(args, "catalogue", None)).describe())
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _one_line(text: str) -> str:
    """A message on one line, its control characters shown as code points (never run by a terminal)."""
    from .textsafe import describe_characters, invisible_characters

    text = " ".join(text.split())
    for ch in invisible_characters(text):
        text = text.replace(ch, f"<{describe_characters([ch])}>")
    return text


def _flush_stdout() -> None:
    """Flush stdout; a write error (a full disk) becomes a one-line refusal."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        _silence_stdout()
        raise InvalidInput(f"cannot write the output ({exc.strerror or exc}): free some space, or write to a "
                           "file with --output.") from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
