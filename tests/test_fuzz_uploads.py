"""Fuzzing the upload readers and the export path: random mutations of valid files.

Three valid files are made here with geopandas/pyogrio (a GeoJSON, a zipped Shapefile,
a GeoPackage) and mutated at random: truncation, flipped and inserted bytes, non-UTF-8
bytes, huge numbers, NaN and infinities, deep nesting, wrong types, damaged or missing
zip members, corrupted SQLite pages and geometry blobs. Each input goes to
:func:`~ptce_geo.uploads.read_zone_upload` or
:func:`~ptce_geo.uploads.read_perimeter_upload` (in turn). An input may be accepted or
refused with a :class:`~ptce_geo.errors.PtceGeoError` carrying an English and a French
message; anything else is a crash. What the perimeter reader accepts then goes down the
export path (:func:`~ptce_geo.export.export_files`, the three formats, real boundary
data), whose inputs are these perimeters. Counts are printed (``pytest -s``).
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
import sqlite3
import struct
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely

from fuzzhelp import replace_random_node
from ptce_geo.errors import PtceGeoError
from ptce_geo.export import FORMATS, export_files
from ptce_geo.uploads import read_perimeter_upload, read_zone_upload

pytestmark = pytest.mark.realdata

#: valid zones: polygons with a hole, a multipolygon, in Occitanie and Provence
ZONES = gpd.GeoDataFrame(
    {"code": ["Z1", "Z2", "Z3"], "nom": ["Zone un", "Zone « deux »", "Zône trois"], "pop": [10, 20, 30],
     "ratio": [0.5, 1.25, -3.0]},
    geometry=[shapely.box(1.4, 43.5, 1.5, 43.6).difference(shapely.box(1.44, 43.54, 1.46, 43.56)),
              shapely.MultiPolygon([shapely.box(3.8, 43.5, 3.9, 43.7), shapely.box(3.95, 43.5, 4.0, 43.6)]),
              shapely.box(5.3, 43.2, 5.5, 43.4)],
    crs="EPSG:4326")
WEIRD_VALUES = [None, 1e308, -1e308, float("nan"), float("inf"), -float("inf"), 10**400, -(10**30), "", "x" * 20_000,
                [], {}, True, False, [[[[[]]]]], "\udcff", "\x00", "<script>", -1, 0, 0.5, [1e999, 2], ["a", "b"],
                {"type": "Polygon"}, "NaN", 2**63, 2**64 + 1]
N_GEOJSON_BYTES, N_GEOJSON_TREE, N_SHAPEFILE, N_GEOPACKAGE = 450, 550, 500, 500
EXPORT_SAMPLE = 45


# ------------------------------------------------------------------ valid files
def make_geojson() -> bytes:
    return ZONES.to_json(drop_id=True).encode()


def make_shapefile(folder: Path) -> dict[str, bytes]:
    """The members of a zipped Shapefile (Lambert-93, with .prj and .cpg)."""
    pyogrio.write_dataframe(ZONES.to_crs(2154), folder / "zones.shp", encoding="UTF-8")
    return {p.name: p.read_bytes() for p in sorted(folder.glob("zones.*"))}


def make_geopackage(folder: Path) -> bytes:
    path = folder / "zones.gpkg"
    pyogrio.write_dataframe(ZONES, path, layer="zones", driver="GPKG")
    return path.read_bytes()


def zip_members(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ------------------------------------------------------------------ mutations
def mutate_bytes(rng: random.Random, data: bytes, *, text: bool = False) -> bytes:
    """One random byte-level mutation (text ones only make sense for GeoJSON)."""
    kinds = ["truncate", "flip", "insert", "chunk"] + (["number", "nest", "utf8", "keyword"] if text else [])
    kind = rng.choice(kinds)
    if kind == "truncate":
        return data[: rng.randrange(len(data))]
    if kind == "flip":
        b = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind == "insert":
        pos = rng.randrange(len(data))
        junk = rng.choice([b"\xff\xfe", b"\xc3", b"\x00" * 8, b"\xed\xa0\x80",
                           bytes(rng.randrange(256) for _ in range(16))])
        return data[:pos] + junk + data[pos:]
    if kind == "chunk":  # a block repeated or removed
        a, b = sorted(rng.randrange(len(data)) for _ in range(2))
        return data[:a] + data[a:b] * rng.randint(0, 3) + data[b:]
    if kind == "number":
        numbers = [b"43.5", b"1.4", b"3.8", b"5.3", b"10", b"0.5"]
        return data.replace(rng.choice(numbers), rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400",
                                                             b"1" * 400, b"1e-400", b"0x10", b"null", b'"43"']),
                            rng.randint(1, 4))
    if kind == "nest":
        depth = rng.choice([40, 600, 20_000, 300_000])
        target = rng.choice([b'"coordinates": ', b'"properties": ', b'"features": '])
        return data.replace(target, target + b"[" * depth + b"]" * depth + b", " + b'"x": ', 1) \
            if rng.random() < 0.3 else data.replace(target, target + b"[" * depth, 1)
    if kind == "utf8":
        return data.replace(b"Z", rng.choice([b"\xff", b"\xe9", b"\xc3\x28", b"\xf0\x9f\x98"]), rng.randint(1, 3))
    replacements = [(b'"Polygon"', b'"LineString"'), (b'"MultiPolygon"', b'"GeometryCollection"'),
                    (b'"FeatureCollection"', b'"Feature"'), (b'"Feature"', b'"Topology"'), (b'"type"', b'"tpye"'),
                    (b'"geometry"', b'"geometries"'), (b'"coordinates"', b'"coords"')]
    old, new = rng.choice(replacements)
    return data.replace(old, new, rng.randint(1, 3))


def mutate_tree(rng: random.Random, doc):
    """Structured mutations of a parsed GeoJSON: wrong types, huge numbers, NaN, nesting, CRS."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.12:
            doc["crs"] = {"type": "name", "properties": {"name": rng.choice([
                "urn:ogc:def:crs:EPSG::2154", "EPSG:999999", "urn:ogc:def:crs:OGC:1.3:CRS84", "", 42,
                "+proj=longlat +datum=WGS84 +no_defs", "<script>"])}}
            continue
        if roll < 0.2:
            feats = doc.get("features")
            if isinstance(feats, list) and feats:
                feat = rng.choice(feats)
                if isinstance(feat, dict) and isinstance(feat.get("properties"), dict):
                    key = rng.choice(["code", "nom", "", "\udcff", "é" * 300, "geometry", "id", "x" * 5000])
                    feat["properties"][key] = copy.deepcopy(rng.choice(WEIRD_VALUES))
            continue
        replace_random_node(rng, doc, WEIRD_VALUES, descend=0.85)
    return doc


