"""What every page shares: cached data (shared by all sessions), the error guard, maps.

Cached resources are keyed on the catalogue file (path and modification time), the
mirror, the cache folder, the layer id and vintage, and the poles file (path, size,
modification time). They are shared by every session and never modified after they are
built: pages copy before changing anything.

A session may replace the poles file by poles of its own (page « Mes pôles »: a CSV list
or a GeoJSON): :func:`use_session_poles` keeps the file's bytes in the session, and every
page then reads those poles, keyed by the content's digest (``upload:<digest>``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import streamlit as st

from ptce_geo import maps
from ptce_geo.cache import Cache
from ptce_geo.catalogue import Catalogue, load_catalogue
from ptce_geo.errors import CatalogueError, DataUnavailable, InvalidPerimeter, PtceGeoError
from ptce_geo.layers import load_layer
from ptce_geo.options import Options
from ptce_geo.perimeters import read_perimeters
from ptce_geo.poles import pole_details, seat_points
from ptce_geo.scorecard import Scorecard, stored_scorecard, stored_scorecard_path
from ptce_geo.settings import cache_dir, catalogue_path, mirror_base, poles_path
from ptce_geo.textsafe import escape_markdown

from . import assets, compute, mapview, serve
from .present import raw_pole_geometries

logger = logging.getLogger("ptce_geo.app")

APP_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = APP_DIR / "static"
MIRROR_HELP = ("Pour travailler sans accès à internet, définissez la variable d'environnement "
               "`PTCE_GEO_MIRROR` vers le dossier (ou l'URL) d'un miroir des contours, par exemple "
               "`PTCE_GEO_MIRROR=../shared/data PTCE_GEO_CATALOGUE=boundaries/mirror-2024.toml`, "
               "puis relancez l'application.")
MAP_HEIGHT = 560
PCT = "%.1f %%"


# ---------------------------------------------------------------- keys and assets
def _stamp(path: Path) -> str:
    try:
        st_ = path.stat()
        return f"{path.resolve()}:{st_.st_size}:{st_.st_mtime_ns}"
    except OSError:
        return f"{path}:absent"


def data_key() -> str:
    """What the boundary data depends on: catalogue file, mirror, cache folder."""
    return "|".join((_stamp(catalogue_path()), str(mirror_base() or ""), str(cache_dir())))


SESSION_POLES = "mes_poles"
_UPLOADS: OrderedDict[str, bytes] = OrderedDict()  # digest → bytes of the poles files sessions use
_UPLOADS_LOCK = threading.Lock()
_UPLOADS_MAX = 32


def register_upload(digest_: str, data: bytes) -> None:
    """Keep the bytes of a session's poles file for the workers that read it (bounded, shared)."""
    _register(digest_, data)


def _register(digest_: str, data: bytes) -> None:
    with _UPLOADS_LOCK:
        _UPLOADS[digest_] = data
        _UPLOADS.move_to_end(digest_)
        while len(_UPLOADS) > _UPLOADS_MAX:
            _UPLOADS.popitem(last=False)


def _upload_bytes(digest_: str) -> bytes:
    with _UPLOADS_LOCK:
        data = _UPLOADS.get(digest_)
    if data is None:  # evicted: this session still holds its file
        mine = st.session_state.get(SESSION_POLES) or {}
        if mine.get("digest") == digest_:
            data = mine["data"]
            _register(digest_, data)
    if data is None:
        raise InvalidPerimeter("The uploaded poles are no longer available: upload the file again.",
                               fr="Les pôles importés ne sont plus disponibles : importez de nouveau le fichier "
                               "(page « Mes pôles »).")
    return data


def session_poles() -> dict | None:
    """The poles this session uploaded (``name``, ``digest``, ``data``, ``n``), or None (the poles file)."""
    mine = st.session_state.get(SESSION_POLES)
    return mine if isinstance(mine, dict) and mine.get("digest") else None


