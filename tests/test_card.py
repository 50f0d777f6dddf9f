"""La fiche pôle: PDF (A4, one or two pages) and HTML, read back as a reader would.

The PDF's text is read with pdftotext (poppler, as the issue asks; CI installs it) and
with pypdf; expected values come from the poles file itself (its départements, its
sources) and from the départements layer, not from the card's code. A hostile pole
(``<script>``, ``&``, braces, dollars) must come out as text in both formats.
"""

from __future__ import annotations

import html.parser
import io
import json
import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from ptce_geo.card import pole_card, render_map, typo
from ptce_geo.cli import main
from ptce_geo.perimeters import read_perimeters
from ptce_geo.scorecard import Scorecard

pytestmark = pytest.mark.realdata

REPO = Path(__file__).resolve().parent.parent
POLES = json.loads((REPO / "poles.geojson").read_text("utf-8"))
A4 = (595.28, 841.89)  # points
HOSTILE = 'Pôle <script>alert("x")</script> & Cie {{7*7}} $\\frac{1}{2}$'
HOSTILE_DOC = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None, "properties": {
    "id": "hostile", "nom": HOSTILE, "communes": ["81004"], "siege_insee": "81004",
    "structure_porteuse": "<img src=x onerror=alert(2)> & « amis »",
    "description": "</p><script>alert(3)</script> Texte ; avec : ponctuation ! et 10 %",
    "sources": [{"titre": "<b>source</b>", "url": "https://example.org/a?b=1&c=<2>"}, "javascript:alert(4)"],
    "filieres": ["<i>alimentation</i>"], "confiance": "haute"}}]}


def _props(pole_id: str) -> dict:
    return next(f["properties"] for f in POLES["features"] if f["properties"]["id"] == pole_id)


