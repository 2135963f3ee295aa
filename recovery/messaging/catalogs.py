"""Gettext catalogs of the customer messages: read from the ``.po`` files, compiled in memory.

The ``.po`` files under ``locales/<lang>/LC_MESSAGES/messages.po`` are the only source; no ``.mo``
file is committed or written. Each catalog is compiled with Babel the first time a language is
used in a process (a few milliseconds), so a fresh clone, an installed wheel and a read-only
install all work with no build step, and a translation edit can never be shadowed by a stale
``.mo``.

Updating the catalogs after a template change (``babel.cfg`` sits next to this module)::

    pybabel extract -F recovery/messaging/babel.cfg -o recovery/messaging/locales/messages.pot \\
        recovery/messaging/templates
    pybabel update -i recovery/messaging/locales/messages.pot -d recovery/messaging/locales

then translate the new entries; tests/recovery/messaging/test_rendering.py fails while a string
of a template has no translation in some language.
"""

from __future__ import annotations

import functools
import gettext
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locales"
TEMPLATE_DIR = Path(__file__).parent / "templates"
DOMAIN = "messages"


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


@functools.cache
def translations(language: str) -> gettext.GNUTranslations:
    """The compiled catalog of ``language`` (fuzzy entries left out, as msgfmt does)."""
    compiled = BytesIO()
    write_mo(compiled, read_catalog(language), use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def template_messages() -> set[str | tuple[str, ...]]:
    """Every message id the templates ask to translate (a tuple for plural forms)."""
    from babel.messages.extract import extract_from_dir

    method_map = [("**.html", "jinja2"), ("**.txt", "jinja2")]
    options = {"**": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    return {message for _file, _line, message, _comments, _context
            in extract_from_dir(str(TEMPLATE_DIR), method_map, options)}