def use_session_poles(name: str, data: bytes, n: int) -> None:
    """Show these poles (a CSV list or a GeoJSON, already read without error) on every page of this session."""
    d = digest(data)
    _register(d, data)
    st.session_state[SESSION_POLES] = {"name": name, "digest": d, "data": data, "n": n}


def drop_session_poles() -> None:
    """Back to the poles file for this session."""
    st.session_state.pop(SESSION_POLES, None)


def poles_key() -> str:
    """What the poles depend on: the poles file, or the session's own poles (the boundary data is keyed apart)."""
    mine = session_poles()
    if mine is not None:
        _register(mine["digest"], mine["data"])
        return "upload:" + mine["digest"]
    return _stamp(poles_path())


def poles_input() -> str | bytes:
    """What :func:`ptce_geo.perimeters.read_perimeters` reads the poles from, in another process:
    the poles file's path, or the bytes of the session's own poles."""
    mine = session_poles()
    return mine["data"] if mine is not None else str(poles_file())


def poles_source() -> str:
    """Where the poles are read from: the poles file's path, or ``upload:<digest>`` for the session's own."""
    mine = session_poles()
    return "upload:" + mine["digest"] if mine is not None else str(poles_file())


@st.cache_resource(show_spinner=False)
def _install_assets(prefix: str) -> dict[str, str]:
    return assets.install(STATIC_DIR, url_prefix=prefix)


def setup_assets() -> None:
    """Copy Leaflet and plugins to ``static/vendor`` and point folium there (once)."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    _install_assets(("/" + base if base else "") + "/app/static")


# ---------------------------------------------------------------- cached data
@st.cache_resource(show_spinner=False, max_entries=8)
def _catalogue(key: str) -> Catalogue:
    return load_catalogue()


def catalogue() -> Catalogue:
    """The catalogue named by ``PTCE_GEO_CATALOGUE`` (shared by all sessions)."""
    return _catalogue(data_key())


@st.cache_resource(show_spinner="Chargement des contours…", max_entries=64)
def _layer(key: str, layer_id: str, vintage: int) -> gpd.GeoDataFrame:
    return load_layer(layer_id, catalogue=_catalogue(key))


def layer(layer_id: str) -> gpd.GeoDataFrame:
    """A boundary layer (read-only, shared); a layer that failed is not tried again in this session."""
    cat = catalogue()
    return remembered(f"layer:{layer_id}", lambda: _layer(data_key(), layer_id, cat[layer_id].vintage))


def remembered(name: str, load: Callable[[], object]):
    """``load()``, unless it failed with missing data earlier in this session (then that error, at once).

    Without network, every page would otherwise wait for the same failure again; the
    failure is kept per session and per data settings (a new mirror is tried afresh).
    """
    failed = st.session_state.setdefault("ptce_failed_data", {})
    key = (data_key(), name)
    if key in failed:
        raise failed[key]
    try:
        return load()
    except DataUnavailable as exc:
        failed[key] = exc
        raise


@st.cache_resource(show_spinner=False, max_entries=64)
def _display_layer(key: str, layer_id: str, vintage: int, tolerance: float) -> gpd.GeoDataFrame:
    table = _layer(key, layer_id, vintage)
    coverage = _catalogue(key)[layer_id].kind == "partition"
    geoms = maps.display_geometries(table.geometry.to_numpy(), tolerance=tolerance, coverage=coverage)
    return gpd.GeoDataFrame(table[["code", "nom"]].copy(), geometry=geoms, crs="EPSG:4326")


def display_layer(layer_id: str, *, tolerance: float = 0.01) -> gpd.GeoDataFrame:
    """A simplified national copy of a layer, for drawing only."""
    cat = catalogue()
    return _display_layer(data_key(), layer_id, cat[layer_id].vintage, tolerance)


def add_departement_outlines(m) -> None:
    """The départements' outlines on ``m``, for finding one's way on a map of France."""
    maps.add_outlines(m, display_layer("departements", tolerance=0.01), name="Départements", colour="#444444",
                      weight=0.8, tolerance=0.01, label="Département")


@st.cache_resource(show_spinner="Lecture de vos pôles et calcul de leurs découpages…", max_entries=16)
def _session_card(dkey: str, digest_: str) -> tuple[int, list[str], Scorecard]:
    """A session's own poles, read and measured in a worker process (user data: see compute.py)."""
    return compute.slots().run(compute.score_poles, _upload_bytes(digest_), what="reading the poles list")