def _pdftotext(path: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pdftotext is missing in CI (.ci/run installs poppler-utils)")
        pytest.skip("pdftotext (poppler-utils) not installed")
    out = subprocess.run([exe, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60)
    return out.stdout.decode("utf-8")


def _check_pdf(data: bytes) -> PdfReader:
    assert data[:5] == b"%PDF-" and data.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(data))
    assert 1 <= len(reader.pages) <= 2
    for page in reader.pages:
        box = page.mediabox
        assert (float(box.width), float(box.height)) == pytest.approx(A4, abs=0.5)
    return reader


def _embedded_fonts(reader: PdfReader) -> set[str]:
    """Names of the fonts whose program is inside the PDF (TrueType subsets)."""
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.get_object().values():
            font = ref.get_object()
            desc = font.get("/FontDescriptor")
            if desc is not None and "/FontFile2" in desc.get_object():
                names.add(str(font["/BaseFont"]))
    return names


def test_cli_card_of_ptce05(catalogue, tmp_path, capsys):
    out = tmp_path / "c.pdf"
    assert main(["card", "ptce05", "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    data = out.read_bytes()
    reader = _check_pdf(data)
    assert _embedded_fonts(reader)  # the fonts travel with the file
    text = _pdftotext(out)
    flat = " ".join(text.split())
    props = _props("ptce05")
    assert props["nom"] in flat and "Inter-régional" in flat
    # its départements, named from the départements layer by the codes of the poles file
    from ptce_geo.layers import load_layer

    deps = load_layer("departements", catalogue=catalogue).set_index("code")["nom"]
    assert len(props["departements_cog"]) == 3
    for code in props["departements_cog"]:
        assert deps[code] in flat, deps[code]
    for url in props["sources"]:  # every source, address in full
        assert url.replace("-", "") in flat.replace("-", "").replace(" ", "") or url in flat, url
    assert props["structure_porteuse"].split(",")[0] in flat
    # the same words through another extractor
    other = " ".join("".join(p.extract_text() for p in reader.pages).split())
    assert props["nom"] in other and "Inter-régional" in other and "Loire-Atlantique" in other


def test_card_html_holds_the_same_content_and_french_typography(catalogue):
    perims = read_perimeters(REPO / "poles.geojson", catalogue=catalogue)
    card = Scorecard(perims[perims["id"] == "ptce05"], catalogue=catalogue)
    page = pole_card(card, "ptce05", fmt="html", when=date(2026, 3, 1)).decode("utf-8")
    text = _Text.of(page)
    props = _props("ptce05")
    assert props["nom"] in text.data and "Inter-régional" in text.data
    assert "Fiche produite le 1er mars 2026" in text.data
    assert set(props["sources"]) <= set(text.links)
    assert text.tags <= _Text.ALLOWED, text.tags - _Text.ALLOWED
    # French typography: no plain space before « : ; ! ? % » nor inside guillemets; decimal commas
    assert not re.search(r" [:;!?%»]", text.data), re.findall(r".{12} [:;!?%»]", text.data)[:5]
    assert not re.search(r"« ", text.data)
    s = card.summary.set_index("pole_id").loc["ptce05"]
    share = f"{s['dominant_departements_share'] * 100:.1f}".replace(".", ",")
    assert f"Loire-Atlantique ({share}\u00a0%)" in text.data  # 44,4 % from the scorecard
    assert "990,8\u00a0km²" in text.data
    assert "grappe d’entreprises" in text.data  # typographic apostrophes


class _Text(html.parser.HTMLParser):
    """Tags, text and links of an HTML page, as a browser would see them."""

    ALLOWED = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "span", "p", "table", "thead",
               "tbody", "tr", "th", "td", "figure", "img", "figcaption", "section", "ul", "li", "a", "footer"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.links, self.parts = set(), [], []

    @classmethod
    def of(cls, page: str) -> "_Text":
        t = cls()
        t.feed(page)
        t.data = "".join(t.parts)
        return t

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "a":
            self.links.append(dict(attrs)["href"])

    def handle_data(self, data):
        self.parts.append(data)


def test_a_hostile_pole_is_printed_as_text(catalogue, tmp_path):
    card = Scorecard(read_perimeters(HOSTILE_DOC, catalogue=catalogue), catalogue=catalogue)
    pdf = pole_card(card, "hostile")
    reader = _check_pdf(pdf)
    (tmp_path / "h.pdf").write_bytes(pdf)
    flat = " ".join(_pdftotext(tmp_path / "h.pdf").split())
    assert HOSTILE in flat  # the name as written: tags, ampersand, braces, dollars
    assert "<img src=x onerror=alert(2)> & «\u00a0amis\u00a0»" in flat or "<img src=x onerror=alert(2)> & « amis »" in flat
    assert "<i>alimentation</i>" in flat
    # no JavaScript, no launch action in the PDF
    root = reader.trailer["/Root"]
    assert "/OpenAction" not in root and "/AA" not in root and "/JavaScript" not in (root.get("/Names") or {})
    actions = [a.get_object()["/A"] for p in reader.pages for a in (p.get("/Annots") or [])]
    assert {str(a["/S"]) for a in actions} <= {"/URI"}  # links only: no script, no launch
    links = [a["/URI"] for a in actions]
    assert links == ["https://example.org/a?b=1&c=<2>"]  # the javascript: "source" is no link
    page = pole_card(card, "hostile", fmt="html").decode("utf-8")
    text = _Text.of(page)
    assert text.tags <= _Text.ALLOWED, text.tags - _Text.ALLOWED  # no script, no img but the map
    assert HOSTILE in text.data and "</p><script>alert(3)</script>" in text.data
    assert text.links == ["https://example.org/a?b=1&c=<2>"]
    assert "<script" not in page.lower() and "onerror=" not in page.replace("onerror=alert(2)", "")
    assert page.count("<img ") == 1  # the map only


def test_map_draws_the_perimeter(catalogue):
    perims = read_perimeters(REPO / "poles.geojson", catalogue=catalogue)
    card = Scorecard(perims[perims["id"] == "ptce23"], catalogue=catalogue)
    png = render_map(card, "ptce23")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    from ptce_geo.card import MAP_HEIGHT_MM

    assert img.size == (round(180 / 25.4 * 200), round(MAP_HEIGHT_MM / 25.4 * 200))  # 180 mm wide at 200 dpi
    colours = {c for _, c in img.getcolors(maxcolors=1 << 20)}
    from ptce_geo.palette import TYPOLOGY_COLOURS

    typ = card.summary["typology"].iloc[0]
    r, g, b = (int(TYPOLOGY_COLOURS[typ][i:i + 2], 16) for i in (1, 3, 5))
    fill = tuple(round(0.42 * c + 0.58 * bg) for c, bg in zip((r, g, b), (0xFB, 0xFB, 0xF8)))
    assert any(max(abs(a - b) for a, b in zip(c, fill)) <= 3 for c in colours)  # the pole, in its typology colour


def test_typography():
    assert typo("Part : 44 % ; « Pays » ! l'EPCI ? https://a.fr/x?y=1 : fin") == (
        "Part\u00a0: 44\u00a0%\u202f; «\u00a0Pays\u00a0»\u202f! l’EPCI\u202f? https://a.fr/x?y=1\u00a0: fin")
    assert typo('CC "Sources de lumière"') == 'CC "Sources de lumière"'  # quotes of data are kept


@pytest.mark.slow
def test_cli_cards_of_every_pole(catalogue, tmp_path, capsys):
    folder = tmp_path / "fiches"
    assert main(["card", "--all", "--output", str(folder)]) == 0
    files = sorted(folder.iterdir())
    ids = [f["properties"]["id"] for f in POLES["features"]]
    assert [f.name for f in files] == sorted(f"{i}_fiche.pdf" for i in ids) and len(files) == 29
    for f in files:
        reader = _check_pdf(f.read_bytes())
        text = " ".join("".join(p.extract_text() for p in reader.pages).split())
        assert _props(f.name.split("_")[0])["nom"].split(" ")[0] in text, f.name
    assert capsys.readouterr().out.strip() == f"wrote 29 cards in {folder}"


def test_cli_card_errors(catalogue, tmp_path, capsys):
    assert main(["card", "nope", "--output", str(tmp_path / "x.pdf")]) == 2
    err = capsys.readouterr().err
    assert "no pole 'nope'" in err and "ptce01" in err and err.count("\n") == 1
    assert main(["card", "--output", str(tmp_path / "x.pdf")]) == 2
    assert "--all" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    assert main(["card", "ptce11", "--format", "html", "--output", str(tmp_path / "p.html")]) == 0
    assert (tmp_path / "p.html").read_text("utf-8").startswith("<!DOCTYPE html>")


def test_a_list_cut_short_names_its_last_item_rather_than_one_other():
    from ptce_geo.card import _list_text

    items = ["a", "b", "c", "d", "e"]
    assert _list_text(items, 4) == "a, b, c, d, e"  # not « a, b, c, d et 1 autres »
    assert _list_text(items, 3) == "a, b, c et 2\u00a0autres"
    assert _list_text(items, 5) == "a, b, c, d, e"
