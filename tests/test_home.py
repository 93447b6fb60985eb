"""The home page: what the service is for visitors; signed-in customers go to their eSIMs."""

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_visitor_learns_what_the_service_is_and_where_to_go(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Mobile data abroad, without hunting for a SIM card" in page
    # How an eSIM works: buy, install by scan or tap, use abroad, renew or top up.
    for step in ("1. Buy a plan", "2. Scan or tap to install", "3. Use it abroad",
                 "4. Renew or top up"):
        assert step in page
    # Device compatibility, and how to check it.
    assert "unlocked" in page and "Digital SIM" in page and "*#06#" in page
    assert "Settings › General › About" in page and "Settings › About phone" in page
    # Paths on: the catalogue, sign-up, sign-in and the help.
    for name in ("plans:catalogue", "account_signup", "account_login", "help:index"):
        assert f'href="{reverse(name)}"' in page, name
    assert f'href="{reverse("help:article", args=["device-compatibility"])}"' in page
    # Nothing fetched from elsewhere: the pictures are drawn inline.
    assert "http://" not in page.replace(settings.PORTAL_BASE_URL, "")
    assert "https://" not in page and "<img" not in page
    assert page.count("<h1") == 1


def test_the_home_page_in_chinese(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = client.get("/")
    assert response.status_code == 200
    assert 'lang="zh' in response.content.decode()


def test_a_signed_in_customer_lands_on_their_esims(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("esims:dashboard")


def test_the_brand_leads_home_and_home_takes_only_get(client):
    page = client.get(reverse("plans:catalogue")).content.decode()
    assert 'class="brand" href="/"' in page
    assert client.post("/").status_code == 405