def session_card(digest_: str) -> tuple[int, list[str], Scorecard]:
    """``(n, report, card)`` of the poles file a session uploaded (registered under ``digest_``)."""
    return _session_card(data_key(), digest_)


@st.cache_resource(show_spinner="Lecture des pôles…", max_entries=16)
def _poles(dkey: str, pkey: str, path: str) -> gpd.GeoDataFrame:
    if path.startswith("upload:"):  # a session's own poles (CSV list or GeoJSON)
        return _session_card(dkey, path[len("upload:"):])[2].perimeters
    try:  # the perimeters the stored Scorecard was computed from (read once, kept on disk)
        return _scorecard(dkey, pkey, path).perimeters
    except DataUnavailable:  # some layer cannot be had: the poles file alone
        return read_perimeters(path, catalogue=_catalogue(dkey))


def poles_file() -> Path:
    """The poles file, or a French error saying how to provide it."""
    path = poles_path()
    if not path.is_file():
        raise InvalidPerimeter(
            f"Poles file {path} not found: set PTCE_GEO_POLES or add poles.geojson.",
            fr=f"Fichier des pôles introuvable ({path.name}) : ajoutez `poles.geojson` à la racine du "
            "dépôt ou indiquez son chemin dans la variable `PTCE_GEO_POLES`.")
    return path


def poles() -> gpd.GeoDataFrame:
    """The poles (perimeters) of the poles file, or of the session's own (read-only, shared)."""
    return remembered(f"poles:{poles_key()}", lambda: _poles(data_key(), poles_key(), poles_source()))


@st.cache_resource(show_spinner="Calcul des découpages de tous les pôles…", max_entries=8)
def _scorecard(dkey: str, pkey: str, path: str) -> Scorecard:
    if path.startswith("upload:"):  # computed in a worker with the session's poles
        return _session_card(dkey, path[len("upload:"):])[2]
    # every level, QPV and programmes: computed once (then kept on disk, see stored_scorecard) and
    # shared by every session of the process
    _after_first_view(path)
    return stored_scorecard(path, catalogue=_catalogue(dkey))


def _after_first_view(path: str, *, grace: float = 2.0) -> None:
    """Wait while another process stores the first view: it computes the full Scorecard next.

    A page other than the opening one, opened during a cold start's first seconds, then
    reads the full Scorecard that process stores instead of computing it too. ``grace``:
    how long to wait, once the first view is stored, for that process to take the full
    Scorecard's lock (it does at once); after that, the page computes it itself.
    """
    paths = _stored_paths(path)
    if paths is None:
        return
    full, first = paths
    if full.is_file() or not _busy(first):
        return
    while _busy(first):  # until the first view is stored (probed: never held here)
        time.sleep(0.05)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not (full.is_file() or _busy(full)):
        time.sleep(0.05)


def _stored_paths(path: str) -> tuple[Path, Path] | None:
    """(full Scorecard, first view): where the poles file's stored Scorecards are; None when
    they cannot be named (no poles file, no catalogue: the pages say it in French).

    Kept per poles file (path, size, time) and data settings: naming them reads and hashes
    the poles file, and the opening page asks on every run (and its watcher every second).
    """
    return _named_paths(_stamp(Path(path)), data_key(), path)


@functools.lru_cache(maxsize=64)
def _named_paths(stamp: str, dkey: str, path: str) -> tuple[Path, Path] | None:
    try:
        cat = catalogue()
        return (stored_scorecard_path(path, catalogue=cat),
                stored_scorecard_path(path, catalogue=cat, **serve.first_view(cat)))
    except (PtceGeoError, OSError):
        return None


_PROBE_LOCK = threading.Lock()


