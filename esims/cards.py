"""Dashboard cards, rendered once per distinct content and then served from the cache.

The dashboard is the page customers come back to most, so its steady state is one
narrow query and one cache read. The query fetches exactly the facts each card shows;
a card's cache key is a digest of those facts (with days left, language and time zone),
so a cached card can never be stale: anything it shows that changes makes a new key.
Only cards not cached yet are built from full model objects. The rename form's CSRF
token differs per session, so cards are cached with a placeholder swapped on the way out.
"""

import hashlib
from datetime import UTC
from functools import cache as cache_on_first_use

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from modeltranslation.utils import build_localized_fieldname

from plans.models import Plan

from . import selectors
from .models import Bundle, ESim, days_left

CSRF_PLACEHOLDER = "__csrf_token_placeholder__"

_ESIM_FACTS = ("id", "nickname", "state", "iccid", "smdp_address", "matching_id")
_BUNDLE_FACTS = ("id", "state", "data_used_bytes", "data_allowance_bytes", "validity_days",
                 "ends_at")


@cache_on_first_use
def _facts_sql() -> str:
    """The dashboard's one query, written once: building it through the ORM on every
    request cost more CPU than everything else on the page."""
    esim, bundle, plan = ESim._meta.db_table, Bundle._meta.db_table, Plan._meta.db_table
    # The card shows the plan's name in the reader's language, so every translation of
    # it is a fact: renaming the plan in admin changes the card.
    names = [f"p.{build_localized_fieldname('name', code)}" for code, _ in settings.LANGUAGES]
    columns = ([f"e.{c}" for c in _ESIM_FACTS] + [f"b.{c}" for c in _BUNDLE_FACTS]
               + names)
    live = ", ".join(["%s"] * len(selectors.LIVE_STATES))
    # Only table and column names from our own models are formatted in; values are bound.
    return (f"SELECT {', '.join(columns)} FROM {esim} e "  # noqa: S608
            f"LEFT JOIN {bundle} b ON b.esim_id = e.id AND b.state IN ({live}) "
            f"LEFT JOIN {plan} p ON p.id = b.plan_id "
            f"WHERE e.owner_id = %s AND e.state <> %s "
            f"ORDER BY e.created_at, e.id, b.created_at, b.id")


def _card_facts(*, owner) -> list[tuple[int, str]]:
    """(eSIM id, cache key) for each of the owner's cards, in dashboard order."""
    with connection.cursor() as cursor:
        cursor.execute(_facts_sql(), [*selectors.LIVE_STATES, owner.pk, ESim.State.CANCELLED])
        rows = cursor.fetchall()
    now = timezone.now()
    prefix = f"esim-card:2:{translation.get_language()}:{timezone.get_current_timezone_name()}"
    facts: dict[int, list] = {}
    for row in rows:
        esim_facts = row[:len(_ESIM_FACTS)]
        bundle_facts = row[len(_ESIM_FACTS):len(_ESIM_FACTS) + len(_BUNDLE_FACTS)]
        plan_names = row[len(_ESIM_FACTS) + len(_BUNDLE_FACTS):]
        entry = facts.setdefault(esim_facts[0], [esim_facts])
        if bundle_facts[0] is not None:
            ends_at = bundle_facts[-1]
            if ends_at is not None and timezone.is_naive(ends_at):
                ends_at = timezone.make_aware(ends_at, UTC)  # SQLite stores UTC, naive
            entry.append((*bundle_facts[:-1], ends_at, days_left(ends_at, now), *plan_names))
    return [(pk, prefix + ":" + hashlib.blake2b(repr(entry).encode(), digest_size=16)
             .hexdigest()) for pk, entry in facts.items()]


def _render_card(esim: ESim) -> str:
    bundle = selectors.esim_current_bundle(esim)
    queued = [b for b in esim.live_bundles if b.state == Bundle.State.QUEUED and b != bundle]
    return render_to_string("esims/_card.html", {
        "esim": esim, "bundle": bundle, "queued": queued,
        "csrf_input": mark_safe(CSRF_PLACEHOLDER)})  # noqa: S308 (a constant)


def dashboard_cards_html(request) -> str:
    """The HTML of the signed-in customer's eSIM cards, in order, with a placeholder for
    the CSRF token (see card_with_csrf); empty when they have none."""
    keys = _card_facts(owner=request.user)
    cache = caches["cards"]
    cached = cache.get_many([key for _pk, key in keys]) if keys else {}
    missing = [pk for pk, key in keys if key not in cached]
    if missing:
        esims = selectors.esim_list_for_dashboard(owner=request.user).filter(pk__in=missing)
        key_of = dict(keys)
        fresh = {key_of[esim.pk]: _render_card(esim) for esim in esims}
        cache.set_many(fresh)
        cached.update(fresh)
    return "".join(cached[key] for _pk, key in keys if key in cached)


def card_with_csrf(cards: str, csrf_token) -> SafeString:
    """Put this page's CSRF token (the one the rest of the page uses) into the cards."""
    field = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">',
                        csrf_token)
    return mark_safe(cards.replace(CSRF_PLACEHOLDER, field))  # noqa: S308 (escaped above)
