"""How money, data and durations read on screen and in messages."""

import unicodedata
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, get_currency_symbol
from django.conf import settings
from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# The CLDR locale whose money conventions each portal language follows. English is
# "English (world)", not the US: its customers come from everywhere, so a dollar is
# "US$" (not "$", which a Canadian or a Hongkonger reads as their own) and a yen "JP¥"
# beside "CN¥". Chinese is mainland China's: its own yuan is "¥", Japan's "JP¥".
_BABEL_LOCALES = {"en": "en_001", "zh-hans": "zh_Hans_CN"}
_NO_BREAK_SPACE = "\u00a0"


def currency_exponent(currency: str) -> int:
    """How many minor units make the major one, as a power of ten: 2 for USD (cents),
    0 for JPY, 3 for BHD (CLDR's figures, through Babel). Amounts are stored in minor
    units of this size and sent to the payment gateway as they are."""
    return get_currency_precision(currency.upper())


def money(amount_minor: int | None, currency: str) -> str:
    """An amount in the active language's conventions: "US$1,234.50", "CN¥58.00" and
    "JP¥1,200" in English, "US$1,234.50", "¥58.00" and "JP¥1,200" in Chinese, negative
    (a credit note) as "-US$8.00". The one place money is turned into text."""
    if amount_minor is None:
        return ""
    code = currency.upper()
    locale = babel_locale()
    amount = Decimal(amount_minor).scaleb(-currency_exponent(code))
    text = format_currency(amount, code, locale=locale)
    return _space_letters_from_digits(text, get_currency_symbol(code, locale=locale))


def babel_locale(language: str | None = None) -> Locale:
    """The Babel locale for a portal language (by default the active one)."""
    return _locale_for(language or translation.get_language() or settings.LANGUAGE_CODE)


@cache
def _locale_for(language: str) -> Locale:
    name = _BABEL_LOCALES.get(language.lower())
    if name is None:  # a language the portal does not offer: its own CLDR data, if any
        try:
            return Locale.parse(translation.to_locale(language))
        except (ValueError, UnknownLocaleError):
            name = _BABEL_LOCALES[settings.LANGUAGE_CODE]
    return Locale.parse(name)


def _space_letters_from_digits(text: str, symbol: str) -> str:
    """CLDR's currency spacing, which Babel leaves out: a symbol that ends (or starts)
    in a letter gets a no-break space before the digits, so "CHF 12.00", not
    "CHF12.00"; a sign ("US$", "¥", "€") stays close."""
    at = text.find(symbol)
    if at < 0 or not symbol:
        return text
    end = at + len(symbol)
    if end < len(text) and text[end].isdigit() and not _is_sign(symbol[-1]):
        text = text[:end] + _NO_BREAK_SPACE + text[end:]
    if at > 0 and text[at - 1].isdigit() and not _is_sign(symbol[0]):
        text = text[:at] + _NO_BREAK_SPACE + text[at:]
    return text


def _is_sign(char: str) -> bool:
    return unicodedata.category(char)[0] in "SZ"


def data_amount(megabytes: int | None) -> str:
    if megabytes is None:
        return _("Unlimited")
    if megabytes >= 1024 and megabytes % 1024 == 0:
        return _("%(n)s GB") % {"n": megabytes // 1024}
    if megabytes >= 1024:
        return _("%(n)s GB") % {"n": number_format(megabytes / 1024, decimal_pos=1)}
    return _("%(n)s MB") % {"n": megabytes}


_MB = 1024 * 1024


def data_bytes(num_bytes: int | None, *, at_least: bool = False) -> str:
    """An amount of data as people read it: GB with two decimals from 1 GB, MB below
    (one decimal under 10 MB), and exactly nothing as "0 MB".

    Rounded to the nearest shown digit, except with `at_least` (data LEFT): then never
    below the truth, so an unused 3 GB plan reads "3.00 GB left", not "2.99 GB", and a
    few bytes left are not shown as none.
    """
    if num_bytes is None:
        return _("Unlimited")
    rounding = ROUND_CEILING if at_least else ROUND_HALF_UP
    mb = Decimal(num_bytes) / _MB
    if mb >= 1024:
        return _("%(n)s GB") % {"n": _decimal(mb / 1024, 2, rounding)}
    if num_bytes == 0:
        return _("%(n)s MB") % {"n": 0}
    return _("%(n)s MB") % {"n": _decimal(mb, 0 if mb >= 10 else 1, rounding)}


def data_left(num_bytes: int | None) -> str:
    """Data left: never shown as less than there is (see `data_bytes`)."""
    return data_bytes(num_bytes, at_least=True)


def _decimal(value: Decimal, places: int, rounding: str) -> str:
    # Rounded here, so number_format (which cuts extra digits off) has none to cut.
    exact = value.quantize(Decimal(1).scaleb(-places), rounding=rounding)
    return number_format(exact, decimal_pos=places)


def usage_age(reported_at: datetime | None, now: datetime) -> str:
    """How fresh a usage figure is: "updated 12 min ago", in steps that change at most
    once a minute (the dashboard caches a card per shown text), or "not reported yet"."""
    if reported_at is None:
        return _("not reported yet")
    seconds = (now - reported_at).total_seconds()
    if seconds < 60:  # a report a little ahead of our clock is fresh too
        return _("updated just now")
    minutes = int(seconds // 60)
    if minutes < 60:
        return ngettext("updated %(n)s min ago", "updated %(n)s min ago", minutes) % {
            "n": minutes}
    hours = minutes // 60
    if hours < 24:
        return ngettext("updated %(n)s hour ago", "updated %(n)s hours ago", hours) % {
            "n": hours}
    days = hours // 24
    return ngettext("updated %(n)s day ago", "updated %(n)s days ago", days) % {"n": days}


def validity(days: int) -> str:
    return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
