"""What each eSIM card offers (templates/esims/_card.html, renewals.selectors.renewal_offer,
billing.selectors.order_self_refund_refusal): Renew only once the first plan runs, a
renewal already bought said so, and "Cancel and refund" on an unused eSIM only while it
may be; the cached cards follow each of these as it changes, the clock included."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Order
from esims.models import Bundle, ESim
from tests.factories import BundleFactory, ESimFactory, OrderFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def card(client, esim) -> str:
    page = client.get(reverse("esims:dashboard")).content.decode()
    return page.split(f'id="esim-{esim.pk}"')[1].split("</article>")[0]


def buttons(html: str) -> list[str]:
    actions = html.split('<div class="actions">')[1]
    return [part.split("</a>")[0].rsplit(">", 1)[-1].strip()
            for part in actions.split('<a class="button')[1:]]


def running(esim, **fields):
    return BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim, **fields)


def queued(esim, **fields):
    return BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim,
                         order__kind=Order.Kind.RENEWAL, state=Bundle.State.QUEUED,
                         starts_at=None, ends_at=None, **fields)


def unused_new_esim(owner, *, paid_at=NOW):
    """A new eSIM paid for and ready to install, on no device yet."""
    esim = ESimFactory(owner=owner, state=ESim.State.READY, installed_at=None)
    order = OrderFactory(customer=owner, esim=esim, status=Order.Status.COMPLETED,
                         paid_at=paid_at)
    BundleFactory(esim=esim, order=order, state=Bundle.State.QUEUED, starts_at=None,
                  ends_at=None)
    return esim, order


def test_a_plan_running_with_nothing_after_it_offers_renew_and_top_up(alice_client, alice):
    esim = ESimFactory(owner=alice)
    running(esim)
    assert buttons(card(alice_client, esim)) == ["Renew", "Top up", "Install details"]


def test_with_a_renewal_bought_it_says_so_and_offers_more_only_second(alice_client, alice):
    esim = ESimFactory(owner=alice)
    running(esim, ends_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    queued(esim, order__plan__name="Japan month")
    html = card(alice_client, esim)
    assert "Next: Japan month. Renewal bought: starts 5 Jan 2026, 09:00." in html
    assert buttons(html) == ["Top up", "Renew again", "Install details"]
    assert 'class="button" href="/orders/topup/' in html  # the first choice now


def test_an_unused_esim_offers_install_and_cancel_not_renew(alice_client, alice):
    esim, order = unused_new_esim(alice)
    html = card(alice_client, esim)
    assert buttons(html) == ["Install", "Cancel and refund"]
    assert reverse("billing:order_cancel", args=[order.number]) in html


def test_being_prepared_offers_nothing(alice_client, alice):
    esim = ESimFactory(owner=alice, state=ESim.State.PROVISIONING, iccid=None,
                       matching_id="", installed_at=None)
    html = card(alice_client, esim)
    assert buttons(html) == [] and "We are preparing this eSIM" in html


def test_installed_before_its_first_plan_has_started_offers_no_renew(alice_client, alice):
    esim = ESimFactory(owner=alice, state=ESim.State.INSTALLED)
    BundleFactory(esim=esim, order__customer=alice, order__esim=esim,
                  state=Bundle.State.QUEUED, starts_at=None, ends_at=None)
    assert buttons(card(alice_client, esim)) == ["Install details"]


def test_an_expired_esim_offers_renew(alice_client, alice):
    esim = ESimFactory(owner=alice, state=ESim.State.EXPIRED)
    assert buttons(card(alice_client, esim)) == ["Renew", "Install details"]


def test_cancel_and_refund_ends_with_the_days_allowed_though_nothing_else_changed(
        alice_client, alice, settings):
    settings.SELF_REFUND_DAYS = 14
    esim, _order = unused_new_esim(alice)
    assert "Cancel and refund" in card(alice_client, esim)
    with time_machine.travel(NOW + timedelta(days=14, minutes=1), tick=False):
        alice_client.force_login(alice)
        assert buttons(card(alice_client, esim)) == ["Install"]


def test_cancel_and_refund_goes_once_a_device_has_it_or_another_plan_is_bought(
        alice_client, alice):
    esim, _order = unused_new_esim(alice)
    other, _other_order = unused_new_esim(alice)
    assert "Cancel and refund" in card(alice_client, esim)
    queued(other)  # a renewal paid for on it: support's to refund
    ESim.objects.filter(pk=esim.pk).update(state=ESim.State.INSTALLED, installed_at=NOW)
    assert "Cancel and refund" not in card(alice_client, esim)
    assert "Cancel and refund" not in card(alice_client, other)


def test_the_cached_card_follows_a_renewal_bought(alice_client, alice):
    esim = ESimFactory(owner=alice)
    running(esim)
    assert buttons(card(alice_client, esim))[0] == "Renew"
    queued(esim)
    assert buttons(card(alice_client, esim))[:2] == ["Top up", "Renew again"]


def queries_of_a_cached_dashboard(client) -> int:
    client.get(reverse("esims:dashboard"))  # fills the cache
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("esims:dashboard"))
    return len(queries.captured_queries)


def test_ready_cards_cost_one_query_more_and_installed_ones_none(alice_client, alice):
    for _ in range(3):
        running(ESimFactory(owner=alice))
    installed_only = queries_of_a_cached_dashboard(alice_client)
    for _ in range(3):
        unused_new_esim(alice)
    assert queries_of_a_cached_dashboard(alice_client) == installed_only + 1
