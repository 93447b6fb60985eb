"""The currency prices are shown in: a GET only ever changes what that page shows; the
choice is saved by a POST with its CSRF token, to the account or (signed out) the
session."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

SET_CURRENCY = reverse("plans:set_currency")


@pytest.fixture
def plan():
    return PlanFactory(code="jp-week", name="Japan week")  # US$8.00, €7.50, CN¥58.00


def test_a_currency_in_the_link_shows_prices_in_it_but_saves_nothing(alice_client, alice,
                                                                      plan):
    """A link on another site must not change the customer's account."""
    response = alice_client.get("/plans/?currency=CNY")
    assert "CN¥58.00" in response.content.decode()
    alice.refresh_from_db()
    assert alice.currency == "USD"
    assert "US$8.00" in alice_client.get("/plans/").content.decode()
    assert "US$8.00" in alice_client.get(reverse("plans:detail", args=[plan.code])).content.decode()


def test_a_currency_in_the_link_is_not_kept_for_a_visitor_either(client, plan):
    assert "€7.50" in client.get("/plans/?currency=EUR").content.decode()
    assert "US$8.00" in client.get("/plans/").content.decode()
    assert "currency" not in client.session


def test_choosing_a_currency_saves_it_on_the_account(alice, plan):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    page = browser.get("/plans/?place=Japan")
    token = page.context["csrf_token"]
    response = browser.post(SET_CURRENCY, {"currency": "CNY", "next": "/plans/?place=Japan",
                                           "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302 and response.url == "/plans/?place=Japan"
    alice.refresh_from_db()
    assert alice.currency == "CNY"
    assert "CN¥58.00" in browser.get("/plans/").content.decode()


def test_a_visitor_s_choice_is_kept_in_the_session(client, plan):
    response = client.post(SET_CURRENCY, {"currency": "EUR", "next": "/plans/"})
    assert response.status_code == 302
    assert "€7.50" in client.get("/plans/").content.decode()
    assert "€7.50" in client.get(reverse("plans:detail", args=[plan.code])).content.decode()


def test_a_post_without_the_csrf_token_is_refused(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post(SET_CURRENCY, {"currency": "CNY"}).status_code == 403
    alice.refresh_from_db()
    assert alice.currency == "USD"


@pytest.mark.parametrize("data", [
    {"currency": "XYZ"}, {"currency": "cny"}, {"currency": ""}, {}, {"currency": "C" * 100_000},
])
def test_a_currency_not_offered_is_a_400_and_changes_nothing(alice_client, alice, data):
    response = alice_client.post(SET_CURRENCY, data)
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.currency == "USD"
    assert "currency" not in alice_client.session


def test_choosing_a_currency_needs_a_post(alice_client, alice):
    assert alice_client.get(SET_CURRENCY, {"currency": "CNY"}).status_code == 405
    alice.refresh_from_db()
    assert alice.currency == "USD"


@pytest.mark.parametrize("next_url", [
    "https://evil.example/", "//evil.example/plans/", "/\\evil.example", "javascript:alert(1)",
    "", None,
])
def test_it_goes_back_only_to_a_page_of_the_portal(alice_client, next_url):
    data = {"currency": "EUR"} if next_url is None else {"currency": "EUR", "next": next_url}
    response = alice_client.post(SET_CURRENCY, data)
    assert response.status_code == 302 and response.url == reverse("plans:catalogue")


def test_the_catalogue_switches_currency_with_a_form(alice_client, plan):
    page = alice_client.get("/plans/?place=Japan&validity=week&currency=EUR").content.decode()
    form = page[page.index('<form class="currency-switch'):]
    form = form[:form.index("</form>")]
    assert 'method="post"' in form and f'action="{SET_CURRENCY}"' in form
    assert "csrfmiddlewaretoken" in form
    for code in ("USD", "EUR", "CNY"):
        assert f'name="currency" value="{code}"' in form
    assert 'value="EUR" aria-pressed="true"' in form
    # Back to the same filters, without the currency of the link (it would win again).
    assert 'name="next" value="/plans/?place=Japan&amp;validity=week"' in form
