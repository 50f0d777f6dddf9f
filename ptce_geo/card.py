"""La fiche pôle: one pole on one or two A4 pages, as PDF or as standalone HTML.

A card says who the pole is (name, structure porteuse, seat, filières, year,
description, confidence and perimeter note), shows its perimeter on a static map with
the départements and EPCI around it and a few place names, and gives its scorecard:
each level in a row (units, dominant unit and its share, effective number, border
crossed), the typology, the départements and régions, the zones d'emploi, the priority
districts (QPV) and the contract programmes it sits in, then the pole's sources with
their addresses, the vintage, licence and required attribution of every layer read,
and the date it was produced.

Every figure is read from one :class:`~ptce_geo.scorecard.Scorecard`; nothing is
computed here but the drawing. Everything is made offline: the map with matplotlib
(Agg), the PDF with ReportLab and the DejaVu fonts that matplotlib ships (embedded in
the PDF), the HTML with the map inlined as a PNG. French typography: no-break spaces
before « : ; ! ? % » and inside guillemets, decimal commas, narrow no-break spaces
between thousands, typographic apostrophes. Every string from data is escaped for the
format it goes to (XML for the PDF's paragraphs, HTML for the page) and never parsed as
mathematics by matplotlib.

Examples
--------
>>> card = Scorecard(read_perimeters("poles.geojson"))                  # doctest: +SKIP
>>> pdf = pole_card(card, "ptce05")                                     # bytes of the PDF
>>> write_card(card, "ptce05", "ptce05_fiche.pdf")                      # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import numpy as np
import pandas as pd
import shapely

from .errors import InvalidInput
from .fmt import LEVEL_LABELS, TYPOLOGY_LABELS, fr_number, fr_pct
from .palette import TYPOLOGY_COLOURS, UNKNOWN_COLOUR
from .poles import pole_details
from .scorecard import Scorecard

logger = logging.getLogger(__name__)

__all__ = ["CARD_FORMATS", "CardContent", "card_content", "pole_card", "card_filename", "write_card",
           "write_cards", "render_map", "typo"]

CARD_FORMATS = ("pdf", "html")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")
NBSP, NNBSP = "\u00a0", "\u202f"
#: successive limits tried until the card fits on two pages: (items per list, characters of text)
_LIMITS = ((14, 1600), (10, 1600), (8, 1200), (6, 1000), (4, 800), (3, 600), (2, 400))
_MPL_LOCK = threading.Lock()
#: height of the card's map (its width is 180 mm, the text width of an A4 page)
MAP_HEIGHT_MM = 84  # pyplot-free figures, but font caches of matplotlib are shared


# ---------------------------------------------------------------- French typography
def typo(text: object) -> str:
    """French typography on a text: no-break spaces before « : ; ! ? % » and inside
    guillemets, typographic apostrophes. Web addresses are left alone."""
    s = "" if text is None else str(text)
    if not s:
        return s
    parts = re.split(r"(https?://\S+)", s)
    for i in range(0, len(parts), 2):
        p = parts[i]
        p = re.sub(r"[ \t]+([:])", NBSP + r"\1", p)
        p = re.sub(r"[ \t]+([;!?])", NNBSP + r"\1", p)
        p = re.sub(r"[ \t]+%", NBSP + "%", p)
        p = re.sub(r"«[ \t]*", "«" + NBSP, p)
        p = re.sub(r"[ \t]*»", NBSP + "»", p)
        p = re.sub(r"(?<=\w)'(?=\w)", "\u2019", p)
        parts[i] = p
    return "".join(parts)


def _fr_date(d: date) -> str:
    return f"{d.day}{'er' if d.day == 1 else ''} {_MONTHS[d.month - 1]} {d.year}"


def _clip(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "\u2026"


def _list_text(items: Sequence[str], limit: int, *, noun: str = "autres") -> str:
    """« a, b, c et 4 autres » (never « et 1 autres »: then the last one is named)."""
    items = [i for i in items if i]
    if len(items) <= limit + 1:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" et {len(items) - limit}{NBSP}{noun}"


# ---------------------------------------------------------------- content
@dataclass
class Section:
    """A titled block of a card: paragraphs, then bullet items ``(text, url)``."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)
    small: bool = False


@dataclass
class CardContent:
    """Everything a card shows, as French text (not escaped yet); both renderers read it."""

    pole_id: str
    title: str
    subtitle: str
    typology: str | None
    colour: str
    facts: list[tuple[str, str]]
    description: str
    levels_header: list[str]
    levels_rows: list[list[str]]
    levels_note: str
    sections: list[Section]
    produced: str
    footer: str
    map_png: bytes | None
    map_caption: str


def _pole_row(card: Scorecard, pole_id: str) -> tuple[pd.Series, dict]:
    perims = card.perimeters
    hit = np.flatnonzero(perims["id"].to_numpy() == pole_id)
    if not len(hit):
        ids = list(perims["id"])
        raise InvalidInput(f"no pole {pole_id!r} in the poles file: use one of {', '.join(map(str, ids[:10]))}"
                           f"{'…' if len(ids) > 10 else ''}.", fr=f"Aucun pôle « {pole_id} » dans le fichier des pôles.")
    row = perims.iloc[int(hit[0])]
    props = row["properties"] if "properties" in perims else {}
    return row, props if isinstance(props, dict) else {}


def _kept_pieces(card: Scorecard, level: str, pole_id: str) -> pd.DataFrame:
    if level not in card.levels:
        return pd.DataFrame(columns=["unit_code", "unit_name", "share_of_pole"])
    s = card.shares(level)
    s = s[(s["pole_id"] == pole_id) & s["kept"]]
    return pd.DataFrame(s[["unit_code", "unit_name", "share_of_pole", "share_of_unit"]]).sort_values(
        ["share_of_pole", "unit_name"], ascending=[False, True])


def _named_shares(rows: pd.DataFrame, limit: int) -> str:
    items = [f"{n} ({fr_pct(s)})" for n, s in zip(rows["unit_name"], rows["share_of_pole"])]
    return _list_text(items, limit)


