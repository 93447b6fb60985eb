"""How money, data and durations read on screen and in messages."""

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

_ZERO_DECIMAL = {"JPY", "KRW", "VND", "CLP", "ISK"}
_SYMBOLS = {"USD": "US$", "EUR": "€", "CNY": "¥", "GBP": "£", "JPY": "JP¥", "HKD": "HK$"}


def currency_exponent(currency: str) -> int:
    return 0 if currency.upper() in _ZERO_DECIMAL else 2


def money(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None:
        return ""
    exponent = currency_exponent(currency)
    amount = Decimal(amount_minor).scaleb(-exponent)
    text = number_format(amount, decimal_pos=exponent, use_l10n=True, force_grouping=True)
    symbol = _SYMBOLS.get(currency.upper())
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


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
