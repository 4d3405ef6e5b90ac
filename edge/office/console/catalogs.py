"""The console's languages: gettext catalogs (Babel), Simplified Chinese by default, English selectable.

The page's language is the cookie ``lang`` (``LANGS``: zh unless it says en). Messages are English msgids
marked where they are written (``_()``/``gettext``/``pgettext`` in Python, ``{% trans %}``/``_()`` in the
templates, ``N_`` for a table of them); the Chinese is ``locale/zh/LC_MESSAGES/messages.po``, compiled to
``messages.mo`` at install (``scripts/install-venv.sh``, ``make``; ``babel.cfg`` says what ``pybabel
extract`` reads). English needs no catalog: a msgid is its own English.

What gates write is said from its code (``edge.schemas.phrases``): ``said`` gives an event's reason or a
device alert's detail in the page's language from its ``…_code`` and ``…_params``, and falls back to the
English text when there is no code (an older gate), a code this version does not know, or no
translation of it; ``device`` names a device alert's device (``camera:cam-in``) likewise. An error is a
message written with ``tell`` where it is raised: ``say_in`` says it in the page's language, or in English
when the catalog cannot say it whole.
"""

from __future__ import annotations

import gettext
import io
import logging
from functools import cache
from pathlib import Path

from jinja2 import Environment, pass_context

from edge.schemas.phrases import NP_, Said, from_wire

_LOG = logging.getLogger(__name__)
LANGS = ("zh", "en")
DEFAULT = "zh"
DOMAIN = "messages"
LOCALES = Path(__file__).parent / "locale"


# A device alert's device is "<kind>:<id>" (or "<kind>"): its kind in words, its id as is.
DEVICE_KINDS = {
    "camera": NP_("device", "camera"), "barrier": NP_("device", "barrier"), "gate": NP_("device", "gate"),
    "parking": NP_("device", "parking"), "worker": NP_("device", "worker"), "broker": NP_("device", "broker"),
    "outbox": NP_("device", "outbox"), "disk": NP_("device", "disk"), "storage": NP_("device", "storage"),
    "faces": NP_("device", "faces"), "registry": NP_("device", "registry"), "clock": NP_("device", "clock"),
    "site": NP_("device", "site"), "peer-events": NP_("device", "peer-events"),
    "notify": NP_("device", "notify"), "portal": NP_("device", "portal"),
}


def language(value: str | None) -> str:
    """The console's language from the ``lang`` cookie's value: zh unless it says another of ``LANGS``."""
    return value if value in LANGS else DEFAULT


@cache
def catalog(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English: none, every msgid is its English). A missing or stale
    ``.mo`` (the ``.po`` changed since the install compiled it) is compiled here from the ``.po``, said in
    the log: the page is never shown with an old translation."""
    if lang == "en":
        return gettext.NullTranslations()
    po = LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as compiled:
            return gettext.GNUTranslations(compiled)
    _LOG.warning("console: %s is %s; compiling %s in memory (make install, or pybabel compile -d %s, compiles it)",
                 mo, "older than its .po" if mo.exists() else "missing", po.name, LOCALES)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        read = read_po(source, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, read)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def gettext_for(lang: str):
    """``gettext(message)`` in ``lang``."""
    return catalog(language(lang)).gettext


def pgettext_for(lang: str):
    """``pgettext(context, message)`` in ``lang``."""
    return catalog(language(lang)).pgettext


def translated(lang: str):
    """(``message``, its context) -> its translation in ``lang``, or None when the catalog has none (never
    half said); English: the message itself."""
    translations = catalog(language(lang))

    def lookup(message: str, context: str | None = None) -> str | None:
        said = translations.pgettext(context, message) if context else translations.gettext(message)
        return said if said != message or lang == "en" else None

    return lookup


def say_in(said: Said | str, lang: str) -> str:
    """A message (``edge.schemas.phrases.Said``) in ``lang``; in English when the catalog cannot say it whole.
    A plain string is what another module wrote as it is."""
    if not isinstance(said, Said):
        return said
    return said.render(translated(lang)) or said.text


def said(payload: dict, field: str, lang: str) -> str:
    """An event's ``reason`` or a device alert's ``detail`` (``field``) in ``lang``, from its code and
    parameters; its English text when it has no code, one this version does not know, or no translation."""
    text = payload.get(field) or ""
    params = payload.get(f"{field}_params")
    if isinstance(params, str):  # an alert row keeps its parameters as JSON text
        import json

        try:
            params = json.loads(params)
        except ValueError:
            return text
    phrase = from_wire(payload.get(f"{field}_code"), params)
    if phrase is None or lang == "en":
        return text
    return phrase.render(translated(lang)) or text


def device(name: str | None, lang: str) -> str:
    """A device alert's device (``camera:cam-in``, ``broker``) in ``lang``: its kind in words, its id as is."""
    if not name or lang == "en":
        return name or ""
    kind, _, ident = name.partition(":")
    if kind not in DEVICE_KINDS:
        return name
    context, word = DEVICE_KINDS[kind]
    said_kind = pgettext_for(lang)(context, word)
    return f"{said_kind} {ident}".strip() if said_kind != word else name


@pass_context
def _gettext(context, message: str) -> str:
    return gettext_for(context.get("lang", DEFAULT))(message)


@pass_context
def _ngettext(context, singular: str, plural: str, n: int) -> str:
    return catalog(language(context.get("lang", DEFAULT))).ngettext(singular, plural, n)


@pass_context
def _pgettext(context, msgctxt: str, message: str) -> str:
    return pgettext_for(context.get("lang", DEFAULT))(msgctxt, message)


@pass_context
def _npgettext(context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return catalog(language(context.get("lang", DEFAULT))).npgettext(msgctxt, singular, plural, n)


def install(env: Environment) -> Environment:
    """Jinja2's i18n extension on ``env``, its gettext callables saying each page in its ``lang``."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext)
    return env
