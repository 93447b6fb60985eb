"""Every customer page passes axe-core (WCAG 2.1 A and AA and best practices) with no
serious or critical violation, signed out and signed in, in English and Simplified
Chinese, at a phone's and a desktop's width.

One browser per language visits the pages below in order: first signed out, then signed
in as a customer with a household of eSIMs in every state, orders in every status,
receipts, a credit note, a ticket with answers and messages sent. A page is one line in
SIGNED_OUT, SIGNED_IN, REAUTHENTICATED or SIGNED_IN_WITH_TOTP: a name and its address
(a function of the household when it needs one of its objects). A new customer page
gets its line here.
"""

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote, urlsplit

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from billing import services as billing_services
from billing.gateways.simulated import simulated_charge_decide
from billing.models import Order, Payment
from billing.receipts import credit_note_issue, receipts_issue
from esims.models import Bundle, ESim
from notifications.links import skip_renewal_token, unsubscribe_token
from notifications.models import Notification
from plans.models import Plan
from support import help as help_centre
from support import services as support_services
from tests.browser.axe import Violation, axe_version, axe_violations, failing, report
from tests.factories import (
    BundleFactory,
    ESimFactory,
    OrderFactory,
    UserFactory,
    auto_renewing_esim,
    paid_new_esim_order,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE, DESKTOP = 390, 1280
BOTH = (PHONE, DESKTOP)
# Pages much like another one are seen at one width: the phone's in English and the
# desktop's in Chinese, so that each width is seen once in the run.
ONE = ()
PASSWORD = "correct horse battery"


@dataclass
class Household:
    """Alice's account with something on every page, and the links she was sent."""

    customer: User
    plan: Plan
    esims: dict[str, ESim]
    orders: dict[str, Order]
    ticket_id: int
    links: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    name: str
    # An address, or a function of the household giving one address or several.
    path: str | Callable[[Household], str | list[str]]
    widths: tuple[int, ...] = BOTH
    # Send the page's form empty (the browser's own checks off) and check the page that
    # answers: how the errors are shown.
    send_empty: bool = False

    def urls(self, household: Household) -> list[str]:
        found = self.path(household) if callable(self.path) else self.path
        return [found] if isinstance(found, str) else found


def _url(name, *args):
    """The page's address, from the household's objects named in `args`."""
    return lambda h: reverse(name, args=[arg(h) if callable(arg) else arg for arg in args])


def _order(key):
    return _url("billing:order", lambda h: h.orders[key].number)


def _esim(name, key):
    return _url(name, lambda h: h.esims[key].pk)


def _help_articles(household) -> list[str]:
    return [reverse("help:article", args=[article.slug]) for article in help_centre.ARTICLES]


SIGNED_OUT = [
    Page("home", "/"),
    Page("catalogue", "/plans/"),
    Page("catalogue, filtered", "/plans/?q=japan&validity=week", widths=ONE),
    Page("plan detail", _url("plans:detail", lambda h: h.plan.code)),
    Page("sign in", reverse("account_login")),
    Page("sign up", reverse("account_signup")),
    Page("sign up, with errors", reverse("account_signup"), widths=ONE, send_empty=True),
    Page("password reset", reverse("account_reset_password")),
    Page("password reset sent", reverse("account_reset_password_done"), widths=ONE),
    Page("password reset link", lambda h: h.links["password_reset"]),
    Page("password reset link done", reverse("account_reset_password_from_key_done"), widths=ONE),
    Page("email confirmation sent", reverse("account_email_verification_sent"), widths=ONE),
    Page("email confirmation", lambda h: h.links["confirm_email"]),
    Page("account inactive", reverse("account_inactive"), widths=ONE),
    Page("unsubscribe link", lambda h: h.links["unsubscribe"]),
    Page("skip-renewal link", lambda h: h.links["skip_renewal"]),
    Page("signed link, invalid", "/n/unsubscribe/not-a-token/", widths=ONE),
    Page("not found", "/no-such-page/"),
    Page("help centre", _url("help:index")),
    Page("help centre, search", lambda h: reverse("help:index") + "?q=renewal", widths=ONE),
    Page("help article", _help_articles, widths=ONE),
    Page("account closed", _url("accounts:closed")),
]

SIGNED_IN = [
    Page("dashboard", reverse("esims:dashboard")),
    Page("dashboard, with a message", _esim("billing:topup", "ready")),  # "renew instead"
    Page("install", _esim("esims:install", "ready")),
    Page("install, installed eSIM", _esim("esims:install", "phone"), widths=ONE),
    Page("buy", _url("billing:buy", lambda h: h.plan.code)),
    Page("renew", _esim("billing:renew", "phone")),
    Page("renew, expired eSIM", _esim("billing:renew", "watch"), widths=ONE),
    Page("top up", _esim("billing:topup", "phone")),
    Page("pay, after a decline", _url("billing:pay", lambda h: h.orders["declined"].number)),
    Page("simulated gateway", lambda h: h.links["gateway"]),
    Page("simulated 3-D Secure", lambda h: h.links["authenticate"]),
    Page("simulated card", lambda h: h.links["card"]),
    Page("orders", reverse("billing:orders")),
    Page("order, waiting for payment", _order("pending_payment"), widths=ONE),
    Page("order, paid", _order("paid"), widths=ONE),
    Page("order, activating", _order("activating")),
    Page("order, activating for too long", _order("slow"), widths=ONE),
    Page("order, completed", _order("completed")),
    Page("order, failed", _order("failed"), widths=ONE),
    Page("order, refunded", _order("refunded"), widths=ONE),
    Page("order, unused eSIM", _order("unused"), widths=ONE),
    Page("cancel an unused eSIM", _url("billing:order_cancel",
                                       lambda h: h.orders["unused"].number)),
    Page("cancel, refused", _url("billing:order_cancel",
                                 lambda h: h.orders["completed"].number), widths=ONE),
    Page("receipts", reverse("billing:receipts")),
    Page("auto-renewal, on", _esim("renewals:settings", "phone")),
    Page("auto-renewal, off", _esim("renewals:settings", "tablet"), widths=ONE),
    Page("notifications", reverse("notifications:preferences")),
    Page("preferences", reverse("accounts:preferences")),
    Page("account", _url("accounts:account")),
    Page("support tickets", reverse("support:tickets")),
    Page("support, new ticket", reverse("support:ticket_new")),
    Page("support, new ticket with errors", reverse("support:ticket_new"), widths=ONE,
         send_empty=True),
    Page("support ticket", _url("support:ticket", lambda h: h.ticket_id)),
    Page("help centre, signed in", _url("help:index")),
    Page("email addresses", reverse("account_email")),
    Page("change password", reverse("account_change_password")),
    Page("change password, with errors", reverse("account_change_password"), widths=ONE,
         send_empty=True),
    Page("signed-in sessions", reverse("usersessions_list")),
    Page("sign out", reverse("account_logout")),
    Page("confirm it's you", reverse("account_reauthenticate")),
    Page("two-factor", reverse("mfa_index")),
    Page("not found, signed in", "/no-such-page/", widths=ONE),
]

# Pages that ask for the password again first (allauth's reauthentication): seen after
# confirming it, then once two-factor authentication is on.
REAUTHENTICATED = [
    Page("two-factor, set up", reverse("mfa_activate_totp")),
    Page("passkeys", _url("mfa_list_webauthn")),
    Page("passkey, add", _url("mfa_add_webauthn"), widths=ONE),
    Page("close account", _url("accounts:close")),
]

# axe 4.7 retired its duplicate-id rules, but a repeated id still ties a label, an
# aria-describedby or a skip link to the wrong element.
DUPLICATE_IDS = """
const seen = new Set(), repeated = new Set();
for (const element of document.querySelectorAll("[id]")) {
  (seen.has(element.id) ? repeated : seen).add(element.id);
}
return [...repeated];"""

# Where a page sends a visitor it does not let in: never where a checked page should end.
SIGN_IN_PAGES = {reverse("account_login"), reverse("account_reauthenticate"),
                 reverse("mfa_reauthenticate")}

SIGNED_IN_WITH_TOTP = [
    Page("two-factor, on", reverse("mfa_index")),
    Page("recovery codes", reverse("mfa_view_recovery_codes"), widths=ONE),
    Page("new recovery codes", reverse("mfa_generate_recovery_codes"), widths=ONE),
    Page("two-factor, switch off", reverse("mfa_deactivate_totp"), widths=ONE),
    Page("confirm it's you, code", reverse("mfa_reauthenticate"), widths=ONE),
]


def test_vendored_axe_matches_the_pin():
    import json
    from pathlib import Path

    lock = json.loads((Path(__file__).parents[2] / "package-lock.json").read_text())
    assert axe_version() == lock["packages"]["node_modules/axe-core"]["version"]


BROKEN_PAGE = """<!DOCTYPE html><html><head><title>Broken</title></head><body><main>
<h1>Broken</h1><img src="x.png"><input type="text" name="q">
<p style="color: #aaa; background: #fff">Pale text</p><button></button></main></body></html>"""


def test_the_helper_fails_what_a_screen_reader_user_would_trip_on(browser):
    """axe runs from the vendored file and reports each failing element."""
    browser.get("data:text/html;charset=utf-8," + quote(BROKEN_PAGE))
    found = failing(axe_violations(browser, "broken page"))
    assert {v.rule for v in found} >= {"html-has-lang", "image-alt", "label",
                                       "color-contrast", "button-name"}
    text = report(found)
    assert '<img src="x.png">' in text and "on broken page" in text


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_customer_page_passes_axe(browser, live_server, language):
    started = time.monotonic()
    household = _household(language)
    with translation.override(language):
        not_found_title = gettext("Not found")
    seen: list[Violation] = []
    checked: list[str] = []

    def visit(pages: list[Page]) -> None:
        for page in pages:
            for url in page.urls(household):
                browser.get(live_server.url + url)
                if page.send_empty:
                    _send_empty_form(browser)
                check_here(page.name, url, page.widths)

    def check_here(name: str, url: str, widths=BOTH) -> None:
        shown = urlsplit(browser.current_url).path
        assert shown == urlsplit(url).path or shown not in SIGN_IN_PAGES, (
            f"{name} ({url}) sent the browser to {shown}")
        title = browser.title
        assert title != "Server error", f"{name} ({url}) failed"
        assert title.startswith(not_found_title) == ("not found" in name), (
            f"{name} ({url}) answered {title!r}")
        _expect_language(browser, language, f"{name} ({url})")
        duplicates = browser.execute_script(DUPLICATE_IDS)
        assert not duplicates, f"{name} ({url}) repeats the ids {duplicates}"
        for width in widths or ((PHONE,) if language == "en" else (DESKTOP,)):
            _set_width(browser, width)
            seen.extend(axe_violations(browser, f"{name} {url} at {width} px in {language}"))
        checked.append(url)

    # Signed out: the language chosen with the site's own switch (a cookie).
    browser.get(live_server.url + "/plans/")
    _choose_language(browser, language)
    visit(SIGNED_OUT)
    _sign_in(browser, live_server, household.customer.email, password="not her password")
    check_here("sign in, wrong password", reverse("account_login"))
    _sign_in_with_two_factor(browser, live_server, language)
    check_here("two-factor sign-in code", reverse("mfa_authenticate"))
    browser.delete_cookie("sessionid")

    # Signed in through the sign-in form, her account in the other language: the switch
    # stores the language on the account, as it would for her.
    other = "zh-hans" if language == "en" else "en"
    User.objects.filter(pk=household.customer.pk).update(language=other)
    _sign_in(browser, live_server, household.customer.email)
    _expect_language(browser, other, "the page after signing in")
    _choose_language(browser, language)
    assert User.objects.get(pk=household.customer.pk).language == language
    visit(SIGNED_IN)
    _reauthenticate(browser, live_server)
    visit(REAUTHENTICATED)
    TOTP.activate(household.customer, generate_totp_secret())
    RecoveryCodes.activate(household.customer)
    visit(SIGNED_IN_WITH_TOTP)

    blocking = failing(seen)
    if len(seen) > len(blocking):
        print("Minor and moderate findings (not failed):\n"
              + report([v for v in seen if v not in blocking]))
    print(f"\naxe {axe_version()}, {language}: {len(checked)} pages in "
          f"{time.monotonic() - started:.0f} s; {len(seen) - len(blocking)} minor or moderate "
          "finding(s) not failed")
    assert not blocking, (f"{len(blocking)} serious or critical accessibility violation(s) "
                          f"in {language}:\n\n{report(blocking)}")


# --- The browser's steps.

def _set_width(browser, width: int) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


def _choose_language(browser, language: str) -> None:
    """Press the header's language button, as a visitor would."""
    button = browser.find_element(By.CSS_SELECTOR, f".lang-form button[value='{language}']")
    if button.get_attribute("aria-pressed") != "true":
        button.click()
        # Asked in the page itself, holding no element across the load: the old page's
        # button goes stale (or "does not belong to the document") as the new one loads.
        pressed = ("const b = document.querySelector(arguments[0]);"
                   " return !!b && b.getAttribute('aria-pressed') === 'true';")
        selector = f".lang-form button[value='{language}']"
        WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,
                                                       NoSuchElementException)).until(
            lambda b: b.execute_script(pressed, selector))