def _programme_lines(card: Scorecard, pole_id: str, limit: int, today: date) -> tuple[list[str], list[str]]:
    """Contract programmes of a pole: lines in force, historical lines."""
    programmes = None
    try:
        programmes = getattr(card, "programmes", None)  # issue 11: one summary across zones layers
    except Exception as exc:  # noqa: BLE001 - fall back on the overlaps below
        logger.warning("programme summary unavailable (%s): the card lists the overlaps", exc)
    if isinstance(programmes, pd.DataFrame) and "programmes" in programmes and len(programmes):
        row = programmes[programmes["pole_id"] == pole_id]
        if len(row):
            current = str(row["programmes"].iloc[0] or "")
            current = "" if current.strip().lower() == "aucun" else current
            past = str(row["historique"].iloc[0] or "") if "historique" in row else ""
            return ([current] if current else []), ([past] if past else [])
    cat = card.catalogue
    current, past = [], []
    t = card.options.threshold
    for lid in cat.ids(kind="zones"):
        if lid == "qpv":
            continue
        spec = cat[lid]
        try:
            pieces = card.zones(lid).pieces
        except Exception as exc:  # noqa: BLE001 - one unreadable layer does not spoil the card
            logger.warning("zones layer %s left out of the card: %s", lid, exc)
            continue
        mine = pieces[pieces["pole_id"] == pole_id]
        points = mine[mine["zone_type"] == "point"]
        polys = mine[(mine["zone_type"] != "point")
                     & ((mine["share_of_pole"] >= t) | (mine["relation"] == "zone_inside_pole"))]
        polys = polys.sort_values("share_of_pole", ascending=False)
        if not len(points) and not len(polys):
            continue
        parts = []
        if len(polys):
            parts.append(_list_text([f"{n} ({fr_pct(s)} du pôle)" for n, s in
                                     zip(polys["zone_name"], polys["share_of_pole"])], limit))
        if len(points):
            parts.append(f"{len(points)}{NBSP}site{'s' if len(points) > 1 else ''} : "
                         + _list_text(list(points["zone_name"].astype(str)), limit))
        line = f"{spec.title} : " + " ; ".join(parts)
        historical, period = _history(spec, today)
        (past if historical else current).append(line + (f" (période {period})" if historical and period
                                                          and period not in spec.title else ""))
    return current, past


def _history(spec, today: date) -> tuple[bool, str]:
    """Whether a layer is an expired generation, and its period.

    The catalogue's own status when it gives one (``status = "historique"``, ``period``);
    otherwise a period « AAAA-AAAA » in the layer's title that ended before ``today``
    (« Contrats de ville 2015-2020 »).
    """
    if getattr(spec, "status", None):
        return bool(getattr(spec, "historical", False)), str(getattr(spec, "period", "") or "")
    m = re.search(r"(\d{4})\s*[-–]\s*(\d{4})", spec.title)
    if m and int(m.group(2)) < today.year:
        return True, f"{m.group(1)}-{m.group(2)}"
    return False, ""


def _data_section(card: Scorecard, layer_ids: Sequence[str], today: date) -> Section:
    """Every layer read: title, vintage, status and licence; then each required mention once."""
    items, mentions = [], []
    for lid in layer_ids:
        if lid not in card.catalogue.layers:
            continue
        spec = card.catalogue[lid]
        loc = spec.source.location if spec.source else ""
        url = spec.url_info or (loc if loc.startswith(("http://", "https://")) else "")
        historical, period = _history(spec, today)
        status = (", historique" + (f" ({period})" if period and period not in spec.title else "")) \
            if historical else ""
        items.append(f"{spec.title} (millésime {spec.vintage}{status} ; licence {spec.licence}"
                     + (f" ; {url})" if url else ")"))
        for part in re.split(r"\s;\s", spec.attribution):
            part = part.strip().rstrip(".")
            key = part.lower().replace("source : ", "")
            if part and key not in {m.lower().replace("source : ", "") for m in mentions}:
                mentions.append(part)
    sec = Section("Données : millésimes, licences et mentions obligatoires", small=True)
    if items:
        sec.paragraphs.append("Couches lues : " + " ; ".join(items) + ".")
    if mentions:
        sec.paragraphs.append("Mentions obligatoires : " + " ; ".join(mentions) + ".")
    return sec


