"""Paying with Stripe in a real browser, against localstripe and its Stripe.js double."""

import re
from pathlib import Path

import pytest
import stripe
from django.conf import settings
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from billing import services
from billing.gateways import get_gateway
from billing.models import Order, Payment, PaymentMethod
from tests.browser.axe import assert_accessible
from tests.factories import OrderFactory, PlanFactory, UserFactory
from tests.localstripe import (  # noqa: F401 (fixtures)
    CARD_3DS,
    CARD_DECLINED,
    CARD_OK,
    localstripe_fixture,
    localstripe_server_fixture,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CARD_CONFIRM_SHIM = (Path(__file__).parent / "localstripe_card_confirm.js").read_text()


@pytest.fixture
def customer():
    return UserFactory(email="traveller@example.com")


@pytest.fixture
def stripe_browser(browser, live_server, localstripe, customer):
    """The browser, signed in as the customer, with localstripe's Stripe.js completed."""
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                            {"source": CARD_CONFIRM_SHIM})
    client = Client()
    client.force_login(customer)
    browser.get(live_server.url + "/healthz")
    browser.add_cookie({"name": settings.SESSION_COOKIE_NAME, "path": "/",
                        "value": client.cookies[settings.SESSION_COOKIE_NAME].value})
    return browser


def type_card(browser, number):
    """Fill localstripe's card element (its fields are plain inputs in our page)."""
    wait = WebDriverWait(browser, 10)
    holder = wait.until(EC.presence_of_element_located((By.ID, "card-element")))
    fields = {"number": number, "exp_month": "12", "exp_year": "34", "cvc": "123",
              "postal_code": "10115"}
    for name, value in fields.items():
        holder.find_element(By.CSS_SELECTOR, f"input[placeholder={name}]").send_keys(value)


def confirm_at_localstripe(browser, localstripe):
    """Do what Stripe's servers do when Stripe.js sends the card (see the shim)."""
    wait = WebDriverWait(browser, 10)
    request = wait.until(lambda b: b.execute_script("return window.__cardConfirm && "
                                                    "{secret: window.__cardConfirm.clientSecret,"
                                                    " card: window.__cardConfirm.card}"))
    reference = request["secret"].split("_secret_")[0]
    client = localstripe.client()
    client.v1.payment_intents.update(reference, params={
        "payment_method": localstripe.card(request["card"]["number"])})
    try:
        intent = client.v1.payment_intents.confirm(reference)
    except stripe.CardError as exc:
        result = {"error": {"type": "card_error", "code": exc.code,
                            "message": exc.user_message}}
    else:
        result = ({"requiresAction": True} if intent.status == "requires_action"
                  else {"paymentIntent": {"id": intent.id, "status": intent.status}})
    browser.execute_script("window.__cardConfirm.resolve(arguments[0])", result)


def both_widths(browser, screenshot, name):
    """Screenshots, and axe-core's check (tests/browser/axe.py), at both widths."""
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(f"{name}-phone")
    assert_accessible(browser, f"{name} at 390 px")
    browser.set_window_size(1280, 900)
    screenshot(f"{name}-desktop")
    assert_accessible(browser, f"{name} at 1280 px")
    browser.set_window_size(390, 844)


def buy(browser, live_server):
    PlanFactory(code="jp-week", name="Japan 3 GB for a week", countries=["JP"])
    wait = WebDriverWait(browser, 20)
    browser.get(live_server.url + "/orders/new/jp-week/")
    nickname = wait.until(EC.presence_of_element_located((By.NAME, "nickname")))
    nickname.send_keys("My phone")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(EC.url_contains("/pay/"))
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(EC.url_contains("/gateway/stripe/pi_"))
    return Order.objects.get(nickname="My phone")


def test_pay_for_a_new_esim_with_a_card(stripe_browser, live_server, localstripe, screenshot):
    browser = stripe_browser
    order = buy(browser, live_server)
    assert "Pay US$8.00" in browser.page_source
    type_card(browser, CARD_OK)
    both_widths(browser, screenshot, "stripe-pay")
    browser.find_element(By.CSS_SELECTOR, "form[data-action=card] button").click()
    confirm_at_localstripe(browser, localstripe)
    WebDriverWait(browser, 20).until(EC.url_matches(rf"/orders/{order.number}/$"))
    order.refresh_from_db()
    assert order.paid_at is not None
    assert Payment.objects.get(order=order).status == "succeeded"
    screenshot("stripe-paid-phone")


