"""The notebook API (``import ptce_geo as pg``): its namespace, its docstrings, and frames it is given."""

from __future__ import annotations

import inspect
import re

import geopandas as gpd
import pytest
from shapely.geometry import box

import ptce_geo as pg
from ptce_geo.errors import InvalidPerimeter, PtceGeoError

#: a 0.2° box across the Ardèche (07) / Drôme (26) border, and the same box in Lambert-93 (EPSG:2154)
LONLAT = box(4.80, 44.88, 4.95, 44.98)
L93 = gpd.GeoSeries([LONLAT], crs="EPSG:4326").to_crs("EPSG:2154").iloc[0]


# -- the namespace --------------------------------------------------------------------------

def test_the_package_namespace_holds_the_api_and_its_subpackages_only():
    public = {n for n in dir(pg) if not n.startswith("_")}
    stray = {n for n in public - set(pg.__all__) if not inspect.ismodule(getattr(pg, n))}
    assert stray == set()  # no `annotations` (the __future__ import), no stdlib `logging`
    assert "logging" not in public and "annotations" not in public
    assert set(pg.__all__) <= set(dir(pg))


def test_public_docstrings_point_to_public_names_only():
    """A docstring of the API sends its reader to documented names, never to a private method."""
    objects = [getattr(pg, n) for n in pg.__all__ if callable(getattr(pg, n))]
    objects += [m for cls in (pg.Scorecard, pg.Overlay, pg.Options) for _, m in inspect.getmembers(cls)
                if not _.startswith("_") and (inspect.isfunction(m) or isinstance(m, property))]
    for obj in objects:
        doc = inspect.getdoc(obj) or ""
        assert not re.search(r":(meth|func|attr|class):`~?[\w.]*\b_[a-z]", doc), (obj, doc)


def test_scorecard_summary_docstring_describes_its_columns():
    doc = inspect.getdoc(pg.Scorecard.summary)
    for column in ("pole_id", "confidence", "area_km2", "typology", "n_interco", "n_<level>",
                   "dominant_<level>_share", "border_<level>_km", "best_<p>_iou", "qpv_count", "programmes"):
        assert f"``{column}``" in doc, column


# -- frames given to the library --------------------------------------------------------------

def test_a_frame_without_id_is_refused_naming_the_column_and_the_fix(mirror_env):
    frame = gpd.GeoDataFrame({"code": ["x"], "nom": ["Box"]}, geometry=[LONLAT], crs="EPSG:4326")
    for call in (lambda: pg.scorecard_of(frame), lambda: pg.overlay(frame, "departements"),
                 lambda: pg.Scorecard(frame)):
        with pytest.raises(InvalidPerimeter) as exc:
            call()
        assert isinstance(exc.value, PtceGeoError)
        assert str(exc.value).startswith("the perimeters have no 'id' column (columns: code, nom, geometry): ")
        assert "gdf['id'] = gdf['code'].astype(str)" in str(exc.value)
        assert "« id »" in exc.value.fr


def test_a_frame_in_metres_without_crs_is_refused_as_the_cli_refuses_a_file(mirror_env):
    frame = gpd.GeoDataFrame({"id": ["ok", "l93"]}, geometry=[LONLAT, L93])  # no CRS
    for call in (lambda: pg.scorecard_of(frame), lambda: pg.overlay(frame, "departements")):
        with pytest.raises(InvalidPerimeter) as exc:
            call()
        assert str(exc.value) == (
            "perimeter 'l93' has coordinates in metres (perhaps Lambert-93 (EPSG:2154) or Web Mercator (EPSG:3857)) "
            "and the GeoDataFrame declares no CRS: declare the CRS the coordinates are in, e.g. "
            "gdf = gdf.set_crs('EPSG:2154') for Lambert-93 (ptce_geo converts them to longitude/latitude), or "
            "reproject them to EPSG:4326.")
    swapped = gpd.GeoDataFrame({"id": ["sw"]}, geometry=[box(44.88, 4.80, 44.98, 4.95)])
    with pytest.raises(InvalidPerimeter, match=r"perimeter 'sw' has coordinates that look swapped"):
        pg.scorecard_of(swapped)


def test_the_fix_the_message_gives_works_and_degrees_without_crs_are_read(mirror_env):
    fixed = gpd.GeoDataFrame({"id": ["l93"]}, geometry=[L93]).set_crs("EPSG:2154")
    degrees = gpd.GeoDataFrame({"id": ["l93"]}, geometry=[LONLAT])  # no CRS, but degrees in France
    tables = []
    for frame in (fixed, degrees):
        card = pg.scorecard_of(frame, levels=["departements"], zones=())
        assert card.perimeters.crs == "EPSG:4326"
        tables.append(card.level_table("departements"))
    for table in tables:
        assert table.loc[0, "n_units"] + table.loc[0, "n_slivers"] == 2
        assert table.loc[0, "dominant_code"] in ("07", "26") and table.loc[0, "border_km"] > 5
    assert tables[0].loc[0, "area_km2"] == pytest.approx(tables[1].loc[0, "area_km2"], rel=1e-6)


# ------------------------------------------------------------------ the library without the app
APP_ONLY = ("streamlit", "streamlit_folium", "folium", "branca", "offlinefolium")


def test_the_library_never_imports_the_app_or_its_packages():
    """No module of the library imports Streamlit (nor the app); folium only inside a function
    (``ptce_geo.maps``, for notebooks), never at a module's top."""
    import ast
    from pathlib import Path

    for path in sorted(Path(pg.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in ("streamlit", "streamlit_folium", "app_pages"), f"{path.name}: imports {name}"
                if top in ("folium", "branca") and node in tree.body:
                    pytest.fail(f"{path.name}: imports {name} at the module's top")


def test_the_command_line_runs_without_the_apps_packages(mirror_env, tmp_path):
    """``pip install .`` without the [app] extra has none of them: with each made unimportable,
    ``import ptce_geo`` loads none and ``ptce-geo scorecard`` computes the poles' table."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\nfor name in %r:\n    sys.modules[name] = None  # ImportError on import\n" % (APP_ONLY,))
    env = dict(os.environ, PYTHONPATH=str(hide))
    code = ("import sys, ptce_geo\n"
            f"loaded = [m for m in {APP_ONLY!r} if sys.modules.get(m) is not None]\n"
            "assert not loaded, loaded\n"
            "from ptce_geo.cli import main\n"
            f"sys.exit(main(['scorecard', '-o', {str(tmp_path / 'card.csv')!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                          cwd=Path(pg.__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import pandas as pd

    card = pd.read_csv(tmp_path / "card.csv", dtype={"pole_id": str})
    assert len(card) == len(pg.load_poles()) and {"typology", "n_epci"} <= set(card.columns)