def _expect_language(browser, language: str, page: str) -> None:
    expected = {"en": "en", "zh-hans": "zh-Hans"}[language]
    shown = browser.find_element(By.TAG_NAME, "html").get_attribute("lang")
    assert shown == expected, f"{page} is in {shown!r}, expected {expected!r}"


def _sign_in(browser, live_server, email: str, password: str = PASSWORD) -> None:
    login = live_server.url + reverse("account_login")
    browser.get(login)
    browser.find_element(By.NAME, "login").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    if password == PASSWORD:
        WebDriverWait(browser, 20).until(EC.url_changes(login))
    else:
        WebDriverWait(browser, 20).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, "main .errorlist")))


def _send_empty_form(browser) -> None:
    browser.execute_script("""
        window.__beforeSubmit = true;
        const form = document.querySelector("main form[method=post]");
        form.noValidate = true;
        form.querySelectorAll("input:not([type=hidden]), textarea").forEach(f => f.value = "");
        form.requestSubmit();""")
    WebDriverWait(browser, 20).until(lambda b: b.execute_script(
        "return !window.__beforeSubmit && document.readyState === 'complete'"))
    assert browser.find_elements(By.CSS_SELECTOR, "main .errorlist, main .error"), (
        "the empty form was not refused")


def _reauthenticate(browser, live_server) -> None:
    browser.get(live_server.url + reverse("account_reauthenticate") + "?next=/esims/")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(browser, 20).until(EC.url_to_be(live_server.url + "/esims/"))


