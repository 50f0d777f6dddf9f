"""Text from data, made safe for where it goes: identifiers, Markdown, spreadsheets.

* :func:`normalise_id` and :func:`id_key`: identifiers compared as people read them
  (Unicode NFC, surrounding blanks removed, case ignored for duplicates);
* :func:`invisible_characters`: control, format (zero-width, bidirectional overrides)
  and surrogate characters, which a terminal or a browser would act on or hide;
* :func:`escape_markdown`: a message holding file names, field names or codes from a
  user's file, shown through a Markdown renderer (the app's ``st.error``) without any of
  it becoming a link, an image, HTML or formatting;
* :func:`csv_neutralise`: a spreadsheet cell that can never run as a formula, whatever
  separator the spreadsheet splits on;
* :func:`repair_cp1252`: names whose Windows punctuation was read as control characters
  (the 2015 QPV file: « Gaspard \\x96 La Réserve » for « Gaspard – La Réserve »).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise_id", "id_key", "invisible_characters", "describe_characters", "escape_markdown",
           "FORMULA_START", "CSV_SEPARATORS", "csv_neutralise", "repair_cp1252"]

#: Unicode categories refused in identifiers and names: controls (ESC of ANSI sequences,
#: newlines), format characters (zero-width space, bidirectional overrides), surrogates,
#: line and paragraph separators
_INVISIBLE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def normalise_id(text: str) -> str:
    """An identifier as stored: Unicode NFC, blanks around removed."""
    return unicodedata.normalize("NFC", text).strip()


def id_key(text: str) -> str:
    """The key two identifiers must not share: NFC, stripped, case-folded."""
    return normalise_id(text).casefold()


def invisible_characters(text: str) -> list[str]:
    """The control, format and surrogate characters of ``text`` (in order, each once)."""
    seen: list[str] = []
    for ch in text:
        if unicodedata.category(ch) in _INVISIBLE and ch not in seen:
            seen.append(ch)
    return seen


def describe_characters(chars: list[str]) -> str:
    """``U+001B, U+200B`` — code points, never the characters themselves."""
    return ", ".join(f"U+{ord(c):04X}" for c in chars[:5]) + (", …" if len(chars) > 5 else "")


# ------------------------------------------------------------------ Markdown
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=^\"'])")
#: a code span we write ourselves (`PTCE_GEO_MIRROR`): kept when its content cannot make
#: a link, an image or HTML even if the span were read otherwise
_CODE_SPAN = re.compile(r"(?<!`)`([A-Za-z0-9_ ./=:,;@%+\-]+)`(?!`)")


def escape_markdown(text: str) -> str:
    """``text`` shown literally by a Markdown renderer (CommonMark, Streamlit's).

    Every ASCII punctuation character that Markdown or Streamlit gives a meaning
    (links, images, emphasis, HTML, LaTeX ``$``, ``:colour[...]`` directives) is escaped
    with a backslash, which renders it as itself. Code spans of plain words
    (``\\`PTCE_GEO_MIRROR\\```) are kept as code. Control characters are shown as
    ``U+XXXX``.
    """
    out: list[str] = []
    pos = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[pos:match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    text = "".join(f"U+{ord(c):04X}" if unicodedata.category(c) in _INVISIBLE and c not in "\n\t" else c
                   for c in text)
    return _MD_SPECIAL.sub(r"\\\1", text)


# ------------------------------------------------------------------ spreadsheets
#: first characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
#: characters a spreadsheet may split a line on (its settings decide which)
CSV_SEPARATORS = ",;\t|\n\r"
_INNER_FORMULA = re.compile(r"([,;\t|\n\r][ ]*)(?=[=+\-@\uff1d\uff0b\uff0d\uff20])")


def csv_neutralise(value: object) -> object:
    """A text cell that no spreadsheet runs as a formula; other values unchanged.

    A cell starting with a formula character (``=``, ``+``, ``-``, ``@``, tab, carriage
    return, or their full-width forms) gets a leading ``'``, shown as text. So does every
    piece of the cell that follows a separator a spreadsheet may split on (``,`` ``;``
    tab ``|`` or a line break): ``x;=cmd|' /C calc'!A0;y`` becomes
    ``x;'=cmd|' /C calc'!A0;y``, harmless in a spreadsheet that splits on ``;``.
    """
    if not isinstance(value, str):
        return value
    out = _INNER_FORMULA.sub(r"\1'", value)
    return "'" + out if out.startswith(FORMULA_START) else out


#: the C1 control characters (U+0080 to U+009F): in a source's text, Windows-1252 bytes
#: (’ – — œ € …) decoded as Latin-1
C1_CONTROLS = re.compile("[\x80-\x9f]")


def _cp1252(match: re.Match) -> str:
    try:
        return match.group().encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: no character in Windows-1252
        return ""


def repair_cp1252(text: str) -> str:
    """``text`` with each C1 control character replaced by the Windows-1252 character of the
    same byte (« \\x92 » → « ’ », « \\x96 » → « – », « \\x9c » → « œ »); one with none is
    dropped. No real name holds a C1 control: they come from a file written in Windows-1252
    and read as Latin-1, and a browser, a PDF or a terminal shows them as boxes or not at all.
    """
    return C1_CONTROLS.sub(_cp1252, text)
