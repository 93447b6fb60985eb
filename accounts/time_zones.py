"""Time zones a customer can pick, and the one a browser says it is in.

The stored value is always an IANA name ("America/New_York"); what the customer reads is
a list grouped by region, each option its current offset and its city in their language:
"(UTC−05:00) New York", "(UTC−05:00) 纽约". The offered zones are those of the IANA
`zone.tab` (one per country and region, 400-odd, shipped with the tzdata package), plus
UTC. City names come from CLDR through Babel; CLDR keys some cities by their older IANA
names ("Asia/Saigon" for "Asia/Ho_Chi_Minh"), which Babel's own lookup misses, so the
aliases are followed here.
"""

import importlib.resources
import zoneinfo
from datetime import datetime
from functools import cache, lru_cache

from babel.core import get_global
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from portal.formatting import babel_locale

DEFAULT = "UTC"
# The groups, in the order shown. Zones of other areas (Etc/GMT+5, the legacy "US/…")
# are valid to store but not offered.
REGIONS = {
    "Africa": _("Africa"),
    "America": _("Americas"),
    "Antarctica": _("Antarctica"),
    "Arctic": _("Arctic"),
    "Asia": _("Asia"),
    "Atlantic": _("Atlantic Ocean"),
    "Australia": _("Australia"),
    "Europe": _("Europe"),
    "Indian": _("Indian Ocean"),
    "Pacific": _("Pacific Ocean"),
}
# What browsers and systems call UTC itself ("Etc/UTC", "GMT", "Zulu", ...), after aliases.
_SAME_AS_UTC = {"Etc/UTC", "Etc/GMT"}
_MINUS = "\u2212"  # "UTC−05:00" reads as a minus, not a hyphen


@cache
def offered() -> frozenset[str]:
    """The IANA names the lists offer: every zone of zone.tab, and UTC."""
    table = importlib.resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text()
    names = {line.split("\t")[2] for line in table.splitlines()
             if line and not line.startswith("#")}
    return frozenset(name for name in names if name.split("/", 1)[0] in REGIONS
                     and _loads(name)) | {DEFAULT}


def _loads(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def _aliases() -> tuple[dict[str, str], dict[str, list[str]]]:
    """CLDR's aliases: an old name to the current one ("Asia/Calcutta" → "Asia/Kolkata"),
    and each current name to its old ones."""
    to_current: dict[str, str] = dict(get_global("zone_aliases"))
    to_old: dict[str, list[str]] = {}
    for old, current in to_current.items():
        to_old.setdefault(current, []).append(old)
    return to_current, to_old


def time_zone_normalise(name: object) -> str:
    """The zone to store for what a browser or a form sent: its current IANA name when
    it is an old alias of an offered one ("Asia/Calcutta" → "Asia/Kolkata", Chrome still
    says the former), the name itself when it is any other real zone, else UTC. Never
    raises, whatever it is given."""
    if not isinstance(name, str) or not name or len(name) > 64 or not name.isascii():
        return DEFAULT
    name = name.strip()
    current = _aliases()[0].get(name, name)
    if current in _SAME_AS_UTC:
        return DEFAULT
    if current in offered():
        return current
    return name if _loads(name) else DEFAULT


def _offset(name: str, now: datetime) -> int:
    """The zone's offset from UTC at `now`, in minutes."""
    delta = now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset()
    return int(delta.total_seconds() // 60) if delta is not None else 0


def _offset_label(minutes: int) -> str:
    sign = _MINUS if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def city_name(name: str, language: str | None = None) -> str:
    """The zone's city in the language: CLDR's exemplar city when it has one (under the
    zone's current or an older name), else the IANA name's last part made readable."""
    locale_zones = babel_locale(language).time_zones
    for key in (name, *_aliases()[1].get(name, ())):
        city = locale_zones.get(key, {}).get("city")
        if city:
            return city
    if name == DEFAULT:
        return "UTC"
    return name.rsplit("/", 1)[-1].replace("_", " ")


def time_zone_label(name: str, language: str | None = None,
                    now: datetime | None = None) -> str:
    """"(UTC−05:00) New York": the zone as one option reads."""
    now = now or timezone.now()
    return f"({_offset_label(_offset(name, now))}) {city_name(name, language)}"


def time_zone_choices() -> list[tuple[str, object]]:
    """Grouped choices for a select, in the active language, with today's offsets: UTC
    first, then one group per region, each sorted by offset, then city."""
    language = translation.get_language() or "en"
    # Offsets change with daylight saving time: the list is built again each hour.
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    return _choices(language, hour)


@lru_cache(maxsize=8)
def _choices(language: str, hour: datetime) -> list[tuple[str, object]]:
    with translation.override(language):
        grouped: dict[str, list[tuple[int, str, str]]] = {region: [] for region in REGIONS}
        for name in offered() - {DEFAULT}:
            minutes = _offset(name, hour)
            label = f"({_offset_label(minutes)}) {city_name(name, language)}"
            grouped[name.split("/", 1)[0]].append((minutes, label, name))
        choices: list[tuple[str, object]] = [(DEFAULT, f"({_offset_label(0)}) UTC")]
        for region, title in REGIONS.items():
            options = [(name, label) for _m, label, name in sorted(grouped[region])]
            choices.append((str(title), options))
    return choices


def time_zone_choices_with(current: str) -> list[tuple[str, object]]:
    """The grouped choices, with `current` added under "Other" when it is a real zone
    the list does not offer (an old account's "US/Eastern"), so saving the page keeps
    it instead of failing."""
    choices = time_zone_choices()
    if current and current not in offered() and _loads(current):
        choices = [*choices, (str(_("Other")), [(current, time_zone_label(current))])]
    return choices