def mutate_shapefile(rng: random.Random, members: dict[str, bytes]) -> bytes:
    """A zip of Shapefile members, one or two of them damaged, dropped or replaced."""
    members = dict(members)
    for _ in range(rng.randint(1, 2)):
        roll = rng.random()
        name = rng.choice(sorted(members))
        if roll < 0.12:
            members.pop(name)
        elif roll < 0.22:
            renamed = name.replace("zones.", rng.choice(["other.", "../zones.", "ZONES.", "zones.bak."]))
            members[renamed] = members.pop(name)
        elif roll < 0.32 and "zones.prj" in members:
            members["zones.prj"] = rng.choice([b"", b"GEOGCS[", b"\xff\xfe garbage", b'PROJCS["x",GEOGCS["y"]]',
                                               b"EPSG:4326", b"LOCAL_CS[\"nowhere\"]" * 100])
        elif roll < 0.4 and "zones.cpg" in members:
            members["zones.cpg"] = rng.choice([b"", b"NOTACODEPAGE", b"UTF-8\x00", b"\xff", b"CP1252", b"UTF-16"])
        elif roll < 0.5 and "zones.dbf" in members and len(members["zones.dbf"]) > 12:
            dbf = bytearray(members["zones.dbf"])  # record count, header size or record size: lies
            offset, fmt = rng.choice([(4, "<I"), (8, "<H"), (10, "<H")])
            dbf[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, rng.choice([0, 1, 2**16 - 1] if fmt == "<H"
                                                                                   else [0, 10**6, 2**32 - 1]))
            members["zones.dbf"] = bytes(dbf)
        elif roll < 0.6 and "zones.shp" in members and len(members["zones.shp"]) > 120:
            shp = bytearray(members["zones.shp"])  # a coordinate becomes NaN, inf or huge
            pos = rng.randrange(100, len(shp) - 8)
            shp[pos:pos + 8] = struct.pack("<d", rng.choice([math.nan, math.inf, -math.inf, 1e308, -1e300, 0.0]))
            members["zones.shp"] = bytes(shp)
        else:
            members[name] = mutate_bytes(rng, members[name])
    data = zip_members(members)
    return mutate_bytes(rng, data) if rng.random() < 0.15 else data


