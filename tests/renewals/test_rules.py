"""The rules auto-renewal is decided by, each written once: a card it may charge
(billing/selectors.py) and what a run did (renewals.services.RenewalOutcome)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Order, PaymentMethod
from billing.selectors import card_usable_for_renewal, cards_usable_for_renewal
from esims.models import ESim
from notifications.models import Notification
from renewals import services
from renewals.services import RenewalOutcome
from tests.factories import UserFactory, auto_renewing_esim

pytestmark = pytest.mark.django_db


def card(customer, *, gateway="simulated", status=PaymentMethod.Status.ACTIVE):
    n = PaymentMethod.objects.count()
    return PaymentMethod.objects.create(
        customer=customer, gateway=gateway, setup_reference=f"seti_{n}",
        reference=f"pm_{n}", status=status, brand="visa", last4="4242", exp_month=12,
        exp_year=2030, saved_at=timezone.now())


def test_a_card_auto_renewal_may_charge(alice, bob):
    good = card(alice)
    removed = card(alice, status=PaymentMethod.Status.REMOVED)
    elsewhere = card(alice, gateway="stripe")
    bobs = card(bob)
    for method, usable in ((good, True), (removed, False), (elsewhere, False),
                           (bobs, False), (None, False)):
        assert card_usable_for_renewal(method, owner_id=alice.pk,
                                       gateway="simulated") is usable, method
    assert not card_usable_for_renewal(good, owner_id=alice.pk, gateway=None)
    # The same rule as a query: what the page offers.
    assert list(cards_usable_for_renewal(customer=alice, gateway="simulated")) == [good]
    assert not cards_usable_for_renewal(customer=alice, gateway=None).exists()


def test_the_page_offers_and_accepts_only_usable_cards(alice, alice_client):
    esim = auto_renewing_esim(alice)
    usable = esim.renewal_payment_method
    elsewhere = card(alice, gateway="stripe")
    url = reverse("renewals:settings", args=[esim.pk])
    form = alice_client.get(url).context["form"]
    assert list(form.fields["card"].queryset) == [usable]
    with pytest.raises(services.RenewalError):
        services.auto_renew_switch_on(esim=esim, plan=esim.renewal_plan, card=elsewhere)


@pytest.mark.parametrize("spoil", [
    {"status": PaymentMethod.Status.REMOVED},
    {"gateway": "stripe"},  # saved where payments no longer go
])
def test_a_card_no_longer_usable_stops_auto_renewal_in_a_batch_too(alice, spoil):
    esim = auto_renewing_esim(alice, ends_in=timedelta(hours=2))
    PaymentMethod.objects.filter(pk=esim.renewal_payment_method_id).update(**spoil)
    outcome = services.renewal_run_many(esim_ids=[esim.pk])
    assert outcome == {esim.pk: RenewalOutcome.STOPPED}
    assert not ESim.objects.get(pk=esim.pk).auto_renew
    assert not Order.objects.filter(kind=Order.Kind.RENEWAL).exists()
    assert Notification.objects.filter(kind=Notification.Kind.AUTO_RENEW_STOPPED).exists()


def test_outcomes_are_one_enum_that_reads_as_before(alice):
    due = auto_renewing_esim(alice, ends_in=timedelta(hours=2))
    later = auto_renewing_esim(alice, ends_in=timedelta(days=5))
    off = auto_renewing_esim(UserFactory())
    services.auto_renew_switch_off(esim=off)
    outcome = services.renewal_run_many(esim_ids=[due.pk, later.pk, off.pk])
    assert outcome == {due.pk: RenewalOutcome.PAID, later.pk: RenewalOutcome.NOT_DUE,
                       off.pk: RenewalOutcome.OFF}
    assert all(isinstance(done, RenewalOutcome) for done in outcome.values())
    assert outcome[due.pk] == "paid"  # as the tasks and older callers compare
    assert isinstance(services.renewal_run(esim_id=due.pk), RenewalOutcome)


def test_a_suspended_esim_is_not_charged_until_it_is_resumed(alice):
    """Support suspended it at the carrier (a stolen phone, say): no data flows, so no
    renewal is charged, alone or in a batch, even when the sweep finds it due."""
    esim = auto_renewing_esim(alice, ends_in=timedelta(hours=2))
    ESim.objects.filter(pk=esim.pk).update(state=ESim.State.SUSPENDED,
                                           renew_at=timezone.now())
    assert services.renewal_run_many(esim_ids=[esim.pk]) == {
        esim.pk: RenewalOutcome.SUSPENDED}
    assert services.renewal_run(esim_id=esim.pk) == RenewalOutcome.SUSPENDED
    assert not Order.objects.filter(kind=Order.Kind.RENEWAL).exists()
    assert ESim.objects.get(pk=esim.pk).renew_at is None
    client = Client()
    client.force_login(alice)
    page = client.get(reverse("renewals:settings", args=[esim.pk])).content.decode()
    assert "nothing is charged until it is resumed" in page
