"""The message catalogue of the PDA pages: extract, update, compile (docs/pda.md, "Languages").

``python -m edge.pda.catalogue`` re-extracts the messages from the templates and the
Python sources, merges them into ``messages.po`` (new ones untranslated, for a person to
translate) and compiles ``messages.mo``. tests/edge/pda/test_i18n.py fails while any
message is untranslated or fuzzy, or the committed ``.mo`` is not the ``.po`` compiled.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from edge.pda.i18n import DOMAIN, LOCALES_DIR

PACKAGE = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}


def po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


#: What the receiving and returns stations say: the desk pages show it in their language
#: (edge/stations/sentences.py), so its ids are this catalogue's too.
STATION_SENTENCES = PACKAGE.parent / "stations" / "sentences.py"


def extract() -> Catalog:
    catalog = Catalog(project="guanjia-pda", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        PACKAGE, METHODS, options_map=OPTIONS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    where = f"../stations/{STATION_SENTENCES.name}"
    for lineno, message, comments, context in extract_from_file(
        "python", str(STATION_SENTENCES), strip_comment_tags=True
    ):
        catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return catalog


def read(locale: str) -> Catalog:
    with po_path(locale).open("rb") as f:
        return read_po(f, locale=locale)


def compiled(catalog: Catalog) -> bytes:
    out = BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def update(locale: str = "zh_CN") -> None:
    path = po_path(locale)
    catalog = read(locale) if path.exists() else Catalog(locale=locale, charset="utf-8")
    catalog.update(extract(), no_fuzzy_matching=True)
    catalog.obsolete.clear()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
    path.with_suffix(".mo").write_bytes(compiled(read(locale)))


if __name__ == "__main__":
    update()
