"""See and end my signed-in sessions (allauth's user sessions, with a sign-out per
session)."""

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _signed_in(email, user_agent):
    browser = Client(HTTP_USER_AGENT=user_agent)
    response = browser.post(reverse("account_login"), {"login": email,
                                                       "password": "correct horse battery"})
    assert response.status_code == 302
    return browser


def _signed_in_now(browser) -> bool:
    return browser.get(reverse("esims:dashboard")).status_code == 200


@pytest.fixture
def phone_and_laptop(alice):
    return _signed_in("alice@example.com", "iPhone Safari"), _signed_in(
        "alice@example.com", "Linux Firefox")


def test_the_list_shows_each_session_and_which_is_this_one(phone_and_laptop):
    phone, _laptop = phone_and_laptop
    page = phone.get(reverse("usersessions_list")).content.decode()
    assert "iPhone Safari" in page and "Linux Firefox" in page
    assert page.count("This browser") == 1
    assert page.count(reverse("accounts:session_end", args=[0])[:-len("0/end/")]) == 1
    assert f'href="{reverse("usersessions_list")}"' in phone.get(
        reverse("accounts:account")).content.decode()


def test_ending_one_session_from_another_signs_it_out(alice, phone_and_laptop):
    phone, laptop = phone_and_laptop
    lost = UserSession.objects.get(user=alice, user_agent="iPhone Safari")
    response = laptop.post(reverse("accounts:session_end", args=[lost.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("usersessions_list")
    assert not _signed_in_now(phone)
    assert _signed_in_now(laptop)
    assert list(UserSession.objects.filter(user=alice).values_list("user_agent", flat=True)) \
        == ["Linux Firefox"]
    # Pressed again (a double click, a reload): nothing left to end.
    assert laptop.post(reverse("accounts:session_end", args=[lost.pk])).status_code == 404
    assert _signed_in_now(laptop)


def test_this_sessions_own_button_does_not_sign_it_out(alice, phone_and_laptop):
    phone, _laptop = phone_and_laptop
    mine = UserSession.objects.get(user=alice, user_agent="iPhone Safari")
    assert phone.post(reverse("accounts:session_end", args=[mine.pk])).status_code == 302
    assert _signed_in_now(phone)


def test_sign_out_all_other_sessions(alice, phone_and_laptop):
    phone, laptop = phone_and_laptop
    third = _signed_in("alice@example.com", "Android Chrome")
    laptop.post(reverse("usersessions_list"))
    assert _signed_in_now(laptop)
    assert not _signed_in_now(phone) and not _signed_in_now(third)


def test_another_customers_session_is_a_404(alice, bob, phone_and_laptop):
    phone, _laptop = phone_and_laptop
    stranger = _signed_in("bob@example.com", "Bob's browser")
    alices = UserSession.objects.get(user=alice, user_agent="iPhone Safari")
    assert stranger.post(reverse("accounts:session_end", args=[alices.pk])).status_code == 404
    assert _signed_in_now(phone)


def test_ending_needs_a_signed_in_post(client, alice, phone_and_laptop):
    phone, laptop = phone_and_laptop
    lost = UserSession.objects.get(user=alice, user_agent="iPhone Safari")
    assert laptop.get(reverse("accounts:session_end", args=[lost.pk])).status_code == 405
    response = client.post(reverse("accounts:session_end", args=[lost.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert _signed_in_now(phone)