def card_content(card: Scorecard, pole_id: str, *, when: date | None = None, limit: int = 14,
                 text_limit: int = 1600, with_map: bool = True) -> CardContent:
    """The content of a pole's card, read from the Scorecard.

    Parameters
    ----------
    card : Scorecard
    pole_id : str
    when : datetime.date, optional
        The date printed (default: today).
    limit : int
        Items shown per list (EPCI, zones, sources…); the rest is counted.
    text_limit : int
        Characters of the description and of the perimeter note.
    with_map : bool
        Draw the map (matplotlib).
    """
    from . import __version__

    row, props = _pole_row(card, pole_id)
    d = pole_details(props)
    s = card.summary.set_index("pole_id").loc[pole_id]
    name = str(row.get("nom") or d["nom"] or pole_id)
    typ = s.get("typology") if "typology" in s else None
    typ = typ if isinstance(typ, str) else None
    typ_label = TYPOLOGY_LABELS.get(typ, "non calculée") if typ else "non calculée"
    when = when or date.today()
    facts: list[tuple[str, str]] = [("Typologie", typ_label)]
    if "area_km2" in s and _finite(s["area_km2"]):
        facts.append(("Surface", f"{fr_number(s['area_km2'])}{NBSP}km²"))
    if "population" in s and _finite(s["population"]):
        facts.append(("Population", f"{fr_number(s['population'], 0)}{NBSP}habitants"))
    seat = d["siege_nom"] + (f" ({d['siege_insee']})" if d["siege_insee"] else "") if d["siege_nom"] else d["siege_insee"]
    for label, value in (("Structure porteuse", d["structure_porteuse"]), ("Siège", seat),
                         ("Filières", ", ".join(d["filieres"])), ("Création", d["annee"]),
                         ("Type de pôle", str(s["type_pole"]) if "type_pole" in s and isinstance(s["type_pole"], str)
                          else ""),
                         ("Confiance (périmètre)", d["confiance"]),
                         ("Note sur le périmètre", _clip(d["note_perimetre"], text_limit))):
        if value:
            facts.append((label, value))

    # the scorecard, levels in rows
    header = ["Échelon", "Unités comptées", "Unité dominante", "Part du pôle", "Nombre effectif",
              "Frontières traversées"]
    rows = []
    levels = card.pole_levels(pole_id)
    empty = [_level_label(lid) for lid, n in zip(levels["layer"], levels["n_units"]) if not n]
    for _, r in levels[levels["n_units"] > 0].iterrows():
        rows.append([_level_label(r["layer"]), fr_number(r["n_units"], 0),
                     str(r["dominant_name"] or "—"), fr_pct(r["dominant_share"]), fr_number(r["effective_units"], 2),
                     f"{fr_number(r['border_km'])}{NBSP}km"])
    t = card.options.threshold
    slivers = int(levels["n_slivers"].sum()) if len(levels) else 0
    weight = "en population" if card.options.weight == "population" else "en surface"
    note = (f"Unités comptées : celles qui portent au moins {fr_pct(t, 0)} du pôle ou s'y trouvent entièrement "
            f"({_slivers_text(slivers)}) ; parts {weight}. Nombre effectif : 1 quand une unité domine, "
            "n quand n unités se partagent le pôle à parts égales. Frontières traversées : longueur des limites "
            "entre unités à l'intérieur du pôle."
            + (f" Aucune unité touchée : {', '.join(empty)}." if empty else ""))
    if typ:
        note = f"Typologie « {typ_label} » : " + _typology_reason(typ, s) + " " + note

    sections: list[Section] = []
    if d["description"]:
        sections.append(Section("Présentation", [_clip(d["description"], text_limit)]))
    geo = Section("Territoire")
    for level, label in (("regions", "Régions"), ("departements", "Départements"), ("epci", "Intercommunalités (EPCI)")):
        kept = _kept_pieces(card, level, pole_id)
        if len(kept):  # régions and départements are never cut short
            geo.paragraphs.append(f"{label} ({len(kept)}) : {_named_shares(kept, limit if level == 'epci' else 200)}.")
    if geo.paragraphs:
        geo.paragraphs.append("Entre parenthèses : la part du pôle dans chaque unité.")
        sections.append(geo)
    ze = Section("Zones d'emploi")
    kept = _kept_pieces(card, "zones_emploi", pole_id)
    if len(kept):
        ze.paragraphs.append(f"Le pôle s'étend sur {len(kept)}{NBSP}zone{'s' if len(kept) > 1 else ''} "
                             f"d'emploi : {_named_shares(kept, limit)}.")
    if "best_ze_name" in s and isinstance(s["best_ze_name"], str):
        ze.paragraphs.append(f"La zone d'emploi qui épouse le mieux le périmètre est {s['best_ze_name']} "
                             f"({s['best_ze_code']}) : recouvrement (IoU) de {fr_number(s['best_ze_iou'], 2)} "
                             "(1 quand les contours coïncident).")
    if ze.paragraphs:
        sections.append(ze)
    qpv_layers = []
    if "qpv_count" in s and card.qpv is not None:
        spec = card.catalogue["qpv"]
        qpv_layers.append("qpv")
        n, inside = int(s["qpv_count"]), int(s["qpv_inside"])
        historical, period = _history(spec, when)
        q = Section(f"Quartiers prioritaires (QPV, millésime {spec.vintage})")
        if n:
            q.paragraphs.append(f"{n}{NBSP}QPV touché{'s' if n > 1 else ''}, dont {inside} entièrement "
                                f"inclus ; ils couvrent {fr_pct(s['qpv_area_share'], 2)} "
                                "de la surface du pôle.")
            dist = card.qpv.districts
            mine = dist[dist["pole_id"] == pole_id].sort_values("qpv_name")
            if len(mine):
                q.paragraphs.append(_list_text([f"{nm} ({c})" for nm, c in zip(mine["qpv_name"], mine["qpv_code"])],
                                               limit) + ".")
        else:
            q.paragraphs.append("Aucun quartier prioritaire dans le périmètre.")
        if historical:
            notice = str(getattr(spec, "notice", "") or "liste remplacée depuis").strip()
            q.paragraphs.append(f"Couche historique{f' ({period})' if period else ''} : " + notice[:1].upper()
                                + notice[1:] + ("" if notice.endswith(".") else "."))
        sections.append(q)
    current, past = _programme_lines(card, pole_id, limit, when)
    prog = Section("Programmes contractuels")
    prog.items = [(line, "") for line in current]
    if past:
        prog.items += [("Historique (programme échu, ce n'est plus la situation actuelle) : " + line, "")
                       for line in past]
    if not prog.items:
        prog.paragraphs.append("Aucun programme contractuel du catalogue ne recouvre le pôle.")
    else:
        prog.paragraphs.append("Programmes dont une zone recouvre réellement le pôle ; entre parenthèses, la part du "
                               "pôle dans la zone.")
    sections.append(prog)
    src = Section("Sources sur le pôle")
    for item in d["sources"][: max(limit, 3)]:
        label = item["label"] if item["label"] != item["url"] else item["url"]
        src.items.append((label + (f" (consulté le {item['date']})" if item["date"] else ""), item["url"]))
    if len(d["sources"]) > max(limit, 3):
        src.paragraphs.append(f"Et {len(d['sources']) - max(limit, 3)} autres sources dans le fichier des pôles.")
    if src.items or src.paragraphs:
        sections.append(src)
    used = list(card.levels) + qpv_layers + [lid for lid in card.catalogue.ids(kind="zones") if lid != "qpv"]
    sections.append(_data_section(card, used, when))

    produced = _fr_date(when)
    footer = (f"Fiche produite le {produced} avec ptce_geo {__version__} — seuil des fragments "
              f"{fr_pct(t, 0)}, parts {weight}, catalogue « {card.catalogue.name} »")
    png = render_map(card, pole_id) if with_map else None
    caption = ("Périmètre du pôle (couleur de sa typologie), limites des départements (trait épais) et des EPCI "
               "(trait fin), siège et principales communes ; en gris, la mer ou l'étranger. Nord en haut. Tracés "
               "simplifiés pour l'affichage. "
               "Contours : " + "; ".join(dict.fromkeys(card.catalogue[lid].attribution.split(" ; ")[0]
                                                          for lid in ("communes",) if lid in card.catalogue.layers)))
    return CardContent(
        pole_id=str(pole_id), title=name,
        subtitle=f"Pôle territorial de coopération économique — fiche du pôle « {pole_id} »",
        typology=typ, colour=TYPOLOGY_COLOURS.get(typ, UNKNOWN_COLOUR) if typ else UNKNOWN_COLOUR,
        facts=facts, description=d["description"], levels_header=header, levels_rows=rows, levels_note=note,
        sections=sections, produced=produced, footer=footer, map_png=png, map_caption=caption)


