"""Streamlit's own interface texts in French, and the app's small CSS.

Streamlit has no French locale: its widgets say « Press Enter to apply », « Choose an
option », « Upload », « 50MB per file », its table toolbar « Download as CSV », its
tooltips « Help for … ». :func:`install` adds, once per page load, a script that
rewrites those texts (text nodes and the ``title``, ``aria-label`` and ``placeholder``
attributes) as Streamlit draws them, with a MutationObserver. Only Streamlit's fixed
phrases are rewritten — whole strings or anchored patterns listed here — never the
app's own texts nor data (headings, tables, figures and maps are skipped; a text is
rewritten only when it is exactly one of Streamlit's phrases). The script is a
constant of this module: no data reaches it.
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
]
#: sizes written by Streamlit (« 229.0B », « 50MB per file »)
SIZE_RE = r"(\d+(?:\.\d+)?)\s?(B|KB|MB|GB)\b"

_SCRIPT = """
(function () {
  if (window.__ptceFrench) return;
  window.__ptceFrench = true;
  var EXACT = %(exact)s;
  var PATTERNS = %(patterns)s.map(function (p) { return [new RegExp(p[0]), p[1]]; });
  var SIZE = new RegExp(%(size)s, 'g');
  var UNITS = {B: 'o', KB: 'ko', MB: 'Mo', GB: 'Go'};
  var SKIP = '[data-testid="stTable"], [data-testid="stCode"], [data-testid="stMetricValue"], '
           + '[data-testid="stHeading"], iframe, script, style, textarea, [contenteditable="true"]';
  function frSize(_, n, u) {
    var x = parseFloat(n);
    var txt = (u === 'B' || Number.isInteger(x)) ? String(Math.round(x)) : x.toFixed(1).replace('.', ',');
    return txt + '\\u00a0' + UNITS[u];
  }
  function translate(s) {
    if (!s) return null;
    var t = s.trim();
    if (!t) return null;
    if (Object.prototype.hasOwnProperty.call(EXACT, t)) return s.replace(t, EXACT[t]);
    var out = t, changed = false;
    for (var i = 0; i < PATTERNS.length; i++) {
      if (PATTERNS[i][0].test(out)) { out = out.replace(PATTERNS[i][0], PATTERNS[i][1]); changed = true; break; }
    }
    if (/per file/.test(out)) { out = out.replace(/per file/, 'par fichier'); changed = true; }
    if (SIZE.test(out)) { SIZE.lastIndex = 0; out = out.replace(SIZE, frSize); changed = true; }
    SIZE.lastIndex = 0;
    return changed ? s.replace(t, out) : null;
  }
  var ATTRS = ['title', 'aria-label', 'placeholder'];
  function fixElement(el) {
    if (!el || el.nodeType !== 1 || (el.closest && el.closest(SKIP))) return;
    for (var i = 0; i < ATTRS.length; i++) {
      var v = el.getAttribute(ATTRS[i]);
      var f = translate(v);
      if (f !== null && f !== v) el.setAttribute(ATTRS[i], f);
    }
  }
  function fixText(node) {
    var p = node.parentElement;
    if (!p || (p.closest && p.closest(SKIP))) return;
    var f = translate(node.nodeValue);
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
</style>
"""


def script() -> str:
    """The translating script (a constant)."""
    return _SCRIPT % {"exact": json.dumps(EXACT, ensure_ascii=False), "patterns": json.dumps(PATTERNS),
                      "size": json.dumps(SIZE_RE)}


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
