"""Streamlit's own interface texts in French, and the app's small CSS (narrow windows included).

Streamlit has no French locale: its widgets say « Press Enter to apply », « Choose an
option », « Upload », « 50MB per file », its table toolbar « Download as CSV », its
tooltips « Help for … ». :func:`install` adds, once per page load, a script that
rewrites those texts (text nodes and the ``title``, ``aria-label`` and ``placeholder``
attributes) as Streamlit draws them, with a MutationObserver. Only Streamlit's fixed
phrases are rewritten — whole strings or anchored patterns listed here — never the
app's own texts nor data (headings, tables, figures and maps are skipped; a text is
rewritten only when it is exactly one of Streamlit's phrases). The script is a
constant of this module: no data reaches it.

The phrases of a table's column menu (« Statistics », « Format » and their submenus), of
its search bar and of the charts' tooltips are rewritten only inside those boxes
(:data:`SCOPED`), where Streamlit alone writes; figures it builds there (« 0 (0%) »,
« 12.5% ») are given a French space before « % » and a decimal comma.
"""

from __future__ import annotations

import json

import streamlit as st

#: whole strings (after trimming) → French
EXACT = {
    "Press Enter to apply": "Appuyez sur Entrée pour valider",
    "Press Enter to submit form": "Appuyez sur Entrée pour envoyer",
    "Press ⌘+Enter to apply": "Appuyez sur ⌘+Entrée pour valider",
    "Press Ctrl+Enter to apply": "Appuyez sur Ctrl+Entrée pour valider",
    "Choose an option": "Choisissez",
    "Choose options": "Choisissez",
    "No results": "Aucun résultat",
    "No options": "Aucun choix",
    "Select all": "Tout sélectionner",
    "Clear all": "Tout effacer",
    "Clear value": "Effacer",
    "Clear": "Effacer",
    "Open": "Ouvrir",
    "Close": "Fermer",
    "Collapse sidebar": "Replier le menu",
    "Expand sidebar": "Déplier le menu",
    "Close sidebar": "Replier le menu",
    "Open sidebar": "Déplier le menu",
    "Skip to main content": "Aller au contenu",
    "Download as CSV": "Télécharger le tableau (CSV)",
    "Download": "Télécharger",
    "Search": "Rechercher",
    "Search...": "Rechercher…",
    "Fullscreen": "Plein écran",
    "View fullscreen": "Plein écran",
    "Exit fullscreen": "Quitter le plein écran",
    "Close fullscreen": "Quitter le plein écran",
    "Show/hide columns": "Afficher ou masquer des colonnes",
    "Upload": "Téléverser",
    "Browse files": "Parcourir",
    "Drag and drop file here": "Glissez-déposez un fichier ici",
    "Drag and drop files here": "Glissez-déposez des fichiers ici",
    "Running...": "Calcul en cours…",
    "Running…": "Calcul en cours…",
    "Stop": "Arrêter",
    "Rerun": "Relancer",
    "Increment": "Augmenter",
    "Decrement": "Diminuer",
    "Copy to clipboard": "Copier",
    "Copied": "Copié",
    "empty": "vide",
    "Only one file is allowed.": "Un seul fichier est accepté.",
    "File size is too small.": "Fichier vide.",
    "Unexpected error. Please try again.": "Erreur inattendue. Réessayez.",
    "Sort ascending": "Trier par ordre croissant",
    "Sort descending": "Trier par ordre décroissant",
    "Autosize": "Largeur automatique",
    "Pin column": "Épingler la colonne",
    "Unpin column": "Désépingler la colonne",
    "Hide column": "Masquer la colonne",
    "Loading...": "Chargement…",
    "Please wait...": "Veuillez patienter…",
    "Connecting": "Connexion",
    "Close popup": "Fermer",
    "file upload": "téléverser un fichier",
    "Help": "Aide",
    "Link to heading": "Lien vers ce titre",
    "Selected values": "Valeurs choisies",
    # a table's column menu and its search bar
    "Statistics": "Statistiques",
    "Copy column name": "Copier le nom de la colonne",
    "Dataframe column menu": "Menu de la colonne",
    "Button action menu": "Menu d'actions",
    "Type to search": "Tapez pour rechercher",
    "Previous Result": "Résultat précédent",
    "Next Result": "Résultat suivant",
    "Close Search": "Fermer la recherche",
    # a chart's toolbar (« Copy Vega-Lite spec » is offered on localhost only)
    "Show data": "Afficher les données",
    "Show chart": "Afficher le graphique",
    "Download as PNG": "Télécharger l'image (PNG)",
    "Copy Vega-Lite spec": "Copier la spécification Vega-Lite",
    "Copied!": "Copié\u00a0!",
    "Vega visualization": "Graphique",
}
#: anchored patterns (JavaScript regular expressions) → French replacement
PATTERNS = [
    (r"^Help for (.+)$", "Aide : $1"),
    (r"^Remove (.+)$", "Retirer $1"),
    (r"^Select (\d+) match(es)?$", "Sélectionner les $1 résultats"),
    (r"^(\d+) options? available\.?$", "$1 choix disponibles"),
    (r"^(.+) files are not allowed\.$", "Ce type de fichier n'est pas accepté ($1)."),
    (r"^File must be (.+) or smaller\.$", "Le fichier doit faire au plus $1."),
    (r"^Upload or drag and drop (a file|files|a directory)(.*)$", "Téléverser ou glisser-déposer un fichier$2"),
    (r"^Show data: (.+)$", "Afficher les données : $1"),
    (r"^Download as PNG: (.+)$", "Télécharger l'image (PNG) : $1"),
]