def _level_label(lid: str) -> str:
    """A level's French name for the card's table (without the zoning's year)."""
    return re.sub(r"\s+\d{4}$", "", LEVEL_LABELS.get(lid, str(lid)))


def _slivers_text(n: int) -> str:
    if n == 0:
        return "aucun fragment plus petit écarté"
    return f"{n}{NBSP}fragment{'s' if n > 1 else ''} plus petit{'s' if n > 1 else ''} écarté{'s' if n > 1 else ''}"


def _typology_reason(typ: str, s: pd.Series) -> str:
    n = {lid: int(s[f"n_{lid}"]) for lid in ("communes", "epci", "departements", "regions") if f"n_{lid}" in s}
    text = {
        "commune": "le périmètre tient dans une seule commune.",
        "intra-EPCI": f"le périmètre tient dans un seul EPCI ({n.get('communes', 0)} communes).",
        "inter-EPCI": f"le périmètre touche {n.get('epci', 0)} EPCI d'un même département.",
        "inter-départemental": f"le périmètre touche {n.get('departements', 0)} départements d'une même région.",
        "inter-régional": f"le périmètre touche {n.get('regions', 0)} régions.",
    }
    return text.get(typ, "")


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- the map
def _projector(lon0: float, lat0: float):
    """Lon/lat → km on an equirectangular plane centred on the pole (shapes true near it)."""
    kx = 111.320 * math.cos(math.radians(lat0))
    ky = 110.574

    def project(geoms: np.ndarray) -> np.ndarray:
        return shapely.transform(geoms, lambda xy: np.column_stack(((xy[:, 0] - lon0) * kx, (xy[:, 1] - lat0) * ky)))

    return project, kx, ky


def render_map(card: Scorecard, pole_id: str, *, width_mm: float = 180, height_mm: float = MAP_HEIGHT_MM,
               dpi: int = 200) -> bytes:
    """The pole's perimeter on a static map (PNG): départements, EPCI, seat and main communes.

    Geometries are simplified for drawing only. Text from data is drawn as plain text
    (never read as mathematics).
    """
    from .layers import load_layer

    row, props = _pole_row(card, pole_id)
    geom = row.geometry
    if geom is None or geom.is_empty:
        return b""
    s = card.summary.set_index("pole_id").loc[pole_id]
    typ = s.get("typology") if "typology" in s else None
    colour = TYPOLOGY_COLOURS.get(typ, UNKNOWN_COLOUR) if isinstance(typ, str) else UNKNOWN_COLOUR
    minx, miny, maxx, maxy = geom.bounds
    lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
    project, kx, ky = _projector(lon0, lat0)
    pg = project(np.array([geom], dtype=object))[0]
    bx0, by0, bx1, by1 = pg.bounds
    w, h = max(bx1 - bx0, 2.0), max(by1 - by0, 2.0)
    aspect = width_mm / height_mm
    pad = 0.08
    w, h = w * (1 + 2 * pad), h * (1 + 2 * pad)
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    view = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    lon_view = (lon0 + view[0] / kx, lat0 + view[1] / ky, lon0 + view[2] / kx, lat0 + view[3] / ky)
    tol = w / 1500
    cat = card.catalogue

    def layer_in_view(lid: str):
        if lid not in cat.layers:
            return None
        try:
            layer = load_layer(lid, catalogue=cat, shared=True)
        except Exception as exc:  # noqa: BLE001 - a context layer missing leaves the map poorer, not broken
            logger.warning("map of %s: layer %s left out (%s)", pole_id, lid, exc)
            return None
        idx = layer.sindex.query(shapely.box(*lon_view))
        sub = layer.iloc[np.sort(idx)]
        geoms = project(sub.geometry.to_numpy())
        geoms = shapely.simplify(geoms, tol, preserve_topology=True)
        return sub, geoms

    with _MPL_LOCK:
        from matplotlib.figure import Figure
        from matplotlib import patheffects
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MplPath

        fig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(view[0], view[2])
        ax.set_ylim(view[1], view[3])
        ax.set_aspect("equal")
        ax.set_axis_off()
        fig.patch.set_facecolor("#E4E4E4")  # outside every département: sea or abroad, in neutral grey
        halo = [patheffects.withStroke(linewidth=2.4, foreground="white")]

        def draw(geoms, **kw):
            for g in geoms:
                if g is None or g.is_empty:
                    continue
                for poly in getattr(g, "geoms", [g]):
                    if poly.geom_type != "Polygon":
                        continue
                    verts, codes = [], []
                    for ring in (poly.exterior, *poly.interiors):
                        xy = np.asarray(ring.coords)
                        if len(xy) < 3:
                            continue
                        verts.append(xy)
                        codes.append(np.r_[MplPath.MOVETO, np.full(len(xy) - 2, MplPath.LINETO), MplPath.CLOSEPOLY])
                    if verts:
                        ax.add_patch(PathPatch(MplPath(np.concatenate(verts), np.concatenate(codes)), **kw))

        deps = layer_in_view("departements")
        communes_small = w < 90
        if deps is not None:
            draw(deps[1], facecolor="#FBFBF8", edgecolor="none", zorder=1)
        if communes_small:
            com = layer_in_view("communes")
            if com is not None:
                draw(com[1], facecolor="none", edgecolor="#C9C9C9", linewidth=0.25, zorder=2)
        epci = layer_in_view("epci")
        if epci is not None:
            draw(epci[1], facecolor="none", edgecolor="#8C8C8C", linewidth=0.45, zorder=3)
        pole_draw = shapely.simplify(pg, tol / 2, preserve_topology=True)
        draw([pole_draw], facecolor=colour, alpha=0.42, edgecolor="none", zorder=4)
        draw([pole_draw], facecolor="none", edgecolor=_darker(colour), linewidth=1.3, zorder=6)
        seat_xy = _seat_xy(card, props, project)
        taken: list[tuple[float, float, float, float]] = []  # boxes of the names drawn
        if deps is not None:
            draw(deps[1], facecolor="none", edgecolor="#3C3C3C", linewidth=1.1, zorder=5)
            inner = shapely.box(view[0] + 0.1 * w, view[1] + 0.1 * h, view[2] - 0.1 * w, view[3] - 0.1 * h)
            for name, g in zip(deps[0]["nom"], deps[1]):  # names of the départements in view
                part = g.intersection(inner)
                if part.is_empty or part.area < 0.05 * w * h:
                    continue
                p = _label_point(part, pg)
                if seat_xy is not None and math.hypot(p.x - seat_xy[0], p.y - seat_xy[1]) < 0.15 * w:
                    continue
                fx = (p.x - view[0]) / w
                ha = "right" if fx > 0.7 else ("left" if fx < 0.3 else "center")
                length = len(str(name)) * 0.0074 * w * 6.5 / 6.8
                x0 = p.x - {"right": length, "left": 0, "center": length / 2}[ha]
                taken.append((x0, p.y - 0.022 * h, x0 + length, p.y + 0.022 * h))
                ax.text(p.x, p.y, str(name).upper(), fontsize=6.5, color="#6E6E6E", ha=ha, va="center",
                        style="italic", zorder=7, path_effects=halo, parse_math=False)
        _place_labels(ax, card, props, pg, view, project, lon_view, halo, taken)
        _scale_bar(ax, view)
        _inset(fig, card, lon0, lat0)
        frame = fig.add_axes((0, 0, 1, 1), facecolor="none")
        frame.set_xticks([])
        frame.set_yticks([])
        for spine in frame.spines.values():
            spine.set_edgecolor("#9A9A9A")
            spine.set_linewidth(1.2)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, facecolor=fig.get_facecolor())
        return buf.getvalue()