def _sign_in_with_two_factor(browser, live_server, language):
    """Up to the code page of a customer with two-factor authentication on."""
    carol = UserFactory(email=f"carol-{language}@example.com", language=language)
    TOTP.activate(carol, generate_totp_secret())
    _sign_in(browser, live_server, carol.email)
    assert browser.current_url.endswith(reverse("mfa_authenticate"))


# --- The household.

def _household(language):
    call_command("loaddemo", stdout=io.StringIO())
    plans = Plan.objects.filter(is_topup=False, prices__currency="USD").order_by("sort_order")
    plan, other = plans[0], plans[1]
    now = timezone.now()
    alice = UserFactory(email=f"alice-{language}@example.com", language="en",
                        time_zone="Asia/Shanghai", phone="+14155550123",
                        phone_verified_at=now)

    # The eSIMs: running with auto-renewal and a plan queued; running at 93%; ready to
    # install; ended; still being prepared.
    phone = auto_renewing_esim(alice, plan=plan, ends_in=timedelta(days=2))
    ESim.objects.filter(pk=phone.pk).update(nickname="Phone 手机")
    running = Bundle.objects.get(esim=phone, state=Bundle.State.ACTIVE)
    BundleFactory(esim=phone, order__plan=other, order__kind=Order.Kind.RENEWAL,
                  state=Bundle.State.QUEUED, data_used_bytes=0,
                  starts_at=running.ends_at, ends_at=running.ends_at + timedelta(days=30))
    tablet = BundleFactory(esim__owner=alice, esim__nickname="Tablet", order__plan=plan,
                           data_used_bytes=int(2.8 * 1024 ** 3)).esim
    ready = ESimFactory(owner=alice, nickname="New watch", state=ESim.State.READY)
    watch = BundleFactory(esim__owner=alice, esim__nickname="Old watch",
                          esim__state=ESim.State.EXPIRED, order__plan=plan,
                          state=Bundle.State.EXPIRED, starts_at=now - timedelta(days=14),
                          ends_at=now - timedelta(days=7)).esim
    paid = paid_new_esim_order(alice, plan=plan)

    def order(status, **extra):
        return OrderFactory(customer=alice, plan=plan, status=status, **extra)

    orders = {
        "pending_payment": order(Order.Status.PENDING_PAYMENT),
        "declined": order(Order.Status.PENDING_PAYMENT, nickname="Laptop"),
        "paid": paid,
        "activating": order(Order.Status.ACTIVATING, activation_started_at=now,
                            nickname="Car"),
        "slow": order(Order.Status.ACTIVATING, nickname="Camera", paid_at=now - timedelta(
            hours=3), activation_started_at=now - timedelta(hours=3)),
        "completed": running.order,
        "failed": order(Order.Status.FAILED, failure_reason="The carrier refused it."),
        "refunded": order(Order.Status.REFUNDED, nickname="Spare phone"),
        # Bought yesterday, never installed: the customer may cancel it for a refund.
        "unused": order(Order.Status.COMPLETED, esim=ready, nickname="New watch",
                        paid_at=now - timedelta(days=1)),
    }
    for_gateway = order(Order.Status.PENDING_PAYMENT, nickname="Gateway")
    for_authentication = order(Order.Status.PENDING_PAYMENT, nickname="3-D Secure")
    Payment.objects.create(order=orders["declined"], gateway="simulated", amount_minor=800,
                           currency="USD", status=Payment.Status.FAILED,
                           failure_code="card_declined",
                           failure_message="Your card was declined.")

    paid_orders = [orders[s] for s in ("paid", "activating", "completed", "failed",
                                       "refunded")]
    with transaction.atomic():  # receipts and credit notes are numbered under a lock
        receipts = receipts_issue(paid=[(o, Payment.objects.create(
            order=o, gateway="simulated", amount_minor=o.amount_minor, currency=o.currency,
            status=Payment.Status.SUCCEEDED)) for o in paid_orders])
        credit_note_issue(receipt=receipts[-1], reason="Asked for by the customer",
                          refund_reference="re_sim_1", at=now)

    support = UserFactory(email=f"support-{language}@example.com", is_staff=True)
    ticket = support_services.ticket_open(
        customer=alice, subject="My renewal has not started", order=orders["activating"],
        body="I paid an hour ago and the order still says preparing.")
    support_services.ticket_reply(ticket=ticket, author=support, from_staff=True,
                                  body="The carrier was slow; it is active now.")
    support_services.ticket_reply(ticket=ticket, author=alice, from_staff=False,
                                  body="Thank you, it works.")
    support_services.ticket_open(customer=alice, subject="Can I use it in Korea?",
                                 body="Does the Asia plan cover Seoul?")

    for kind, channel, status in (("order_paid", "email", "sent"),
                                  ("data_alert", "sms", "sent"),
                                  ("renewal_upcoming", "email", "failed")):
        Notification.objects.create(customer=alice, kind=kind, channel=channel,
                                    esim=phone, bundle=running, threshold=75,
                                    status=status, sent_at=now if status == "sent" else None)

    links = _links(alice, phone, running, for_gateway, for_authentication)
    # The signed links render in the language of the customer they were sent to.
    User.objects.filter(pk=alice.pk).update(language=language)
    alice.refresh_from_db()
    return Household(customer=alice, plan=plan, orders=orders, ticket_id=ticket.pk,
                     esims={"phone": phone, "tablet": tablet, "ready": ready,
                            "watch": watch}, links=links)