def _busy(path: Path) -> bool:
    """Whether a stored Scorecard's lock is held, probed by one session of this process at a time.

    A probe holds the lock for an instant: another session probing at that instant must not
    take it for a computation (and compute a first view for nothing).
    """
    with _PROBE_LOCK:
        return Cache().busy(path)


def scorecard_elsewhere() -> bool:
    """True when the poles' Scorecard (in area) is not stored yet and another process is computing it.

    That process (``serve``'s preparation, started at launch) holds the lock of the stored
    file, or of the first view it stores before (:func:`opening_scorecard`); :func:`scorecard`
    will wait for it, then read its result. Meanwhile a page can prepare what it needs
    besides (the layers the other process has already written).
    """
    path = poles_source()
    paths = None if path.startswith("upload:") else _stored_paths(path)
    if paths is None:
        return False
    full, first = paths
    return not full.is_file() and (_busy(full) or _busy(first))


def scorecard_stored() -> bool:
    """True when the poles' full Scorecard (in area) can be read without computing."""
    path = poles_source()
    if path.startswith("upload:"):
        return True
    paths = _stored_paths(path)
    return paths is not None and paths[0].is_file()


@st.cache_resource(show_spinner="Calcul des découpages principaux de tous les pôles…", max_entries=4)
def _first_view(dkey: str, pkey: str, path: str) -> Scorecard:
    cat = _catalogue(dkey)
    return stored_scorecard(path, catalogue=cat, **serve.first_view(cat))


def opening_scorecard(weight: str = "area") -> tuple[Scorecard, bool]:
    """``(card, complete)``: the Scorecard the opening page draws, and whether it has every level.

    On a cold start under ``serve``, while its preparation process computes the full
    Scorecard, this is the first view it stored before (the main levels only: every figure
    it holds equals the full one's), so that the map comes some seconds sooner; the page
    then reruns when the full one is stored (:func:`scorecard_stored`). Otherwise, the full
    one (:func:`scorecard_for`).
    """
    if weight == "area" and scorecard_elsewhere() and _first_view_coming():
        return remembered(f"first:{poles_key()}", lambda: _first_view(data_key(), poles_key(), poles_source())), False
    return scorecard_for(weight), True


def _first_view_coming() -> bool:
    """True when the first view is stored or being stored: never computed here (when another
    session of this process computes the full Scorecard, the page waits for that one)."""
    paths = _stored_paths(poles_source())
    return paths is not None and (paths[1].is_file() or _busy(paths[1]))


def scorecard() -> Scorecard:
    """The Scorecard of every pole of the poles file, or of the session's own (read-only, shared)."""
    return remembered(f"scorecard:{poles_key()}", lambda: _scorecard(data_key(), poles_key(), poles_source()))


@st.cache_resource(show_spinner="Calcul des parts en population de tous les pôles…", max_entries=4)
def _scorecard_population(dkey: str, pkey: str, path: str) -> Scorecard:
    if path.startswith("upload:"):  # a session's own poles: measured in a worker process, as in area
        return compute.slots().run(compute.score_poles, _upload_bytes(path[len("upload:"):]),
                                   Options(weight="population"), what="reading the poles list")[2]
    return stored_scorecard(path, catalogue=_catalogue(dkey), options=Options(weight="population"))


def scorecard_for(weight: str = "area") -> Scorecard:
    """The poles' Scorecard with every share in ``weight`` (``"area"`` or ``"population"``)."""
    if weight == "population":
        return _scorecard_population(data_key(), poles_key(), poles_source())
    return scorecard()


@st.cache_resource(show_spinner=False, max_entries=4)
def _poles_display(dkey: str, pkey: str, path: str, _card: Scorecard | None) -> gpd.GeoDataFrame:
    card = _card if _card is not None else _scorecard(dkey, pkey, path)
    p = card.perimeters
    summary = card.summary.set_index("pole_id")
    typ = summary["typology"]
    out = gpd.GeoDataFrame({"id": p["id"].to_numpy(), "nom": p["nom"].to_numpy()}, geometry=p.geometry.to_numpy(),
                           crs="EPSG:4326")
    out["typology"] = typ.reindex(out["id"]).to_numpy()
    out["confidence"] = summary["confidence"].reindex(out["id"]).to_numpy() if "confidence" in summary else None
    out["properties"] = p["properties"].to_numpy()
    out = with_popups(out)
    out = out.set_geometry(maps.display_geometries(out.geometry.to_numpy(), tolerance=0.002))
    return out


