"""A poles file's Scorecard kept on disk: read back equal, recomputed when anything changes."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from ptce_geo.cache import Cache
from ptce_geo.options import Options
from ptce_geo.scorecard import Scorecard, stored_scorecard

pytestmark = pytest.mark.realdata

POLES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": None, "properties": {"id": "seignanx", "nom": "Seignanx", "epci": ["244000659"]}},
    {"type": "Feature", "geometry": None,
     "properties": {"id": "romans", "nom": "Romans", "communes": ["26281", "26057"]}},
]}


@pytest.fixture()
def poles(tmp_path):
    path = tmp_path / "poles.geojson"
    path.write_text(json.dumps(POLES), "utf-8")
    return path


def _stored(cache) -> list:
    return sorted((cache.root / "scorecards").glob("*.pickle"))


def test_a_stored_scorecard_reads_back_the_figures_it_was_computed_with(catalogue, poles, tmp_path, caplog):
    cache = Cache(tmp_path / "cache")
    first = stored_scorecard(poles, catalogue=catalogue, cache=cache)
    (path,) = _stored(cache)
    with caplog.at_level(logging.INFO, logger="ptce_geo.scorecard"):
        again = stored_scorecard(poles, catalogue=catalogue, cache=cache)
    assert "read from" in caplog.text
    # the figures read back equal those of a Scorecard computed afresh, independently
    fresh = Scorecard(first.perimeters, catalogue=catalogue)
    pd.testing.assert_frame_equal(again.summary, fresh.summary)
    pd.testing.assert_frame_equal(again.programmes, fresh.programmes)
    assert again.summary.set_index("pole_id").loc["seignanx", "n_epci"] == 1
    # the population measure is another key, another file
    pop = stored_scorecard(poles, catalogue=catalogue, options=Options(weight="population"), cache=cache)
    assert pop.options.weight == "population" and len(_stored(cache)) == 2
    # a changed poles file is another key: never the old figures
    doc = json.loads(poles.read_text("utf-8"))
    doc["features"] = doc["features"][:1]
    poles.write_text(json.dumps(doc), "utf-8")
    assert list(stored_scorecard(poles, catalogue=catalogue, cache=cache).ids) == ["seignanx"]
    assert path.is_file()


def test_a_damaged_store_is_recomputed_and_replaced(catalogue, poles, tmp_path, caplog):
    cache = Cache(tmp_path / "cache")
    stored_scorecard(poles, catalogue=catalogue, cache=cache)
    (path,) = _stored(cache)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte: the checksum no longer matches
    path.write_bytes(bytes(blob))
    with caplog.at_level(logging.INFO, logger="ptce_geo.scorecard"):
        card = stored_scorecard(poles, catalogue=catalogue, cache=cache)
    assert "read from" not in caplog.text  # recomputed, not trusted
    assert set(card.ids) == {"seignanx", "romans"}
    with caplog.at_level(logging.INFO, logger="ptce_geo.scorecard"):
        stored_scorecard(poles, catalogue=catalogue, cache=cache)
    assert "read from" in caplog.text  # and replaced by a sound file


def test_a_pickled_overlay_carries_only_the_communes_its_pieces_use(catalogue, poles):
    """A worker's result crosses the process boundary without the whole communes layer."""
    import pickle

    import numpy as np
    import shapely

    from ptce_geo.perimeters import read_perimeters

    card = Scorecard(read_perimeters(poles, catalogue=catalogue), catalogue=catalogue, levels=("epci", "communes"))
    ov = card.overlay("epci")
    assert len(ov.communes_geoms) > 30_000  # the whole layer, in this process
    back = pickle.loads(pickle.dumps(ov))
    used = np.unique(np.concatenate([c for c in ov.piece_communes if c is not None]))
    assert len(back.communes_geoms) == len(used) == 8 + 2  # the Seignanx's 8 communes, Romans and its neighbour
    assert all(shapely.equals(a, b) for a, b in zip(ov.geoms, back.geoms))
    np.testing.assert_array_equal(back.n_communes, ov.n_communes)


def test_stored_scorecard_path_names_the_file_stored_scorecard_writes(tmp_path, mirror_env):
    """The launcher's readiness check and the store agree on one file, absent before and present after."""
    from ptce_geo.cache import Cache
    from ptce_geo.scorecard import stored_scorecard, stored_scorecard_path

    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": {"id": "p1", "nom": "Deux communes",
                                                            "communes": ["40312", "40209"]}}]}), encoding="utf-8")
    cache = Cache(tmp_path / "cache")
    path = stored_scorecard_path(poles, cache=cache)
    assert not path.exists()
    stored_scorecard(poles, cache=cache)
    assert path.is_file() and list((tmp_path / "cache" / "scorecards").glob("*.pickle")) == [path]
    poles.write_text(poles.read_text(encoding="utf-8").replace("Deux", "2"), encoding="utf-8")
    assert stored_scorecard_path(poles, cache=cache) != path  # another file, another key


def test_zones_limits_the_programmes_to_the_layers_asked_for(catalogue, poles, tmp_path):
    """``zones=`` measures those zones layers only: each one's columns equal the full Scorecard's
    (computed without the option), ``()`` gives no programme column; it is a key of the store."""
    from ptce_geo.errors import InvalidInput
    from ptce_geo.perimeters import read_perimeters
    from ptce_geo.scorecard import stored_scorecard_path

    per = read_perimeters(poles, catalogue=catalogue)
    full = Scorecard(per, catalogue=catalogue)
    every = catalogue.ids(kind="zones")
    assert full.zone_ids == tuple(every) and len(every) >= 2
    one = Scorecard(per, catalogue=catalogue, zones=[every[0]])
    assert one.zone_layers() == [every[0]]
    mine = [c for c in one.programmes.columns if c.startswith(f"{every[0]}_")]
    assert mine and not [c for c in one.programmes.columns if c.startswith(f"{every[1]}_")]
    pd.testing.assert_frame_equal(one.programmes[mine], full.programmes[mine])
    none = Scorecard(per, catalogue=catalogue, zones=())
    from ptce_geo import scorecard_of

    assert scorecard_of(per, catalogue=catalogue, zones=()).zone_ids == ()  # the notebook API passes it on
    assert "programmes" in full.summary and "programmes" not in none.summary
    pd.testing.assert_frame_equal(none.summary, full.summary.drop(columns=["programmes", "programmes_historiques"]))
    with pytest.raises(InvalidInput, match="communes"):
        Scorecard(per, catalogue=catalogue, zones=["communes"])  # a partition, not a zones layer
    cache = Cache(tmp_path / "cache")
    assert stored_scorecard_path(poles, catalogue=catalogue, zones=(), cache=cache) != \
        stored_scorecard_path(poles, catalogue=catalogue, cache=cache)
    assert "programmes" not in stored_scorecard(poles, catalogue=catalogue, zones=(), cache=cache).summary
