"""Translations (gettext) for pages and messages, in English, Russian and Polish.

The catalogs are the `.po` files under `parley/locale/<lang>/LC_MESSAGES/parley.po`,
extracted into `parley/locale/parley.pot` with `pybabel extract -F babel.cfg -o
parley/locale/parley.pot .`. Compiled `.mo` files are never committed: each catalog is
read with Babel and compiled in memory the first time a language is asked for, then kept.

Templates share one Jinja2 environment whatever the language: its gettext functions
read the translations handed to each `render()` call (`translations=...`), so two
requests in two languages never see each other's catalog.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Final, Literal, get_args

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import BaseLoader, Environment, pass_context, select_autoescape
from jinja2.runtime import Context

Language = Literal["en", "ru", "pl"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
LANGUAGE_NAMES: Final[dict[Language, str]] = {"en": "English", "ru": "Русский", "pl": "Polski"}
LANGUAGE_COOKIE: Final = "parley_lang"
DOMAIN: Final = "parley"
LOCALE_DIR: Final = Path(__file__).resolve().parents[1] / "locale"
TRANSLATIONS_VARIABLE: Final = "translations"


def supported_language(value: str | None) -> Language | None:
    """`value` as a supported language ("ru-RU" and "RU" count as "ru"), else None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of `language`; English (the source language) and unknown ones get the
    untranslated strings."""
    supported = supported_language(language)
    if supported is None or supported == "en":
        return gettext.NullTranslations()
    with catalog_path(supported).open("rb") as po_file:
        catalog = read_po(po_file, locale=supported, domain=DOMAIN)
    compiled = BytesIO()
    # Fuzzy entries are guesses awaiting review: leave them out, as msgfmt does.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _accept_language_choices(header: str) -> Iterable[str]:
    """Languages of an Accept-Language header, most preferred first (RFC 9110 §12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, parameters = item.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            # Sort by quality, then by the order the client listed them in.
            weighted.append((-quality, position, tag.strip()))
    return (tag for _, _, tag in sorted(weighted))


def negotiate_language(
    explicit: str | None,
    cookie: str | None,
    accept_language: str | None,
    default: str,
) -> Language:
    """The language to answer in: the user's own setting (or an explicit choice), then
    the `parley_lang` cookie, then the browser's Accept-Language, then the default."""
    for candidate in (explicit, cookie):
        language = supported_language(candidate)
        if language:
            return language
    for tag in _accept_language_choices(accept_language or ""):
        language = supported_language(tag)
        if language:
            return language
    return supported_language(default) or "en"


def _translations_of(context: Context) -> gettext.NullTranslations:
    found = context.get(TRANSLATIONS_VARIABLE)
    return found if isinstance(found, gettext.NullTranslations) else gettext.NullTranslations()


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _translations_of(context).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return _translations_of(context).ngettext(singular, plural, count)


@pass_context
def _pgettext(context: Context, message_context: str, message: str) -> str:
    return _translations_of(context).pgettext(message_context, message)


@pass_context
def _npgettext(
    context: Context, message_context: str, singular: str, plural: str, count: int
) -> str:
    return _translations_of(context).npgettext(message_context, singular, plural, count)


def create_template_environment(loader: BaseLoader) -> Environment:
    """A Jinja2 environment with `{% trans %}`, `_()` and `gettext()` translating into the
    language of the `translations` variable passed to `render()`.

    Newstyle gettext: placeholders are `%(name)s` filled from keyword arguments, and
    translations are autoescaped like any other value.
    """
    environment = Environment(
        loader=loader,
        autoescape=select_autoescape(default_for_string=True, default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The i18n extension adds this method to the environment; mypy cannot see it.
    install: Any = environment.install_gettext_callables  # type: ignore[attr-defined]
    install(_gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext)
    return environment
