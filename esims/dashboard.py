"""The dashboard, rendered once per distinct content and then served from memory.

The dashboard is the page customers come back to most, so its steady state is one
narrow query and one lookup in the process's memory. The query fetches exactly the
facts each eSIM card shows; a card's cache key is a digest of those facts (with days
left, how fresh the usage figure reads now, language and time zone), and the page's key
a digest of its cards' keys, the customer viewing it, language, time zone and path. A
cached card or page can therefore never be stale, nor shown to anyone else: anything it
shows that changes makes a new key, so a copy in each process's memory is always right.
What changes with the clock alone (days left, "updated 12 min ago") is put in the key as
the text shown, in steps of a minute at least, so the cache still serves most requests;
so is whether an eSIM ready to install may still be cancelled and refunded (its order's
number, or None), which ends SELF_REFUND_DAYS after payment.

Nothing a visitor can vary at will is in a key, so nothing they send fills the cache: the
page reads no query parameter, and is rendered as if asked for without one. A parameter
it comes to read must be checked against its allowed values and put in the page's key.
No price is shown, so the currency is not in it either.

Pages are rendered with a placeholder where the CSRF token goes (it differs per session)
and the real token is put in on the way out. A page with a flash message to show is
rendered afresh and never stored, so a message is shown once, and only to its reader.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache as cache_on_first_use

from django.conf import settings
from django.contrib import messages
from django.core.cache import caches
from django.db import connection
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils import timezone, translation
from modeltranslation.utils import build_localized_fieldname

from billing import selectors as billing_selectors
from plans.models import Plan
from portal.formatting import usage_age
from renewals.selectors import renewal_offer

from . import selectors
from .models import Bundle, ESim, days_left

# Stands where the CSRF token goes in cached HTML; the real one is put in per response.
CSRF_PLACEHOLDER = "csrf-token-placeholder-0000000000000000000000000000000000000000000000"

_ESIM_FACTS = ("id", "nickname", "state", "iccid", "smdp_address", "matching_id",
               "auto_renew", "renewal_attention")
# The last two are times (made aware below); ends_at last.
_BUNDLE_FACTS = ("id", "state", "data_used_bytes", "data_allowance_bytes", "validity_days",
                 "usage_reported_at", "ends_at")


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


@dataclass
class CardFacts:
    """What the cards show besides their rows: how fresh each bundle's usage reads now
    (by bundle id), and the order to cancel for each eSIM its customer may still cancel
    and get refunded (by eSIM id)."""

    ages: dict[int, str] = field(default_factory=dict)
    refundable: dict[int, str] = field(default_factory=dict)


def _card_facts(*, owner) -> tuple[list[tuple[int, str]], CardFacts]:
    """(eSIM id, cache key) for each of the owner's cards, in dashboard order; and what
    else the cards show (CardFacts). How fresh a usage figure reads ("updated 12 min
    ago") changes with the clock, not with the data, so it is a fact of the card's key:
    a card rendered a minute ago is never served with a stale age. Whether an eSIM ready
    to install may still be cancelled and refunded changes with the clock too
    (`billing.selectors.order_self_refund_refusal`): it is asked of those eSIMs only, in
    one more query, and is a fact of their keys."""
    with connection.cursor() as cursor:
        cursor.execute(_facts_sql(), [*selectors.LIVE_STATES, owner.pk, ESim.State.CANCELLED])
        rows = cursor.fetchall()
    now = timezone.now()
    state_at = _ESIM_FACTS.index("state")
    ready = sorted({row[0] for row in rows if row[state_at] == ESim.State.READY})
    card_facts = CardFacts(refundable={
        esim_id: order.number for esim_id, order in
        billing_selectors.esims_self_refund_orders(esim_ids=ready, now=now).items()})
    prefix = f"esim-card:5:{translation.get_language()}:{timezone.get_current_timezone_name()}"
    facts: dict[int, list] = {}
    for row in rows:
        esim_facts = row[:len(_ESIM_FACTS)]
        bundle_facts = row[len(_ESIM_FACTS):len(_ESIM_FACTS) + len(_BUNDLE_FACTS)]
        plan_names = row[len(_ESIM_FACTS) + len(_BUNDLE_FACTS):]
        entry = facts.setdefault(esim_facts[0], [esim_facts,
                                                 card_facts.refundable.get(esim_facts[0])])
        if bundle_facts[0] is not None:
            reported_at, ends_at = (_aware(t) for t in bundle_facts[-2:])
            age = usage_age(reported_at, now)
            card_facts.ages[bundle_facts[0]] = age
            entry.append((*bundle_facts[:-2], reported_at, age, ends_at,
                          days_left(ends_at, now), *plan_names))
    return [(pk, f"{prefix}:{_digest(entry)}") for pk, entry in facts.items()], card_facts


def _aware(at: datetime | None) -> datetime | None:
    if at is not None and timezone.is_naive(at):
        return timezone.make_aware(at, UTC)  # SQLite stores UTC, naive
    return at


def _digest(value) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=16).hexdigest()


def _render_card(esim: ESim, card_facts: CardFacts) -> str:
    """One card, from its eSIM with its live bundles and what its key was made with."""
    live = selectors.esim_live_bundles(esim)
    bundle = selectors.bundle_current(live)
    if bundle is not None:
        # The age its key was made with, not one read from the clock again a moment later.
        bundle.usage_age = card_facts.ages.get(bundle.pk)  # type: ignore[attr-defined]
    # Each plan bought and waiting, with when it starts (known once the running plan's
    # end is: the key holds that end and each plan's validity).
    queued = [(b, selectors.bundle_expected_period(b, live=live).starts_at)
              for b in selectors.bundles_queued(live) if b != bundle]
    return render_to_string("esims/_card.html", {
        "esim": esim, "bundle": bundle, "queued": queued,
        "offer": renewal_offer(esim, live), "refund_order": card_facts.refundable.get(esim.pk),
        "topup_target": selectors.bundle_topup_target(live), "csrf_token": CSRF_PLACEHOLDER})


def _cards_html(*, owner, keys: list[tuple[int, str]], card_facts: CardFacts) -> str:
    """The owner's cards in order, rendering only those not cached yet."""
    cache = caches["cards"]
    cached = cache.get_many([key for _pk, key in keys]) if keys else {}
    missing = [pk for pk, key in keys if key not in cached]
    if missing:
        esims = selectors.esim_list_for_dashboard(owner=owner).filter(pk__in=missing)
        key_of = dict(keys)
        fresh = {key_of[esim.pk]: _render_card(esim, card_facts) for esim in esims}
        cache.set_many(fresh)
        cached.update(fresh)
    return "".join(cached[key] for _pk, key in keys if key in cached)


class PageRequest:
    """The request as the page's templates see it: its path, and no query string (the
    frame's language switch sends the visitor back to `get_full_path()`), so that the page
    shows nothing its key does not cover."""

    def __init__(self, path: str):
        self.path = path

    def get_full_path(self) -> str:
        return self.path


def dashboard_response(request, render_page: Callable[[str, PageRequest], str]) -> HttpResponse:
    """The signed-in customer's dashboard. `render_page(cards_html, page_request)` renders
    the page around the cards, for the customer signed in, with `page_request` standing
    for the request in its templates; it runs only when this exact page is not cached."""
    keys, card_facts = _card_facts(owner=request.user)
    cache = caches["cards"]
    # The frame may show who is signed in (and a customer's cards may be identical to
    # another's, or absent): the viewer is part of what the page shows.
    viewer = (request.user.pk, request.user.email)
    page_key = "esim-page:2:" + _digest((viewer, request.path, translation.get_language(),
                                         timezone.get_current_timezone_name(), keys))
    has_flash = len(messages.get_messages(request)) > 0
    page = None if has_flash else cache.get(page_key)
    if page is None:
        page = render_page(_cards_html(owner=request.user, keys=keys, card_facts=card_facts),
                           PageRequest(request.path))
        if not has_flash:
            cache.set(page_key, page)
    return HttpResponse(page.replace(CSRF_PLACEHOLDER, get_token(request)))