def poles_display(card: Scorecard | None = None) -> gpd.GeoDataFrame:
    """Poles for drawing: simplified, with typology, confidence, escaped tooltip and popup HTML.

    From ``card`` when given (the opening page's first view: same perimeters and typology as
    the full Scorecard), else from the poles' Scorecard.
    """
    return _poles_display(data_key(), poles_key(), poles_source(), card)


@st.cache_resource(show_spinner=False, max_entries=8)
def _seats(dkey: str, pkey: str, path: str, _card: Scorecard | None) -> gpd.GeoDataFrame:
    perimeters = _card.perimeters if _card is not None else _poles(dkey, pkey, path)
    points = seat_points(perimeters, catalogue=_catalogue(dkey))
    return points[points["siege_source"] == "commune"].reset_index(drop=True)  # known seats only


def seats(card: Scorecard | None = None) -> gpd.GeoDataFrame:
    """A point per pole at its seat commune, when the poles file gives it (read-only, shared);
    from ``card``'s perimeters when given (see :func:`poles_display`)."""
    return _seats(data_key(), poles_key(), poles_source(), card)


@st.cache_resource(show_spinner=False, max_entries=4)
def _raw_poles(key: str, path: str) -> gpd.GeoDataFrame:
    if path.startswith("upload:"):
        from ptce_geo.perimeters import parse_json

        out = raw_pole_geometries(parse_json(_upload_bytes(path[len("upload:"):])))
        out["typology"] = None
        return with_popups(out)
    out = raw_pole_geometries(path)
    out["typology"] = None
    return with_popups(out)


def raw_poles() -> gpd.GeoDataFrame:
    """Poles as drawn in the poles file (no boundary data needed; typology unknown)."""
    mine = session_poles()
    if mine is not None:  # the session's own file: its drawn geometries, if it has any (a CSV has none)
        try:
            return _raw_poles("upload:" + mine["digest"], "upload:" + mine["digest"])
        except PtceGeoError:
            return raw_pole_geometries({"type": "FeatureCollection", "features": []}).assign(typology=None)
    return _raw_poles(_stamp(poles_path()), str(poles_file()))