_GPKG_SQL = [
    "UPDATE zones SET geom = randomblob(60) WHERE fid = 1",
    "UPDATE zones SET geom = substr(geom, 1, 20)",
    "UPDATE zones SET geom = NULL",
    "UPDATE zones SET nom = CAST(x'fffe41' AS TEXT)",
    "UPDATE zones SET nom = CAST(x'c328' AS TEXT) WHERE fid = 2",
    "UPDATE zones SET code = NULL",
    "UPDATE zones SET code = 'Z1'",
    "UPDATE zones SET pop = 9223372036854775807",
    "UPDATE zones SET ratio = 1e308 * 10",
    "UPDATE zones SET pop = 'not a number'",
    "UPDATE gpkg_geometry_columns SET srs_id = 999999",
    "UPDATE gpkg_geometry_columns SET srs_id = 2154",
    "UPDATE gpkg_contents SET table_name = 'missing'",
    "UPDATE gpkg_contents SET data_type = 'attributes'",
    "UPDATE gpkg_geometry_columns SET column_name = 'nope'",
    "UPDATE gpkg_geometry_columns SET geometry_type_name = 'LINESTRING'",
    "DELETE FROM gpkg_spatial_ref_sys",
    "DROP TABLE IF EXISTS rtree_zones_geom",
    "DELETE FROM zones",
    "UPDATE gpkg_spatial_ref_sys SET definition = 'garbage' WHERE srs_id = 4326",
    "CREATE TABLE extra (x TEXT); INSERT INTO gpkg_contents (table_name, data_type) VALUES ('extra', 'features')",
]


def _nan_point_blob() -> bytes:
    """A GeoPackage geometry blob (header + WKB point) whose coordinates are NaN."""
    header = b"GP" + bytes([0, 0x01]) + struct.pack("<i", 4326)
    return header + struct.pack("<BIdd", 1, 1, math.nan, math.nan)


def mutate_geopackage(rng: random.Random, base: bytes, folder: Path) -> bytes:
    """A GeoPackage changed with SQL (bad blobs, CRS, tables) or at the byte level."""
    if rng.random() < 0.45:
        return mutate_bytes(rng, base)
    path = folder / "mut.gpkg"
    path.write_bytes(base)
    con = sqlite3.connect(path)
    try:  # the R-tree triggers call SpatiaLite functions sqlite3 lacks: drop them (the index goes stale)
        for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            con.execute(f'DROP TRIGGER "{trigger}"')
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.15:
                con.execute("UPDATE zones SET geom = ? WHERE fid = ?", (_nan_point_blob(), rng.randint(1, 3)))
                continue
            try:
                con.executescript(rng.choice(_GPKG_SQL))
            except sqlite3.Error:
                pass
        con.commit()
    finally:
        con.close()
    return path.read_bytes()


# ------------------------------------------------------------------ the runs
def _inputs(tmp_path: Path) -> list[tuple[str, str, bytes]]:
    """(kind, file name, content) of every fuzz input, deterministic."""
    rng = random.Random(20260511)
    base = make_geojson()
    doc = json.loads(base)
    out = [("geojson-bytes", "zones.geojson", mutate_bytes(rng, base, text=True)) for _ in range(N_GEOJSON_BYTES)]
    out += [("geojson-tree", "zones.geojson", json.dumps(mutate_tree(rng, doc), allow_nan=True).encode())
            for _ in range(N_GEOJSON_TREE)]
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    members = make_shapefile(shp_dir)
    out += [("shapefile", "zones.zip", mutate_shapefile(rng, members)) for _ in range(N_SHAPEFILE)]
    gpkg_dir = tmp_path / "gpkg"
    gpkg_dir.mkdir()
    gpkg = make_geopackage(gpkg_dir)
    out += [("geopackage", "zones.gpkg", mutate_geopackage(rng, gpkg, gpkg_dir)) for _ in range(N_GEOPACKAGE)]
    return out


def _refusal_ok(exc: PtceGeoError) -> bool:
    return bool(str(exc).strip()) and bool(exc.fr.strip()) and "Traceback" not in str(exc)


def test_valid_files_are_read_before_mutation(tmp_path):
    """The three seeds are good files: what the fuzz mutates is read as the same zones."""
    members = make_shapefile(tmp_path)
    for name, data in (("z.geojson", make_geojson()), ("z.zip", zip_members(members)),
                       ("z.gpkg", make_geopackage(tmp_path))):
        zones, info = read_zone_upload(data, filename=name, code_field="code", name_field="nom")
        assert list(zones["code"]) == ["Z1", "Z2", "Z3"], name
        assert list(zones["nom"]) == ["Zone un", "Zone « deux »", "Zône trois"], name
        for got, want in zip(zones.geometry, ZONES.geometry):
            assert got.symmetric_difference(want).area < 1e-9, name


# ------------------------------------------------------------------ crashes the fuzz found, pinned
def _damaged_schema(tmp_path: Path) -> bytes:
    data = make_geopackage(tmp_path)
    at = data.find(b"CREATE TABLE gpkg_spatial_ref_sys")
    return data[:at] + b"CREATE TABLX" + data[at + 12:]  # sqlite_master no longer parses


def _local_crs(tmp_path: Path) -> bytes:
    return zip_members({**make_shapefile(tmp_path), "zones.prj": b'LOCAL_CS["nowhere"]'})


