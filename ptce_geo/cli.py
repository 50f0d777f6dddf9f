"""The ``ptce-geo`` command line.

Every command honours ``--catalogue`` (or ``PTCE_GEO_CATALOGUE``), ``PTCE_GEO_MIRROR``
and ``PTCE_GEO_CACHE``. Tables go to stdout as CSV (``--format json`` for JSON) or to
``--output``. A bad input ends with a one-line message on stderr and exit code 2; no
traceback is shown unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
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


def write_table(df: pd.DataFrame, args) -> None:
    """Write a table as CSV or JSON to ``--output`` (atomically) or stdout."""
    if args.format == "json":
        text = df.to_json(orient="records", force_ascii=False, indent=1, double_precision=10)
    else:
        from .export import csv_safe  # a spreadsheet must not run a name as a formula

        text = csv_safe(df).to_csv(index=False, lineterminator="\n")
    if args.output:
        from ._http import atomic_write_bytes

        try:
            atomic_write_bytes(Path(args.output), text.encode("utf-8"))
        except OSError as exc:
            raise InvalidInput(f"cannot write {args.output} ({exc.strerror or exc}): free some space or "
                               "choose another --output; the previous file is unchanged.") from None
        logger.info("wrote %s", args.output)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _progress_factory(stack: contextlib.ExitStack):
    """``factory(label)`` → a download progress callback drawing a tqdm bar on stderr."""
    from ._http import tqdm_progress

    return lambda label: stack.enter_context(tqdm_progress(label))


def cmd_layers(args) -> int:
    from .layers import layer_status

    table = layer_status(catalogue=_catalogue(args))
    if args.format == "json" or args.output:
        write_table(table, args)
    else:
        sys.stdout.write(table.to_string(index=False) + "\n")
    return 0


def cmd_fetch(args) -> int:
    from .layers import fetch_layers

    with contextlib.ExitStack() as stack:
        counts = fetch_layers(args.layer or None, catalogue=_catalogue(args), progress=_progress_factory(stack))
    for lid, n in counts.items():
        sys.stdout.write(f"{lid}: {n} units ready\n")
    return 0


def _scorecard(args, *, levels=None):
    """The Scorecard of ``--poles`` with the command's options."""
    from .options import Options
    from .scorecard import Scorecard

    cat = _catalogue(args)
    options = Options(threshold=args.threshold, weight=args.weight or "area",
                      tolerance=getattr(args, "tolerance", None) or 0.01)
    return Scorecard(_poles(args, cat), options=options, catalogue=cat, levels=levels)


def _warn(lines) -> None:
    for line in lines:
        logger.warning("%s", line)


def cmd_analyze(args) -> int:
    card = _scorecard(args, levels=())
    table = card.level_table(args.layer)
    _warn(f"perimeter {pid!r} touches no unit of {args.layer!r}: it lies outside the layer's territory "
          "(abroad, at sea?); check its coordinates." for pid in table.loc[table["covered_share"] <= 0, "pole_id"])
    write_table(table, args)
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
    write_table(pieces_table(_scorecard(args, levels=()), args.layer), args)
    return 0


def cmd_scorecard(args) -> int:
    card = _scorecard(args)
    table = card.summary
    _warn(card.warnings)
    write_table(table, args)
    return 0


def cmd_poles_check(args) -> int:
    from .perimeters import check_perimeters

    problems = check_perimeters(args.file, catalogue=_catalogue(args))
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

    out = build_file(args.poles, output=args.output, catalogue=_catalogue(args))
    sys.stdout.write(f"wrote {out}\n")
    return 0


def cmd_overlap(args) -> int:
    from .zones import overlap_table

    cat = _catalogue(args)
    table, note = overlap_table(_poles(args, cat), args.zones, catalogue=cat, code_field=args.code_field,
                                name_field=args.name_field, tolerance=args.tolerance, assume_crs=args.assume_crs)
    if note:
        logger.warning("%s", note)
    write_table(table, args)
    return 0


def cmd_export(args) -> int:
    from .export import export

    cat = _catalogue(args)
    path = export(_poles(args, cat), fmt=args.export_format, output=args.output, layers=args.layer or None,
                  catalogue=cat, threshold=args.threshold, weight=args.weight)
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
    others = matches[~matches["code"].isin(report["code"])].head(8)
    if len(others):
        logger.warning("other matches: %s", "; ".join(f"{r.label} [{r.level} {r.code}]" for r in others.itertuples()))
    write_table(report, args)
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ptce-geo``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--catalogue", help="catalogue TOML file (default: PTCE_GEO_CATALOGUE or boundaries/catalogue.toml)")
    common.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--format", choices=("csv", "json"), default="csv", help="table format (default csv)")
    out.add_argument("--output", "-o", help="write to this file instead of stdout")
    poles = argparse.ArgumentParser(add_help=False)
    poles.add_argument("--poles", default=str(DEFAULT_POLES), help="perimeter file (default: the repository's poles.geojson)")
    poles.add_argument("--threshold", type=_threshold, default=0.01, help="sliver threshold t on share of the pole (default 0.01)")
    poles.add_argument("--weight", choices=("area", "population"), default=None, help="measure of shares (default area)")

    parser = argparse.ArgumentParser(prog="ptce-geo", description="Map PTCE perimeters and measure how they cut across French boundaries.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("layers", parents=[common, out], help="list the catalogue's layers").set_defaults(fn=cmd_layers)
    p = sub.add_parser("fetch", parents=[common], help="download and prepare layers (all when none named)")
    p.add_argument("layer", nargs="*")
    p.set_defaults(fn=cmd_fetch)
    for name, fn, helptext in (("analyze", cmd_analyze, "one scorecard row per pole for one layer"),
                               ("pieces", cmd_pieces, "one row per (pole, unit) for one layer")):
        p = sub.add_parser(name, parents=[common, out, poles], help=helptext)
        p.add_argument("--layer", required=True)
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
    p.set_defaults(fn=cmd_poles_build)
    p = sub.add_parser("overlap", parents=[common, out, poles], help="overlap of poles with a zones layer or file")
    p.add_argument("--zones", required=True, help="a zones layer id or a file (GeoJSON, GeoPackage, zipped Shapefile)")
    p.add_argument("--code-field")
    p.add_argument("--name-field")
    p.add_argument("--tolerance", type=_threshold, default=0.01, help="relation tolerance (default 0.01)")
    p.add_argument("--assume-crs", help="CRS of a zone file that declares none, e.g. EPSG:2154")
    p.set_defaults(fn=cmd_overlap)
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
    p.add_argument("--layer", action="append", help="add the pieces (partition) or overlaps (zones) of this layer; repeatable")
    p.set_defaults(fn=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ptce-geo``; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s", stream=sys.stderr)
    try:
        return args.fn(args)
    except PtceGeoError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line, traceback only with --debug
        if args.debug:
            raise
        sys.stderr.write(f"internal error: {exc.__class__.__name__}: {exc} (rerun with --debug and report it)\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