def _links(alice, phone, running, for_gateway, for_authentication):
    def gateway_page(order):
        payment = billing_services.payment_start(
            order=order, return_url_for=lambda p: reverse("billing:payment_return",
                                                          args=[order.number, p.pk]))
        return payment, billing_services.payment_customer_url(payment=payment)

    _payment, gateway = gateway_page(for_gateway)
    payment, _url = gateway_page(for_authentication)
    simulated_charge_decide(reference=payment.gateway_reference, outcome="authenticate")
    card = billing_services.card_setup_start(customer=alice, cancel_url="/esims/")

    newcomer = UserFactory(email=f"newcomer-{alice.pk}@example.com", verified=False)
    address = EmailAddress.objects.create(user=newcomer, email=newcomer.email,
                                          verified=False, primary=True)
    return {
        "gateway": gateway,
        "authenticate": reverse("billing:simulated_authenticate",
                                args=[payment.gateway_reference]),
        "card": billing_services.card_setup_customer_url(payment_method=card),
        "unsubscribe": reverse("notifications:unsubscribe", args=[unsubscribe_token(
            customer_id=alice.pk, kind="expiry_reminder", channel="email")]),
        "skip_renewal": reverse("notifications:skip_renewal", args=[skip_renewal_token(
            esim_id=phone.pk, bundle_id=running.pk)]),
        "password_reset": reverse("account_reset_password_from_key", kwargs={
            "uidb36": user_pk_to_url_str(alice),
            "key": default_token_generator.make_token(alice)}),
        "confirm_email": reverse("account_confirm_email",
                                 args=[EmailConfirmationHMAC(address).key]),
    }