def _seat_xy(card: Scorecard, props: dict, project) -> tuple[float, float] | None:
    """The seat commune's point on the map plane, when the poles file names it."""
    from .layers import load_layer

    seat = pole_details(props)["siege_insee"]
    if not seat:
        return None
    try:
        communes = load_layer("communes", catalogue=card.catalogue, shared=True)
    except Exception:  # noqa: BLE001
        return None
    hit = communes.geometry.to_numpy()[communes["code"].to_numpy() == seat]
    if not len(hit):
        return None
    p = project(shapely.point_on_surface(hit[:1]))[0]
    return p.x, p.y


def _darker(hex_colour: str, factor: float = 0.62) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(int(h[i:i + 2], 16) * factor) for i in (0, 2, 4))
    return f"#{r:02X}{g:02X}{b:02X}"


def _label_point(part, pole) -> shapely.Point:
    """Where a département's name goes: inside its part of the view, away from the pole if it can."""
    outside = part.difference(pole.buffer(0))
    target = outside if (not outside.is_empty and outside.area > 0.4 * part.area) else part
    return target.point_on_surface()


def _place_labels(ax, card: Scorecard, props: dict, pole, view, project, lon_view, halo,
                  taken: list[tuple[float, float, float, float]]) -> None:
    """The seat (a dot and its name in bold), the most populous communes of the pole, then a few
    around it (grey, italic), each name where it overlaps no other, nor the inset or the scale."""
    from .layers import load_layer

    try:
        communes = load_layer("communes", catalogue=card.catalogue, shared=True)
    except Exception:  # noqa: BLE001 - labels are a convenience
        return
    idx = np.sort(communes.sindex.query(shapely.box(*lon_view)))
    sub = communes.iloc[idx]
    if not len(sub):
        return
    points = project(shapely.point_on_surface(sub.geometry.to_numpy()))
    inside = shapely.contains(pole, points)
    w, h = view[2] - view[0], view[3] - view[1]
    char = 0.0074 * w  # width of a character at 6.8 pt on a 180 mm map
    boxes: list[tuple[float, float, float, float]] = [  # kept free: the inset map of France, the scale bar
        (view[0] + 0.83 * w, view[1] + 0.57 * h, view[2], view[3]), (view[0], view[1], view[0] + 0.25 * w,
                                                                     view[1] + 0.12 * h), *taken]

    def free(box) -> bool:
        inside_view = box[0] >= view[0] + 0.01 * w and box[2] <= view[2] - 0.01 * w and \
            box[1] >= view[1] + 0.01 * h and box[3] <= view[3] - 0.01 * h
        return inside_view and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                                       for b in boxes)

    seat = pole_details(props)["siege_insee"]
    codes = sub["code"].to_numpy()
    names = sub["nom"].astype(str).to_numpy()
    if seat and seat in set(codes):
        i = int(np.flatnonzero(codes == seat)[0])
        x, y = points[i].x, points[i].y
        ax.plot([x], [y], marker="o", markersize=5.5, markerfacecolor="white", markeredgecolor="#222222",
                markeredgewidth=1.1, zorder=9)
        ax.text(x, y + h * 0.025, names[i], fontsize=8, fontweight="bold", ha="center",
                va="bottom", color="#111111", zorder=10, path_effects=halo, parse_math=False)
        half = len(names[i]) * char * 0.62
        boxes.append((x - half, y - 0.02 * h, x + half, y + 0.095 * h))
    if "population" not in sub:
        return
    pop = np.nan_to_num(sub["population"].to_numpy(dtype=float), nan=-1)
    order = np.argsort(-pop, kind="stable")
    for within, limit, colour, size in ((True, 7, "#222222", 6.8), (False, 5, "#6A6A6A", 6.2)):
        shown = 0
        for i in order:
            if bool(inside[i]) != within or codes[i] == seat:
                continue
            x, y = points[i].x, points[i].y
            length = len(names[i]) * char * size / 6.8
            for ha, box in (("left", (x - 0.004 * w, y - 0.022 * h, x + 0.008 * w + length, y + 0.022 * h)),
                            ("right", (x - 0.008 * w - length, y - 0.022 * h, x + 0.004 * w, y + 0.022 * h))):
                if free(box):
                    break
            else:
                continue
            ax.plot([x], [y], marker="o", markersize=2.6 if within else 2.0, color=colour, zorder=8)
            ax.text(x + (0.007 if ha == "left" else -0.007) * w, y, names[i], fontsize=size, ha=ha, va="center",
                    color=colour, zorder=10, path_effects=halo, parse_math=False, style="normal" if within else "italic")
            boxes.append(box)
            shown += 1
            if shown >= limit:
                break


