"""The zh catalog is whole (edge/office/console/locale/zh/LC_MESSAGES/messages.po): every message the source
marks for it (extracted as `make messages` does) is there, each with its Chinese; none empty or fuzzy, and no
Chinese names a part its English does not give. A message added without its Chinese shows in English on a
Chinese-first console (``edge.office.console.catalogs.say_in``): found here, not by a committee member."""

from __future__ import annotations

import re
import shlex
import string
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "edge" / "office" / "console" / "locale" / "zh" / "LC_MESSAGES" / "messages.po"


def _catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="zh")


def _strings(value) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _extract_keywords() -> dict:
    """The ``-k`` keywords of the Makefile's ``pybabel extract`` line (its one owner), with babel's defaults."""
    line = next(ln for ln in (ROOT / "Makefile").read_text().splitlines() if "pybabel" in ln and " extract " in ln)
    words = shlex.split(line)
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update(parse_keywords([words[i + 1] for i, word in enumerate(words) if word == "-k"]))
    return keywords


def test_no_message_of_the_catalog_is_without_its_chinese():
    catalog = _catalog()
    assert len(catalog) > 700  # the catalog read is the console's, not an empty stand-in
    empty = [message.id for message in catalog if message.id and not all(_strings(message.string))]
    assert not empty, f"{len(empty)} messages without Chinese in {PO.relative_to(ROOT)}: {empty}"
    fuzzy = [message.id for message in catalog if message.id and message.fuzzy]
    assert not fuzzy, f"fuzzy (a guess of pybabel's, never reviewed): {fuzzy}"


def test_no_chinese_names_a_part_its_english_does_not_give():
    wrong = []
    for message in _catalog():
        if not message.id or not message.python_brace_format:
            continue
        english = set().union(*(_names(text) for text in _strings(message.id)))
        for chinese in _strings(message.string):
            if not _names(chinese) <= english:
                wrong.append((message.id, chinese))
    assert not wrong, wrong


def test_every_message_the_source_marks_is_in_the_catalog():
    """As `make messages` extracts them (babel.cfg, the Makefile's keywords): a message added to the source is
    in the catalog, so the test above asks for its Chinese (`make messages` adds it, empty)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    catalog = _catalog()
    missing = set()
    for filename, _, message, _, context in extract_from_dir(str(ROOT), method_map, options_map,
                                                              keywords=_extract_keywords()):
        msgid = message[0] if isinstance(message, (tuple, list)) else message
        if msgid and not re.match(r"^(\.venv|build)/", filename) and catalog.get(msgid, context) is None:
            missing.add((filename, context, msgid))
    assert not missing, f"run `make messages` and translate: {sorted(missing)}"