#: a count and a share as Streamlit writes them in a table's statistics (« 3 (12.5%) », « 1 234 (0%) »)
_COUNT_PCT = r"(\d[\d\s.,]*) \((\d+(?:[.,]\d+)?)%\)"
#: phrases rewritten only inside one of Streamlit's boxes: (CSS selector, whole strings, patterns).
#: A pattern's third item, when true, writes the figures it captures with a decimal comma.
SCOPED = [
    ('[data-testid="stDataFrameColumnMenu"]', {
        # the kind of the column (the title of its icon)
        "number": "Nombre", "text": "Texte", "checkbox": "Case à cocher", "date": "Date",
        "datetime": "Date et heure", "time": "Heure", "link": "Lien", "list": "Liste",
        "progress": "Barre de progression", "selectbox": "Liste de choix", "image": "Image",
        "object": "Objet", "json": "JSON",
    }, []),
    ('[data-testid="stDataFrameColumnFormattingMenu"]', {
        "Automatic": "Automatique", "Localized": "Selon la langue du navigateur", "Plain": "Brut",
        "Compact": "Compact", "Dollar": "Dollar", "Euro": "Euro", "Yen": "Yen", "Percent": "Pourcentage",
        "Scientific": "Scientifique", "Accounting": "Comptable", "Duration": "Durée",
        "Distance": "Relatif (il y a…)", "Calendar": "Calendrier",
    }, []),
    ('[data-testid="stDataFrameStatisticsMenu"]', {
        "Values": "Valeurs", "Empty": "Vides", "Distinct": "Distinctes", "Average": "Moyenne",
        "Standard deviation": "Écart type", "Minimum": "Minimum", "25th percentile": "1er quartile",
        "Median": "Médiane", "75th percentile": "3e quartile", "Maximum": "Maximum", "Sum": "Somme",
        "Minimum length": "Longueur minimale", "Maximum length": "Longueur maximale",
        "Average length": "Longueur moyenne", "Range": "Étendue", "No data": "Aucune donnée",
        "Based on sample": "Calculé sur un échantillon", "True": "Oui", "False": "Non",
        "Distribution histogram": "Histogramme de la distribution",
    }, [
        (r"^(\d+)th percentile$", "$1e centile", False),
        (r"^" + _COUNT_PCT + r"$", "$1 ($2\u00a0%)", True),
        (r"^(\d+(?:[.,]\d+)?)%$", "$1\u00a0%", True),
        (r"^True: " + _COUNT_PCT + r"$", "Oui\u00a0: $1 ($2\u00a0%)", True),
        (r"^False: " + _COUNT_PCT + r"$", "Non\u00a0: $1 ($2\u00a0%)", True),
        (r"^True/false distribution chart: True: " + _COUNT_PCT + r"; False: " + _COUNT_PCT + r"$",
         "Répartition oui / non\u00a0: oui $1 ($2\u00a0%), non $3 ($4\u00a0%)", True),
        (r"^Top values frequency chart: (.+)$", "Valeurs les plus fréquentes\u00a0: $1", False),
        (r"^(?!Valeurs les plus fréquentes)(.+): " + _COUNT_PCT + r"$", "$1\u00a0: $2 ($3\u00a0%)", True),
        (r"^binStart: [^;]*; count: (\d+); binEnd: [^;]*; Range: (.+); Count: \d+$",
         "Intervalle $2\u00a0: $1", True),
    ]),
    ('#vg-tooltip-element', {"Range": "Intervalle", "Count": "Effectif"}, []),
    ('.gdg-search-bar', {"over 1000": "plus de 1000", "0 results": "Aucun résultat", "1 result": "1 résultat"}, [
        (r"^(\d+) results$", "$1 résultats", False),
        (r"^(\d+) of 1 result$", "$1 sur 1", False),
        (r"^(\d+) of (\d+) results$", "$1 sur $2", False),
        (r"^(\d+) of over 1000$", "$1 sur plus de 1000", False),
    ]),
]
#: sizes written by Streamlit (« 229.0B », « 50MB per file »)
SIZE_RE = r"(\d+(?:\.\d+)?)\s?(B|KB|MB|GB)\b"

