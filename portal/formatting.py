"""How money, data and durations read on screen and in messages."""

from decimal import Decimal

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


def data_bytes(num_bytes: int | None) -> str:
    if num_bytes is None:
        return _("Unlimited")
    mb = num_bytes / (1024 * 1024)
    if mb >= 1024:
        return _("%(n)s GB") % {"n": number_format(mb / 1024, decimal_pos=2)}
    return _("%(n)s MB") % {"n": number_format(mb, decimal_pos=0 if mb >= 10 else 1)}


def validity(days: int) -> str:
    return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
