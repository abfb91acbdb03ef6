"""The translation catalogs are complete and correct, and the language is chosen by the
agreed rules: the user's setting, then the cookie, then Accept-Language, then the default."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import DictLoader

from parley.platform.i18n import (
    LANGUAGES,
    LOCALE_DIR,
    catalog_path,
    create_template_environment,
    negotiate_language,
    translations,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
TRANSLATED = [language for language in LANGUAGES if language != "en"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{(\w+)\}")


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as po_file:
        return read_po(po_file, locale=language)


def _entries(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


def _key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _placeholders(text: str) -> list[str]:
    return sorted(named or braced for named, braced in PLACEHOLDER.findall(text))


def test_template_lists_every_string_the_code_marks_for_translation() -> None:
    with (REPO_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    in_code = {
        message[0] if isinstance(message, tuple) else message
        for _file, _line, message, _comments, _context in extract_from_dir(
            REPO_ROOT, method_map, options_map
        )
    }
    in_template = {_key(message) for message in _entries(_read(LOCALE_DIR / "parley.pot"))}
    assert in_code, "extraction found no strings: is babel.cfg pointing at the code?"
    assert in_code == in_template, (
        "parley.pot is stale: run the pybabel extract/update commands in babel.cfg "
        f"(missing: {sorted(in_code - in_template)}, unused: {sorted(in_template - in_code)})"
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_has_a_reviewed_translation(language: str) -> None:
    template = {_key(message) for message in _entries(_read(LOCALE_DIR / "parley.pot"))}
    catalog = _read(catalog_path(language), language)
    translated = {_key(message): message for message in _entries(catalog)}
    assert template <= translated.keys(), f"missing in {language}: {template - translated.keys()}"
    for key, message in translated.items():
        assert not message.fuzzy, f"{language}: fuzzy translation of {key!r}"
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(form.strip() for form in forms), f"{language}: empty translation of {key!r}"
        if message.pluralizable:
            assert len(forms) == catalog.num_plurals, f"{language}: plural forms of {key!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders_of_the_original(language: str) -> None:
    for message in _entries(_read(catalog_path(language), language)):
        originals = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = _placeholders(originals[-1])
        assert _placeholders(originals[0]) == expected
        for form in forms:
            assert _placeholders(form) == expected, f"{language}: {form!r} vs {originals[0]!r}"


@pytest.mark.parametrize(
    ("explicit", "cookie", "accept_language", "default", "expected"),
    [
        ("pl", "ru", "ru-RU,ru;q=0.9", "en", "pl"),  # the user's setting wins
        (None, "ru", "pl-PL,pl;q=0.9", "en", "ru"),  # then the cookie
        ("de", "ru", None, "en", "ru"),  # an unsupported setting is skipped
        (None, None, "de-DE,pl;q=0.8,ru;q=0.9", "en", "ru"),  # by quality, not order
        (None, None, "pl-PL,ru;q=0.9,en;q=0.8", "en", "pl"),
        (None, "xx", "fr, *;q=0.5", "pl", "pl"),  # nothing usable: the default
        (None, None, "ru;q=0, pl;q=0.1", "en", "pl"),  # q=0 means "not this one"
        (None, None, None, "ru", "ru"),
        (None, None, "garbage;q=abc", "en", "en"),
        ("RU", None, None, "en", "ru"),  # tags are case-insensitive
    ],
)
def test_language_negotiation(
    explicit: str | None,
    cookie: str | None,
    accept_language: str | None,
    default: str,
    expected: str,
) -> None:
    assert negotiate_language(explicit, cookie, accept_language, default) == expected


def test_catalogs_are_compiled_once_and_english_is_the_source() -> None:
    assert translations("ru") is translations("ru")
    assert isinstance(translations("ru"), gettext.GNUTranslations)
    assert translations("en").gettext("Log in") == "Log in"
    assert translations("xx").gettext("Log in") == "Log in"


def test_no_compiled_catalogs_are_kept_in_the_tree() -> None:
    assert not list(LOCALE_DIR.rglob("*.mo"))


@pytest.mark.parametrize(
    ("language", "seconds", "expected"),
    [
        ("ru", 1, "Повторите через 1 секунду."),
        ("ru", 3, "Повторите через 3 секунды."),
        ("ru", 25, "Повторите через 25 секунд."),
        ("pl", 1, "Spróbuj ponownie za 1 sekundę."),
        ("pl", 22, "Spróbuj ponownie za 22 sekundy."),
        ("pl", 12, "Spróbuj ponownie za 12 sekund."),
    ],
)
def test_plural_forms_follow_the_grammar_of_the_language(
    language: str, seconds: int, expected: str
) -> None:
    message = translations(language).ngettext(
        "Too many failed logins. Try again in %(seconds)d second.",
        "Too many failed logins. Try again in %(seconds)d seconds.",
        seconds,
    ) % {"seconds": seconds}
    assert message.endswith(expected)


def test_templates_render_in_the_language_of_each_render_call() -> None:
    environment = create_template_environment(
        DictLoader(
            {
                "page.html": (
                    "<h1>{{ _('Log in') }}</h1>"
                    "<p>{% trans name=name, role=role %}Signed in as {{ name }} ({{ role }})"
                    "{% endtrans %}</p>"
                )
            }
        )
    )
    page = environment.get_template("page.html")
    context = {"name": "Анна <b>", "role": "admin"}
    russian = page.render(translations=translations("ru"), **context)
    polish = page.render(translations=translations("pl"), **context)
    english = page.render(**context)
    assert russian == "<h1>Войти</h1><p>Вы вошли как Анна &lt;b&gt; (admin)</p>"
    assert polish == "<h1>Zaloguj się</h1><p>Zalogowano jako Анна &lt;b&gt; (admin)</p>"
    assert english == "<h1>Log in</h1><p>Signed in as Анна &lt;b&gt; (admin)</p>"