_SCRIPT = """
(function () {
  if (window.__ptceFrench) return;
  window.__ptceFrench = true;
  var EXACT = %(exact)s;
  function compile(ps) { return ps.map(function (p) { return [new RegExp(p[0]), p[1], !!p[2]]; }); }
  var PATTERNS = compile(%(patterns)s);
  var SCOPED = %(scoped)s.map(function (s) { return [s[0], s[1], compile(s[2])]; });
  var SIZE = new RegExp(%(size)s, 'g');
  var UNITS = {B: 'o', KB: 'ko', MB: 'Mo', GB: 'Go'};
  var SKIP = '[data-testid="stTable"], [data-testid="stCode"], [data-testid="stMetricValue"], '
           + '[data-testid="stHeading"], iframe, script, style, textarea, [contenteditable="true"]';
  // Streamlit's own buttons inside a heading (its anchor link, its help icon)
  var ALLOW = '[data-testid="stHeaderActionElements"]';
  function skipped(el) { return !!(el.closest && el.closest(SKIP) && !el.closest(ALLOW)); }
  function frSize(_, n, u) {
    var x = parseFloat(n);
    var txt = (u === 'B' || Number.isInteger(x)) ? String(Math.round(x)) : x.toFixed(1).replace('.', ',');
    return txt + '\\u00a0' + UNITS[u];
  }
  // a pattern's replacement; with ``dec``, the figures it captures take a decimal comma
  function substitute(p, t) {
    var m = p[0].exec(t);
    if (!m) return null;
    return t.slice(0, m.index) + p[1].replace(/\\$(\\d)/g, function (_, k) {
      var g = m[+k] || '';
      return p[2] && /^[\\d\\s.,\\u2013-]+$/.test(g) ? g.replace(/(\\d)\\.(?=\\d)/g, '$1,') : g;
    }) + t.slice(m.index + m[0].length);
  }
  function scopeOf(el) {
    if (!el || !el.closest) return null;
    for (var i = 0; i < SCOPED.length; i++) if (el.closest(SCOPED[i][0])) return SCOPED[i];
    return null;
  }
  function put(s, t, r) { return s.replace(t, function () { return r; }); }  // no « $ » specials
  function translate(s, scope) {
    if (!s) return null;
    var t = s.trim();
    if (!t) return null;
    if (scope) {
      if (Object.prototype.hasOwnProperty.call(scope[1], t)) return put(s, t, scope[1][t]);
      for (var j = 0; j < scope[2].length; j++) {
        var r = substitute(scope[2][j], t);
        if (r !== null) return put(s, t, r);
      }
    }
    if (Object.prototype.hasOwnProperty.call(EXACT, t)) return put(s, t, EXACT[t]);
    var out = t, changed = false;
    for (var i = 0; i < PATTERNS.length; i++) {
      var f = substitute(PATTERNS[i], out);
      if (f !== null) { out = f; changed = true; break; }
    }
    if (/per file/.test(out)) { out = out.replace(/per file/, 'par fichier'); changed = true; }
    if (SIZE.test(out)) { SIZE.lastIndex = 0; out = out.replace(SIZE, frSize); changed = true; }
    SIZE.lastIndex = 0;
    return changed ? put(s, t, out) : null;
  }
  var ATTRS = ['title', 'aria-label', 'placeholder'];
  function fixElement(el) {
    if (!el || el.nodeType !== 1 || skipped(el)) return;
    var scope = scopeOf(el);
    for (var i = 0; i < ATTRS.length; i++) {
      var v = el.getAttribute(ATTRS[i]);
      var f = translate(v, scope);
      if (f !== null && f !== v) el.setAttribute(ATTRS[i], f);
    }
  }
  function fixText(node) {
    var p = node.parentElement;
    if (!p || skipped(p)) return;
    var f = translate(node.nodeValue, scopeOf(p));
    if (f !== null && f !== node.nodeValue) node.nodeValue = f;
  }
  function fixTree(root) {
    if (!root) return;
    if (root.nodeType === 3) { fixText(root); return; }
    if (root.nodeType !== 1) return;
    fixElement(root);
    var els = root.querySelectorAll('[title], [aria-label], [placeholder]');
    for (var i = 0; i < els.length; i++) fixElement(els[i]);
    var w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), n;
    while ((n = w.nextNode())) fixText(n);
  }
  var doc = window.parent && window.parent !== window ? window.parent.document : document;
  fixTree(doc.body);
  new MutationObserver(function (muts) {
    for (var i = 0; i < muts.length; i++) {
      var m = muts[i];
      if (m.type === 'characterData') fixText(m.target);
      else if (m.type === 'attributes') fixElement(m.target);
      else for (var j = 0; j < m.addedNodes.length; j++) fixTree(m.addedNodes[j]);
    }
  }).observe(doc.body, {childList: true, subtree: true, characterData: true, attributes: true,
                         attributeFilter: ATTRS});
})();
"""

