from django import template
from django.utils import timezone
from django.utils.translation import gettext_noop, pgettext, to_locale

from portal import formatting

register = template.Library()


# Django's forms (and the admin's) end each label with gettext(":"). Django's own Chinese
# catalogue answers with a half-width colon; ours, which comes first, with the full-width
# one. Named here so that makemessages keeps the entry. Likewise the audit log's section
# in the admin, which django-auditlog names but ships no Chinese for.
gettext_noop(":")
gettext_noop("Audit log")


@register.simple_tag
def colon():
    """The separator between a label and what follows ("Card: Visa", "Renew: <link>"),
    in the reader's language: Chinese writes a full-width colon."""
    return pgettext("label separator", ": ")


@register.filter
def html_lang(language_code):
    """A Django language code as the BCP 47 tag of an HTML `lang` attribute ("zh-hans"
    becomes "zh-Hans"): the script subtag in title case, as screen readers expect."""
    return to_locale(language_code).replace("_", "-")


@register.simple_tag
def money(amount_minor, currency):
    """`{% money order.amount_minor order.currency %}`: the amount in the active
    language's conventions (portal/formatting.py, through Babel)."""
    return formatting.money(amount_minor, currency)


@register.filter
def data_mb(megabytes):
    return formatting.data_amount(megabytes)


@register.filter
def data_bytes(num_bytes):
    return formatting.data_bytes(num_bytes)


@register.filter
def data_left(num_bytes):
    """Data left, never rounded below the truth."""
    return formatting.data_left(num_bytes)


@register.filter
def usage_age(reported_at):
    """"updated 12 min ago" or "not reported yet" (portal/formatting.py)."""
    return formatting.usage_age(reported_at, timezone.now())


@register.filter
def validity(days):
    return formatting.validity(days)


@register.filter
def percent_of(part, whole):
    """Whole-number percentage for progress bars, clamped to 0..100."""
    if not whole:
        return 0
    return max(0, min(100, round(100 * (part or 0) / whole)))