def test_a_declined_card_says_why(stripe_browser, live_server, localstripe, screenshot):
    browser = stripe_browser
    order = buy(browser, live_server)
    type_card(browser, CARD_DECLINED)
    browser.find_element(By.CSS_SELECTOR, "form[data-action=card] button").click()
    confirm_at_localstripe(browser, localstripe)
    WebDriverWait(browser, 20).until(EC.url_matches(rf"/orders/{order.number}/pay/$"))
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert "Your bank declined the payment" in alert.text
    screenshot("stripe-declined-phone")
    assert_accessible(browser, "pay page after a decline at Stripe")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT
    # Trying again opens a new payment; this time the card needs 3-D Secure, and passes.
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(browser, 20).until(EC.url_contains("/gateway/stripe/pi_"))
    type_card(browser, CARD_3DS)
    browser.find_element(By.CSS_SELECTOR, "form[data-action=card] button").click()
    confirm_at_localstripe(browser, localstripe)
    WebDriverWait(browser, 10).until(
        EC.element_to_be_clickable((By.XPATH, "//button[text()='Complete authentication']"))
    ).click()
    WebDriverWait(browser, 20).until(EC.url_matches(rf"/orders/{order.number}/$"))
    order.refresh_from_db()
    assert order.paid_at is not None
    assert list(order.payments.values_list("status", flat=True).order_by("pk")) == [
        "failed", "succeeded"]


def test_a_renewal_charge_waiting_for_the_bank_is_confirmed(stripe_browser, live_server,
                                                           localstripe, customer, screenshot):
    """An off-session charge to a 3-D Secure card waits for the customer (localstripe's
    shape): the payment page runs the bank's challenge without asking for the card."""
    browser = stripe_browser
    order = OrderFactory(customer=customer)
    payment = Payment.objects.create(order=order, gateway="stripe", amount_minor=800,
                                     currency="USD", off_session=True)
    charge = get_gateway().charge_off_session(
        payment=payment, card_reference=localstripe.card(CARD_3DS), description="renewal")
    Payment.objects.filter(pk=payment.pk).update(gateway_reference=charge.reference,
                                                 status="requires_action")
    browser.get(live_server.url + f"/orders/gateway/stripe/{charge.reference}/")
    button = WebDriverWait(browser, 10).until(
        EC.element_to_be_clickable((By.CSS_SELECTOR, "[data-action=authenticate]")))
    both_widths(browser, screenshot, "stripe-authenticate")
    button.click()
    WebDriverWait(browser, 10).until(
        EC.element_to_be_clickable((By.XPATH, "//button[text()='Complete authentication']"))
    ).click()
    WebDriverWait(browser, 20).until(EC.url_matches(rf"/orders/{order.number}/$"))
    assert Order.objects.get(pk=order.pk).paid_at is not None


def test_save_a_card_for_renewals(stripe_browser, live_server, customer, screenshot):
    """localstripe's Stripe.js does confirmCardSetup with the card element itself."""
    browser = stripe_browser
    method = services.card_setup_start(customer=customer, cancel_url="/esims/")
    browser.get(live_server.url + services.card_setup_customer_url(payment_method=method))
    type_card(browser, CARD_OK)
    both_widths(browser, screenshot, "stripe-card-setup")
    browser.find_element(By.CSS_SELECTOR, "form[data-action=setup] button").click()
    WebDriverWait(browser, 20).until(EC.url_contains("/esims/"))
    method.refresh_from_db()
    assert (method.status, method.last4) == (PaymentMethod.Status.ACTIVE, "4242")
    assert re.search(r"Card saved", browser.page_source)


def test_a_payment_page_without_stripe_js_says_so(stripe_browser, live_server, localstripe,
                                                   settings, customer, screenshot):
    settings.STRIPE_JS_URL = localstripe.url + "/blocked.js"
    order = OrderFactory(customer=customer)
    payment = services.payment_start(order=order, return_url_for=lambda p: "/back")
    stripe_browser.get(live_server.url + f"/orders/gateway/stripe/{payment.gateway_reference}/")
    alert = WebDriverWait(stripe_browser, 10).until(
        EC.visibility_of_element_located((By.CSS_SELECTOR, "[data-error]")))
    assert "could not be loaded" in alert.text and alert.get_attribute("role") == "alert"
    button = stripe_browser.find_element(By.CSS_SELECTOR, "form[data-action=card] button")
    assert not button.is_enabled()
    screenshot("stripe-no-stripe-js-phone")
    assert_accessible(stripe_browser, "stripe pay page without Stripe.js")
