"""The Stripe payment and card pages, and the settings that configure Stripe."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from billing import services
from billing.gateways import get_gateway
from billing.models import Order, Payment
from tests.factories import OrderFactory
from tests.localstripe import CARD_3DS, CARD_DECLINED, CARD_OK, PUBLISHABLE_KEY

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


def pay_page(payment):
    return reverse("billing:stripe_pay", args=[payment.gateway_reference])


def test_pay_sends_the_customer_to_the_portals_stripe_page(alice_client, localstripe, order):
    response = alice_client.post(reverse("billing:pay", args=[order.number]))
    payment = Payment.objects.get(order=order)
    assert payment.gateway == "stripe"
    assert response["Location"] == pay_page(payment)


def test_the_payment_page_shows_the_order_and_the_card_form(alice_client, localstripe,
                                                            payment):
    response = alice_client.get(pay_page(payment))
    page = response.content.decode()
    assert response.status_code == 200
    assert f'<script src="{localstripe.js_url}"></script>' in page
    assert "js/stripe_payment.js" in page
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in page
    assert 'data-client-secret="pi_' in page and "_secret_" in page
    assert f'data-return-url="/orders/{payment.order.number}/return/{payment.pk}/"' in page
    assert "Pay US$8.00" in page and "Japan" in page
    assert 'id="card-element"' in page and 'data-action="authenticate"' not in page
    assert 'role="alert"' in page


def test_other_customers_and_strangers_cannot_see_the_payment_page(
        client, bob, localstripe, payment):
    assert client.get(pay_page(payment)).status_code == 302  # to sign in
    client.force_login(bob)
    assert client.get(pay_page(payment)).status_code == 404
    assert client.get(reverse("billing:stripe_pay", args=["pi_nope"])).status_code == 404


def test_a_simulated_payment_has_no_stripe_page(alice_client, order, settings):
    settings.PAYMENT_GATEWAY = "simulated"
    payment = services.payment_start(order=order, return_url_for=lambda p: "/back")
    url = reverse("billing:stripe_pay", args=[payment.gateway_reference])
    assert alice_client.get(url).status_code == 404


def test_a_paid_order_goes_to_its_page(alice_client, localstripe, payment, order):
    localstripe.pay(payment.gateway_reference, CARD_OK)
    response = alice_client.get(pay_page(payment))
    return_url = reverse("billing:payment_return", args=[order.number, payment.pk])
    assert response["Location"] == return_url  # which asks Stripe, then shows the order
    assert alice_client.get(return_url)["Location"] == reverse("billing:order",
                                                               args=[order.number])
    assert alice_client.get(pay_page(payment))["Location"] == reverse(
        "billing:order", args=[order.number])


def test_a_declined_payment_shows_why_and_offers_a_new_one(alice_client, localstripe,
                                                           payment, order):
    localstripe.pay(payment.gateway_reference, CARD_DECLINED)
    response = alice_client.get(pay_page(payment), follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("billing:pay", args=[order.number])
    assert "Your bank declined the payment" in page and "Try again" in page
    assert Payment.objects.get(pk=payment.pk).status == "failed"
    # The failed payment's page never comes back: it leads to the explanation.
    assert alice_client.get(pay_page(payment))["Location"] == reverse(
        "billing:payment_return", args=[order.number, payment.pk])


def test_a_renewal_waiting_for_3d_secure_asks_the_customer_to_confirm(
        alice_client, localstripe, order):
    payment = Payment.objects.create(order=order, gateway="stripe", amount_minor=800,
                                     currency="USD", off_session=True)
    charge = get_gateway().charge_off_session(
        payment=payment, card_reference=localstripe.card(CARD_3DS), description="renewal")
    Payment.objects.filter(pk=payment.pk).update(gateway_reference=charge.reference,
                                                 status="requires_action")
    payment.refresh_from_db()
    page = alice_client.get(pay_page(payment)).content.decode()
    assert 'data-action="authenticate"' in page and 'id="card-element"' not in page
    assert "Confirm payment of US$8.00" in page
    assert 'data-payment-method="pm_' in page  # the card the renewal was charged to


@pytest.mark.parametrize("currency, wallets", [
    ("USD", ["Alipay", "WeChat Pay", "PayPal"]),
    ("CNY", ["Alipay", "WeChat Pay"]),
])
def test_the_payment_page_offers_the_methods_enabled(alice_client, alice, localstripe, settings,
                                                     plans, currency, wallets):
    settings.STRIPE_PAYMENT_METHODS = ["card", "alipay", "wechat_pay", "paypal"]
    order = OrderFactory(customer=alice, plan=plans["week"], currency=currency)
    payment = services.payment_start(order=order, return_url_for=lambda p: "/back")
    page = alice_client.get(pay_page(payment)).content.decode()
    for label in ("Alipay", "WeChat Pay", "PayPal"):
        assert (f">{label}</button>" in page) is (label in wallets)
    assert 'data-absolute-return-url="http://testserver/orders/' in page


def test_the_card_page_saves_a_card_for_its_customer_only(client, alice, bob, localstripe):
    method = services.card_setup_start(customer=alice, cancel_url="/esims/")
    url = services.card_setup_customer_url(payment_method=method)
    assert url == reverse("billing:stripe_card_setup", args=[method.setup_reference])
    client.force_login(bob)
    assert client.get(url).status_code == 404
    client.force_login(alice)
    page = client.get(url).content.decode()
    assert 'data-client-secret="seti_' in page and 'id="card-element"' in page
    assert 'href="/esims/"' in page and "Save card" in page
    assert f'data-return-url="/orders/cards/{method.setup_reference}/return/"' in page
    localstripe.save_card(method.setup_reference, CARD_OK)
    done = reverse("billing:card_setup_return", args=[method.setup_reference])
    assert client.get(url)["Location"] == done


def test_an_unreachable_stripe_keeps_the_customer_informed(alice_client, localstripe, payment,
                                                           settings, order):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    response = alice_client.get(pay_page(payment), follow=True)
    assert response.redirect_chain[-1][0] == reverse("billing:pay", args=[order.number])
    assert "could not be reached" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


# --- Settings ---------------------------------------------------------------------------

def _settings(**env) -> subprocess.CompletedProcess:
    code = ("import django; from django.conf import settings; django.setup(); "
            "print(settings.PAYMENT_GATEWAY, ','.join(settings.STRIPE_PAYMENT_METHODS))")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("STRIPE_", "PAYMENT_GATEWAY"))}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60,
                          env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings.base",
                               **env})


KEYS = {"STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_PUBLISHABLE_KEY": "pk_test_1",
        "STRIPE_WEBHOOK_SECRET": "whsec_1"}


@pytest.mark.parametrize("env, expected", [
    ({}, "simulated card"),
    (KEYS, "stripe card"),
    ({**KEYS, "PAYMENT_GATEWAY": "simulated"}, "simulated card"),
    ({**KEYS, "STRIPE_PAYMENT_METHODS": "card, alipay,wechat_pay,paypal"},
     "stripe card,alipay,wechat_pay,paypal"),
])
def test_the_gateway_follows_the_stripe_keys(env, expected):
    result = _settings(**env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize("env, message", [
    ({"STRIPE_SECRET_KEY": "sk_test_1"}, "needs STRIPE_PUBLISHABLE_KEY"),
    ({**KEYS, "STRIPE_WEBHOOK_SECRET": ""}, "needs STRIPE_WEBHOOK_SECRET"),
    ({"PAYMENT_GATEWAY": "stripe"}, "needs STRIPE_SECRET_KEY"),
    ({"PAYMENT_GATEWAY": "paypal"}, "use simulated or stripe"),
    ({"STRIPE_PAYMENT_METHODS": "card,bitcoin"}, "bitcoin not supported"),
])
def test_a_stripe_configuration_that_cannot_work_is_refused(env, message):
    result = _settings(**env)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