def _scale_bar(ax, view) -> None:
    w = view[2] - view[0]
    target = w / 5
    step = 10 ** math.floor(math.log10(target))
    length = max(m * step for m in (1, 2, 5) if m * step <= target)
    x0 = view[0] + w * 0.03
    y0 = view[1] + (view[3] - view[1]) * 0.05
    ax.plot([x0, x0 + length], [y0, y0], color="#222222", linewidth=2.2, solid_capstyle="butt", zorder=11)
    label = f"{fr_number(length, 0 if length >= 1 else 1)}{NBSP}km"
    ax.text(x0 + length / 2, y0 + (view[3] - view[1]) * 0.018, label, fontsize=6.5, ha="center", va="bottom",
            zorder=11, color="#222222")


def _inset(fig, card: Scorecard, lon0: float, lat0: float) -> None:
    """Mainland France with the pole's place (mainland and Corsica only)."""
    if not (-5.5 < lon0 < 10 and 41 < lat0 < 51.5) or "regions" not in card.catalogue.layers:
        return
    from .layers import load_layer

    try:
        regions = load_layer("regions", catalogue=card.catalogue, shared=True)
    except Exception:  # noqa: BLE001
        return
    sel = regions[regions.geometry.bounds["minx"].to_numpy() > -6]
    sel = sel[sel.geometry.bounds["maxy"].to_numpy() > 41]
    project, _, _ = _projector(2.5, 46.5)
    geoms = shapely.simplify(project(sel.geometry.to_numpy()), 4.0, preserve_topology=True)
    inset = fig.add_axes((0.842, 0.595, 0.15, 0.39))
    inset.set_aspect("equal")
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_facecolor("#F4F6F8")
    for spine in inset.spines.values():
        spine.set_edgecolor("#888888")
        spine.set_linewidth(0.6)
    from matplotlib.patches import Polygon as MplPolygon

    for g in geoms:
        for poly in getattr(g, "geoms", [g]):
            if poly.geom_type == "Polygon" and not poly.is_empty:
                inset.add_patch(MplPolygon(np.asarray(poly.exterior.coords), closed=True, facecolor="#FFFFFF",
                                           edgecolor="#777777", linewidth=0.4))
    b = shapely.total_bounds(geoms)
    inset.set_xlim(b[0] - 20, b[2] + 20)
    inset.set_ylim(b[1] - 20, b[3] + 20)
    p = project(np.array([shapely.Point(lon0, lat0)], dtype=object))[0]
    inset.plot([p.x], [p.y], marker="o", markersize=5, markerfacecolor="#C00000", markeredgecolor="white",
               markeredgewidth=0.8)


# ---------------------------------------------------------------- PDF
_FONTS_READY = threading.Lock()
_PDF_LOCK = threading.Lock()
_FONT = "PtceSans"


