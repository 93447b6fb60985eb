"""English and Simplified Chinese ship complete: every message has a translation and the
compiled catalogue the portal loads says the same as the source."""

import gettext
from pathlib import Path

import polib
from django.conf import settings

PO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_chinese_catalogue_is_complete():
    catalogue = polib.pofile(str(PO))
    assert [e.msgid for e in catalogue.untranslated_entries()] == []
    assert [e.msgid for e in catalogue.fuzzy_entries()] == []


def test_compiled_catalogue_matches_the_source():
    compiled = gettext.GNUTranslations(PO.with_suffix(".mo").open("rb"))
    for entry in polib.pofile(str(PO)).translated_entries():
        if entry.msgid_plural:
            assert compiled.ngettext(entry.msgid, entry.msgid_plural, 1) == entry.msgstr_plural[0]
        elif entry.msgctxt:
            assert compiled.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr
        else:
            assert compiled.gettext(entry.msgid) == entry.msgstr, entry.msgid


def test_every_template_string_is_in_the_catalogue():
    """A string added to a template without running `make messages` fails here."""
    import re

    msgids = {e.msgid for e in polib.pofile(str(PO))}
    pattern = re.compile(r'{%\s*translate\s+"([^"]+)"')
    missing = []
    for template in (Path(settings.BASE_DIR) / "templates").rglob("*.html"):
        for text in pattern.findall(template.read_text()):
            if text.replace("%", "%%") not in msgids:  # how makemessages stores a "%"
                missing.append(f"{template.name}: {text}")
    assert missing == []