def with_popups(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add ``tooltip_html`` and ``popup_html`` to poles (``id``, ``nom``, ``typology``, ``properties``)."""
    esc = maps.esc
    tips, pops = [], []
    for nom, typ, props in zip(g["nom"], g["typology"], g["properties"]):
        d = pole_details(props)
        label = maps.TYPOLOGY_LABELS.get(typ, "typologie non calculée")
        tips.append(f"<b>{esc(nom)}</b><br>{esc(label)}")
        rows = [f"<b>{esc(nom)}</b>", f"Typologie : {esc(label)}"]
        if d["structure_porteuse"]:
            rows.append(f"Structure porteuse : {esc(d['structure_porteuse'])}")
        if d["filieres"]:
            rows.append(f"Filières : {esc(', '.join(d['filieres'][:6]))}")
        rows.append("<i>La fiche du pôle s'affiche à côté de la carte.</i>")
        pops.append('<div class="ptce-popup">' + "<br>".join(rows) + "</div>")
    g = g.copy()
    g["tooltip_html"] = tips
    g["popup_html"] = pops
    return g


def data_attribution(layer_ids: list[str], *, limit: int = 160) -> str:
    """A short credit line for the layers drawn (the full wording is on the Sources page)."""
    try:
        cat = catalogue()
    except PtceGeoError:
        return ""
    parts: list[str] = []
    for lid in layer_ids:
        if lid not in cat.layers:
            continue
        for piece in cat[lid].attribution.replace("©", "").split(";")[:2]:
            piece = " ".join(piece.split()).strip(" ,")
            if piece and piece not in parts:
                parts.append(piece)
    text = " ; ".join(parts)
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return ("Contours : " + text + " (voir la page Sources)") if text else ""


# ---------------------------------------------------------------- guard and display
def show_error(exc: PtceGeoError) -> None:
    """A library error in French, with the way out when boundary data is missing.

    The message may hold names from a user's file (zip members, fields, codes): it is
    escaped so that Markdown never turns them into links, images or HTML.
    """
    text = escape_markdown(exc.fr)
    if isinstance(exc, DataUnavailable):
        st.error("Les contours administratifs n'ont pas pu être chargés : " + text)
        st.info(MIRROR_HELP)
    elif isinstance(exc, CatalogueError):
        st.error("Le catalogue des couches est inutilisable : " + text)
        st.info(MIRROR_HELP)
    else:
        st.error(text)


def run_page(page: Callable[[], None]) -> None:
    """Run a page; show any failure in French, never a traceback."""
    try:
        page()
    except PtceGeoError as exc:
        show_error(exc)
    except Exception:  # a bug: logged on the server, a short French message in the page
        logger.exception("page failed")
        st.error("Une erreur interne est survenue sur cette page. Elle a été consignée dans le journal du "
                 "serveur ; les autres pages restent utilisables.")
    compute.page_served()  # the first visitor's first page: the workers start a moment later


def tiles() -> maps.TileConfig | None:
    """Base tiles from ``PTCE_GEO_TILES`` (none by default)."""
    return maps.tiles_from_env()


def show_map(m, *, key: str, spec: tuple | None = None, returned: list[str] | None = None, on_change=None,
             height: int = MAP_HEIGHT):
    """Render a folium map with streamlit-folium, returning only ``returned`` objects.

    ``m`` is a finished folium map, or a function building it. With ``spec`` (a hashable
    description of everything the map shows), the map is built and rendered once per
    process and shared by every session (see ``mapview``); the data keys, the poles and
    the base tiles are added to ``spec`` here.
    """
    build = m if callable(m) else (lambda: m)
    returned = tuple(returned or ())
    if spec is None:
        prepared = mapview.prepare(build(), height=height, returned=list(returned))
    else:
        full = (data_key(), poles_key(), poles_source(), repr(tiles()), st.get_option("server.baseUrlPath"), *spec)
        prepared = _prepared_map(full, height, returned, build)
    return mapview.show(prepared, key=key, on_change=on_change)


@st.cache_resource(show_spinner=False, max_entries=256)
def _prepared_map(spec: tuple, height: int, returned: tuple[str, ...], _build) -> mapview.PreparedMap:
    return mapview.prepare(_build(), height=height, returned=list(returned))


def digest(data: bytes) -> str:
    """Short content hash (cache keys of uploads)."""
    return hashlib.sha256(data).hexdigest()[:20]


def env_summary() -> dict[str, str]:
    """Where the app reads its data from (for the sidebar and the Sources page)."""
    return {"catalogue": str(catalogue_path()), "miroir": str(mirror_base() or "(aucun)"),
            "cache": str(cache_dir()), "poles": str(poles_path()),
            "fond": os.environ.get("PTCE_GEO_TILES", "") or "(aucun)"}


def sidebar_status() -> None:
    """Where the data comes from, in a few words (never fails)."""
    try:
        cat = catalogue()
    except PtceGeoError as exc:
        st.warning(escape_markdown(exc.fr))
        return
    spec = cat.layers.get("communes")
    vintage = f", millésime {spec.vintage}" if spec is not None else ""
    where = "lus depuis une copie locale" if mirror_base() else "téléchargés des sites officiels"
    st.caption(f"Contours officiels (IGN, Insee, ANCT){vintage}, {where} : voir la page « Sources ».")
    mine = session_poles()
    if mine is not None:
        st.caption(f"Pôles : vos {mine['n']} pôles importés (page « Mes pôles »), pour cette session.")
    elif not poles_path().is_file():
        st.warning("Fichier des pôles introuvable : définissez PTCE_GEO_POLES.")