def _register_fonts() -> None:
    """DejaVu Sans (shipped by matplotlib) as the PDF's embedded font family."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _FONTS_READY:
        if _FONT in pdfmetrics.getRegisteredFontNames():
            return
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        faces = {"": "DejaVuSans.ttf", "-Bold": "DejaVuSans-Bold.ttf", "-Italic": "DejaVuSans-Oblique.ttf",
                 "-BoldItalic": "DejaVuSans-BoldOblique.ttf"}
        for suffix, fname in faces.items():
            pdfmetrics.registerFont(TTFont(_FONT + suffix, str(folder / fname)))
        for bold, italic, suffix in ((0, 0, ""), (1, 0, "-Bold"), (0, 1, "-Italic"), (1, 1, "-BoldItalic")):
            addMapping(_FONT, bold, italic, _FONT + suffix)


def _x(text: object) -> str:
    """Text from data (or ours) for a ReportLab paragraph: French typography, XML-escaped."""
    return xml_escape(typo(text))


def _url_attr(url: str) -> str:
    return xml_escape(url, {'"': "&quot;"})


def _pdf(content: CardContent) -> tuple[bytes, int]:
    """The card as PDF bytes, and its number of pages."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import (Image, KeepTogether, ListFlowable, ListItem, Paragraph, SimpleDocTemplate,
                                    Spacer, Table, TableStyle)

    _register_fonts()
    base = ParagraphStyle("base", fontName=_FONT, fontSize=8.6, leading=11.2, alignment=TA_LEFT,
                          splitLongWords=1, wordWrap=None)
    small = ParagraphStyle("small", parent=base, fontSize=7.2, leading=9.2, textColor=colors.HexColor("#333333"))
    tiny = ParagraphStyle("tiny", parent=base, fontSize=6.6, leading=8.4, textColor=colors.HexColor("#555555"))
    title = ParagraphStyle("title", parent=base, fontName=_FONT + "-Bold", fontSize=17, leading=21,
                           textColor=colors.HexColor("#111111"))
    subtitle = ParagraphStyle("subtitle", parent=base, fontSize=8.4, textColor=colors.HexColor("#555555"))
    h2 = ParagraphStyle("h2", parent=base, fontName=_FONT + "-Bold", fontSize=10, leading=13, spaceBefore=6,
                        spaceAfter=2, textColor=colors.HexColor("#1F3A5F"))
    cell = ParagraphStyle("cell", parent=base, fontSize=7.6, leading=9.2)
    cell_b = ParagraphStyle("cellb", parent=cell, fontName=_FONT + "-Bold")
    label = ParagraphStyle("label", parent=cell, textColor=colors.HexColor("#444444"), fontName=_FONT + "-Bold")
    width = A4[0] - 30 * mm
    colour = colors.HexColor(content.colour)

    story: list = []
    badge = Table([[Paragraph(_x(content.title), title),
                    Paragraph(f'<font color="white"><b>{_x(TYPOLOGY_LABELS.get(content.typology, "Typologie non calculée") if content.typology else "Typologie non calculée")}</b></font>',
                              ParagraphStyle("badge", parent=cell, alignment=1))]],
                  colWidths=[width - 42 * mm, 42 * mm])
    badge.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("BACKGROUND", (1, 0), (1, 0), colour),
                               ("LEFTPADDING", (0, 0), (0, 0), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))
    story += [badge, Paragraph(_x(content.subtitle), subtitle), Spacer(1, 3 * mm)]
    facts = [[Paragraph(_x(k), label), Paragraph(_x(v), cell)] for k, v in content.facts]
    ft = Table(facts, colWidths=[44 * mm, width - 44 * mm])
    ft.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 1.2),
                            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2), ("LEFTPADDING", (0, 0), (0, -1), 0),
                            ("LINEBELOW", (0, 0), (-1, -2), 0.25, colors.HexColor("#DDDDDD"))]))
    story += [ft, Spacer(1, 2.5 * mm)]
    if content.map_png:
        img = Image(io.BytesIO(content.map_png), width=width, height=width * MAP_HEIGHT_MM / 180)
        story += [KeepTogether([img, Paragraph(_x(content.map_caption), tiny)]), Spacer(1, 1.5 * mm)]
    head = [Paragraph(_x(h), cell_b) for h in content.levels_header]
    body = [[Paragraph(_x(c), cell) for c in r] for r in content.levels_rows]
    widths = [44 * mm, 18 * mm, 0, 18 * mm, 18 * mm, 22 * mm]
    widths[2] = width - sum(widths)
    lt = Table([head] + body, colWidths=widths, repeatRows=1)
    lt.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BACKGROUND", (0, 0), (-1, 0),
                                                                  colors.HexColor("#E8EDF3")),
                            ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#CCCCCC")),
                            ("TOPPADDING", (0, 0), (-1, -1), 1.0), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.0)]))
    story += [KeepTogether([Paragraph("Le découpage du pôle, échelon par échelon", h2), lt, Spacer(1, 1 * mm),
                            Paragraph(_x(content.levels_note), small)])]
    for sec in content.sections:
        style = tiny if sec.small else base
        block = [Paragraph(_x(sec.title), h2)]
        block += [Paragraph(_x(p), style) for p in sec.paragraphs]
        if sec.items:
            items = []
            for text, url in sec.items:
                t = _x(text)
                if url:
                    shown = t if text != url else _x(url)
                    t = (f'<a href="{_url_attr(url)}" color="#1F4E8C">{shown}</a>'
                         + ("" if text == url else f' <font color="#1F4E8C" size="{style.fontSize - 0.6}">'
                            f"{_x(url)}</font>"))
                items.append(ListItem(Paragraph(t, style), leftIndent=9, value="•"))
            block.append(ListFlowable(items, bulletType="bullet", start="•", leftIndent=9, bulletFontName=_FONT,
                                      bulletFontSize=style.fontSize))
        story.append(KeepTogether(block[:2]) if len(block) > 1 else block[0])
        story += block[2:]

    def decorate(canvas, doc):
        canvas.saveState()
        canvas.setStrokeColor(colour)
        canvas.setLineWidth(2.2)
        canvas.line(15 * mm, A4[1] - 10 * mm, A4[0] - 15 * mm, A4[1] - 10 * mm)
        canvas.restoreState()

    footer_text = typo(content.footer)

    class NumberedCanvas(Canvas):
        """Draws « page n sur N » once the number of pages is known."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved: list[dict] = []

        def showPage(self):  # noqa: N802 - ReportLab's API
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self.setFont(_FONT, 6.8)
                self.setFillColor(colors.HexColor("#666666"))
                self.drawString(15 * mm, 9 * mm, footer_text)
                self.drawRightString(A4[0] - 15 * mm, 9 * mm, f"page {self._pageNumber} sur {total}")
                super().showPage()
            pages["n"] = total
            super().save()

    pages = {"n": 0}
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
                            bottomMargin=15 * mm, title=typo(content.title), author="ptce_geo",
                            subject="Fiche pôle PTCE", lang="fr-FR")
    with _PDF_LOCK:  # ReportLab keeps some process-wide state (fonts, caches): one document at a time
        doc.build(story, onFirstPage=decorate, onLaterPages=decorate, canvasmaker=NumberedCanvas)
    return buf.getvalue(), pages["n"]


# ---------------------------------------------------------------- HTML
_CSS = """
@page { size: A4; margin: 14mm 15mm; }
body { font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; font-size: 10pt; line-height: 1.4; color: #1a1a1a;
  max-width: 190mm; margin: 0 auto; padding: 8px 12px; }
header { border-top: 5px solid var(--c); padding-top: 6px; display: flex; justify-content: space-between;
  align-items: center; gap: 12px; }