def _central_directory_offset(tmp_path: Path) -> bytes:
    data = bytearray(zip_members(make_shapefile(tmp_path)))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", data, end + 16, struct.unpack_from("<I", data, end + 16)[0] + 1000)
    return bytes(data)  # members now sit at negative offsets: zipfile raises ValueError


def _duplicate_fields(tmp_path: Path) -> bytes:
    members = make_shapefile(tmp_path)
    dbf = bytearray(members["zones.dbf"])
    dbf[64:75] = dbf[32:43]  # the second field descriptor takes the first one's name
    return zip_members({**members, "zones.dbf": bytes(dbf)})


@pytest.mark.parametrize("make,name,outcome", [
    (_damaged_schema, "z.gpkg", "cannot be read as GeoPackage"),
    (_local_crs, "z.zip", "cannot be converted to WGS84"),
    (_central_directory_offset, "z.zip", "is damaged or does not match its header"),
    (_duplicate_fields, "z.zip", None),
], ids=["gpkg-schema", "local-crs", "zip-offset", "dbf-duplicate-fields"])
def test_inputs_that_crashed_the_readers(tmp_path, make, name, outcome):
    """Each of these raised a raw DataSourceError, ProjError, ValueError or AttributeError before."""
    data = make(tmp_path)
    if outcome is None:  # two fields named 'code': the second is renamed and the file is read
        zones, info = read_zone_upload(data, filename=name)  # (pyogrio gives both the second field's values)
        assert list(zones.columns) == ["code", "nom", "code_2", "pop", "ratio", "geometry"]
        assert len(zones) == 3 and list(zones["pop"]) == [10, 20, 30]
        return
    for reader in (read_zone_upload, read_perimeter_upload):
        with pytest.raises(PtceGeoError, match=outcome) as err:
            reader(data, filename=name)
        assert err.value.fr and name in err.value.fr


def test_fuzz_upload_readers_and_export_path(catalogue, tmp_path):
    inputs = _inputs(tmp_path)
    crashes: list[str] = []
    counts = {"accepted": 0, "refused": 0}
    by_kind: dict[str, int] = {}
    accepted_perimeters = {}
    for i, (kind, name, data) in enumerate(inputs):
        by_kind[kind] = by_kind.get(kind, 0) + 1
        perimeter = i % 2 == 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # GDAL and pyogrio warn about odd fields: not a failure
                # in this process: a reader's bug must surface here as a crash, not as the worker's
                # "internal error" refusal (and 2 000 worker starts would only add time)
                if perimeter:
                    out = read_perimeter_upload(data, filename=name, catalogue=catalogue, isolated=False)
                    key = (tuple(out["id"]), tuple(out["nom"]), tuple(shapely.to_wkb(out.geometry.to_numpy())))
                    accepted_perimeters.setdefault(key, out)
                else:
                    read_zone_upload(data, filename=name, isolated=False)
            counts["accepted"] += 1
        except PtceGeoError as exc:
            counts["refused"] += 1
            if not _refusal_ok(exc):
                crashes.append(f"{kind} #{i}: empty or odd message {exc!r}")
        except Exception as exc:  # noqa: BLE001 - counting crashes is the point
            crashes.append(f"{kind} #{i} ({'perimeter' if perimeter else 'zone'} reader): "
                           f"{exc.__class__.__name__}: {str(exc)[:160]}")
    # the export path, fed with what the perimeter reader accepted (the oddest first: non-ASCII, long)
    sample = sorted(accepted_perimeters.values(), key=lambda p: -sum(len(repr(v)) for v in p["nom"]))[:EXPORT_SAMPLE]
    exports = 0
    for j, perims in enumerate(sample):
        fmt = FORMATS[j % len(FORMATS)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                files = export_files(perims, fmt=fmt, catalogue=catalogue)
            exports += 1
            assert files and all(isinstance(v, bytes) and v for v in files.values())
        except PtceGeoError as exc:
            if not _refusal_ok(exc):
                crashes.append(f"export {fmt} #{j}: empty or odd message {exc!r}")
        except Exception as exc:  # noqa: BLE001
            crashes.append(f"export {fmt} #{j}: {exc.__class__.__name__}: {str(exc)[:160]}")
    n = len(inputs)
    print(f"\nupload readers: {n:,} inputs ({', '.join(f'{k} {v}' for k, v in by_kind.items())}), "
          f"{counts['accepted']} accepted, {counts['refused']} refused with a message; "
          f"export path: {exports} exports of {len(sample)} accepted perimeter sets; {len(crashes)} crashes")
    assert n == N_GEOJSON_BYTES + N_GEOJSON_TREE + N_SHAPEFILE + N_GEOPACKAGE == 2000
    assert counts["accepted"] > 100 and counts["refused"] > 500  # the mutations reach both outcomes
    assert len(sample) >= 10
    assert not crashes, crashes[:40]
