"""Reads of the catalogue. Each runs a fixed number of queries whatever its size."""

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404
from django.utils import translation
from django_countries import countries

from .models import CoverageScope, Plan, PlanPrice

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class PriceAnnotation(TypedDict):
        price_minor: int  # in the currency asked for (plans_with_price)

    # A plan from `plans_with_price`: its `price_minor` is a queryset annotation, which
    # django-stubs cannot see on Plan.
    PricedPlan: TypeAlias = WithAnnotations[Plan, PriceAnnotation]

# Data filter buckets: (key, lowest MB inclusive, highest MB inclusive or None).
DATA_BUCKETS = {
    "small": (0, 3 * 1024),
    "medium": (3 * 1024 + 1, 10 * 1024),
    "large": (10 * 1024 + 1, None),
}


@dataclass(frozen=True)
class CatalogueFilter:
    place: str = ""  # a country name or code, or a region name, as typed
    validity_kind: str = ""
    data: str = ""  # a DATA_BUCKETS key or "unlimited"


# What travellers type for a country that is not its ISO name ("United States of
# America", "United Kingdom of Great Britain and Northern Ireland", "Macao").
COUNTRY_ALIASES = {
    "uk": "GB", "britain": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "united states": "US", "america": "US",
    "the us": "US", "the usa": "US", "korea": "KR", "macau": "MO", "uae": "AE",
    "emirates": "AE", "holland": "NL",
}


def country_code_for(text: str) -> str | None:
    """Match what a customer typed to an ISO country code, in any shipped language."""
    text = text.strip()
    if not text:
        return None
    if len(text) == 2 and text.upper() in countries:
        return text.upper()
    if len(text) == 3 and (alpha3 := countries.alpha2(text)):  # "USA", "GBR"
        return alpha3
    if alias := COUNTRY_ALIASES.get(text.casefold()):
        return alias
    code = countries.by_name(text, insensitive=True)
    if code:
        return code
    lowered = text.casefold()
    for language, _name in settings.LANGUAGES:  # a traveller may type either language
        with translation.override(language):
            for code, name in countries:
                if name.casefold() == lowered:
                    return code
    return None


_PRICES_READ: ContextVar[dict | None] = ContextVar("plan_prices_read", default=None)


@contextmanager
def prices_read_once() -> Iterator[None]:
    """Within this block, a price lookup made through `price_read_once` asks the database
    once per key: for a batch of messages quoting the same few plans. The block is one
    task's (a context variable: threads and other tasks are not affected), so a price
    changed in admin is seen by the next batch."""
    token = _PRICES_READ.set({})
    try:
        yield
    finally:
        _PRICES_READ.reset(token)


def price_read_once(key: Hashable, read: Callable[[], Any]) -> Any:
    """`read()`, or its answer for `key` from earlier in the same `prices_read_once`."""
    memo = _PRICES_READ.get()
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]


def plans_with_price(*, currency: str) -> "QuerySet[PricedPlan]":
    price = PlanPrice.objects.filter(plan=OuterRef("pk"), currency=currency)
    return (Plan.objects.filter(is_active=True)
            .annotate(price_minor=Subquery(price.values("amount_minor")[:1]))
            .filter(price_minor__isnull=False))


def plan_list(*, currency: str, filters: CatalogueFilter) -> "QuerySet[PricedPlan]":
    plans = plans_with_price(currency=currency).filter(is_topup=False)
    if filters.place:
        code = country_code_for(filters.place)
        if code:
            # Stored as comma-separated two-letter codes: a substring match is exact.
            plans = plans.filter(countries__contains=code)
        else:
            plans = plans.filter(coverage_name__icontains=filters.place.strip())
    if filters.validity_kind:
        plans = plans.filter(validity_kind=filters.validity_kind)
    if filters.data == "unlimited":
        plans = plans.filter(data_mb__isnull=True)
    elif filters.data in DATA_BUCKETS:
        low, high = DATA_BUCKETS[filters.data]
        plans = plans.filter(data_mb__gte=low)
        if high is not None:
            plans = plans.filter(data_mb__lte=high)
    return plans.order_by("sort_order", "validity_days", "data_mb", "pk")


def plan_get_for_sale(*, code: str, currency: str) -> "PricedPlan":
    """The plan a customer may buy, priced in their currency; 404 otherwise."""
    plan = plans_with_price(currency=currency).filter(code=code).first()
    if plan is None:
        raise Http404("No such plan on sale.")
    return plan


def place_suggestions() -> list[str]:
    """What the searchable place box offers: region names, then country names."""
    regions = (Plan.objects.filter(is_active=True, is_topup=False)
               .exclude(coverage_scope=CoverageScope.COUNTRY)
               .values_list("coverage_name", flat=True).distinct())
    return sorted(set(regions)) + [name for _code, name in countries]