h1 { font-size: 19pt; margin: 4px 0; }
.badge { background: var(--c); color: #fff; font-weight: bold; padding: 4px 10px; border-radius: 3px; white-space: nowrap; }
.subtitle { color: #555; margin: 0 0 10px; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { text-align: left; vertical-align: top; padding: 3px 6px; border-bottom: 1px solid #ddd; }
table.facts th { width: 28%; color: #444; }
table.levels thead th { background: #E8EDF3; }
td.num { text-align: right; white-space: nowrap; }
h2 { font-size: 11.5pt; color: #1F3A5F; margin: 14px 0 4px; }
figure { margin: 10px 0; } figure img { width: 100%; height: auto; border: 1px solid #ccc; }
figcaption, .small { font-size: 8pt; color: #555; }
ul { margin: 4px 0; padding-left: 18px; } a { color: #1F4E8C; overflow-wrap: anywhere; }
footer { margin-top: 16px; border-top: 1px solid #ccc; padding-top: 4px; font-size: 8pt; color: #666; }
"""


def _h(text: object) -> str:
    """Text from data (or ours) for HTML: French typography, HTML-escaped."""
    return html.escape(typo(text), quote=True)


def _html(content: CardContent) -> bytes:
    tlabel = TYPOLOGY_LABELS.get(content.typology, "Typologie non calculée") if content.typology \
        else "Typologie non calculée"
    out = ["<!DOCTYPE html>", '<html lang="fr">', "<head>", '<meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
           'style-src \'unsafe-inline\'">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_h(content.title)} — fiche pôle</title>", f"<style>{_CSS}</style>", "</head>",
           f'<body style="--c: {content.colour}">',
           f"<header><h1>{_h(content.title)}</h1><span class=\"badge\">{_h(tlabel)}</span></header>",
           f'<p class="subtitle">{_h(content.subtitle)}</p>', '<table class="facts">']
    out += [f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in content.facts]
    out.append("</table>")
    if content.map_png:
        data = base64.b64encode(content.map_png).decode("ascii")
        out.append(f'<figure><img alt="Carte du périmètre du pôle" src="data:image/png;base64,{data}">'
                   f"<figcaption>{_h(content.map_caption)}</figcaption></figure>")
    out.append("<h2>Le découpage du pôle, échelon par échelon</h2>")
    out.append('<table class="levels"><thead><tr>' + "".join(f"<th>{_h(c)}</th>" for c in content.levels_header)
               + "</tr></thead><tbody>")
    for r in content.levels_rows:
        num = ' class="num"'
        out.append("<tr>" + "".join(f"<td{num if i in (1, 3, 4, 5) else ''}>{_h(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>")
    out.append(f'</tbody></table><p class="small">{_h(content.levels_note)}</p>')
    for sec in content.sections:
        out.append(f"<section><h2>{_h(sec.title)}</h2>")
        cls = ' class="small"' if sec.small else ""
        out += [f"<p{cls}>{_h(p)}</p>" for p in sec.paragraphs]
        if sec.items:
            out.append(f"<ul{cls}>")
            for text, url in sec.items:
                if url:
                    link = f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">{_h(url)}</a>'
                    out.append(f"<li>{link}</li>" if text == url else f"<li>{_h(text)} — {link}</li>")
                else:
                    out.append(f"<li>{_h(text)}</li>")
            out.append("</ul>")
        out.append("</section>")
    out += [f"<footer>{_h(content.footer)}</footer>", "</body>", "</html>"]
    return ("\n".join(out) + "\n").encode("utf-8")


# ---------------------------------------------------------------- entry points
def _check_format(fmt: str) -> str:
    if fmt not in CARD_FORMATS:
        raise InvalidInput(f"Unknown card format {fmt!r}: use pdf or html.",
                           fr=f"Format de fiche inconnu « {fmt} » : pdf ou html.")
    return fmt


def pole_card(card: Scorecard, pole_id: str, *, fmt: str = "pdf", when: date | None = None) -> bytes:
    """The card of one pole (or any perimeter of the Scorecard) as PDF or HTML bytes.

    The PDF is A4, one or two pages: lists and long texts are shortened (and what is
    left out is counted) until it fits on two pages.

    Parameters
    ----------
    card : Scorecard
    pole_id : str
    fmt : {"pdf", "html"}
    when : datetime.date, optional
        The date printed (default: today).
    """
    _check_format(fmt)
    png = render_map(card, pole_id)
    data = b""
    for limit, text_limit in _LIMITS:
        content = card_content(card, pole_id, when=when, limit=limit, text_limit=text_limit, with_map=False)
        content.map_png = png
        if fmt == "html":
            return _html(content)
        data, pages = _pdf(content)
        if pages <= 2:
            return data
    logger.warning("card of %s: still more than two pages with the shortest lists", pole_id)
    return data


def card_filename(pole_id: str, fmt: str = "pdf") -> str:
    """``<pole id>_fiche.<fmt>`` (file-name-safe)."""
    from .export import safe_name

    return f"{safe_name(pole_id)}_fiche.{_check_format(fmt)}"


def write_card(card: Scorecard, pole_id: str, output: str | os.PathLike, *, fmt: str | None = None,
               when: date | None = None) -> Path:
    """Write one pole's card to ``output`` (atomically); the format follows the suffix by default."""
    from .export import _write_all

    output = Path(output).expanduser()
    fmt = fmt or (output.suffix.lower().lstrip(".") if output.suffix.lower() in (".pdf", ".html") else "pdf")
    _write_all([(output, pole_card(card, pole_id, fmt=fmt, when=when))])
    return output


def write_cards(card: Scorecard, folder: str | os.PathLike, *, fmt: str = "pdf", pole_ids: Sequence[str] | None = None,
                when: date | None = None) -> list[Path]:
    """Write the card of every pole (or of ``pole_ids``) into ``folder`` as ``<id>_fiche.<fmt>``.

    All cards are made first, then written together (all or none).
    """
    from .export import _write_all

    _check_format(fmt)
    folder = Path(folder).expanduser()
    ids = list(pole_ids) if pole_ids is not None else list(card.ids)
    names = [card_filename(pid, fmt) for pid in ids]
    if len(set(names)) < len(names):  # two ids with the same safe name: number them
        names = [f"{i + 1:02d}_{n}" for i, n in enumerate(names)]
    targets = [(folder / name, pole_card(card, pid, fmt=fmt, when=when)) for pid, name in zip(ids, names)]
    _write_all(targets)
    return [t for t, _ in targets]