#: the app's CSS: the script's own box takes no room; labels of long radios wrap
CSS = """
<style>
[data-testid="stHtml"]:has(> .ptce-fr), .element-container:has(.ptce-fr),
[data-testid="stElementContainer"]:has(.ptce-fr) { display: none !important; }
/* a narrow window (below 1180 px): columns of a « stack_ » container one under the other (the card
   under the map), those of a « pairs_ » container two by two (figures, download buttons) */
@media (max-width: 1180px) {
  [class*="st-key-stack_"] [data-testid="stHorizontalBlock"],
  [class*="st-key-pairs_"] [data-testid="stHorizontalBlock"] { flex-wrap: wrap; row-gap: 0.75rem; }
  [class*="st-key-stack_"] [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] {
    flex: 1 1 100% !important; width: 100% !important; min-width: 100% !important; }
  [class*="st-key-pairs_"] [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] {
    flex: 1 1 calc(50% - 1rem) !important; min-width: calc(50% - 1rem) !important; }
}
</style>
"""


def script() -> str:
    """The translating script (a constant)."""
    return _SCRIPT % {"exact": json.dumps(EXACT, ensure_ascii=False), "patterns": json.dumps(PATTERNS),
                      "scoped": json.dumps(SCOPED, ensure_ascii=False), "size": json.dumps(SIZE_RE)}


def install() -> None:
    """Add the translating script and the CSS to the page (idempotent in the browser)."""
    st.html(CSS)
    st.html(f'<div class="ptce-fr"></div><script>{script()}</script>', unsafe_allow_javascript=True)


def percent_choice(label: str, options, *, value: float, key: str, help: str | None = None) -> float:
    """A slider over fixed percentages written the French way (« 0,5 % », « 10 % »), never « 1.00 ».

    ``options`` and ``value`` are in percent; returns the chosen percent.
    """
    from ptce_geo.fmt import fr_number

    return st.select_slider(label, options=list(options), value=value, key=key, help=help,
                            format_func=lambda v: fr_number(v, 0 if float(v).is_integer() else 1) + "\u00a0%")
