import pytest
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_language_is_stored_on_the_account_and_used_everywhere(alice_client, alice):
    alice_client.post(reverse("accounts:set_language"), {"language": "zh-hans", "next": "/plans/"})
    alice.refresh_from_db()
    assert alice.language == "zh-hans"
    response = alice_client.get(reverse("esims:dashboard"))
    assert "我的 eSIM" in response.content.decode()
    assert response["Content-Language"] == "zh-hans"


def test_anonymous_visitor_can_switch_language(client):
    response = client.post(reverse("accounts:set_language"),
                           {"language": "zh-hans", "next": "/plans/"})
    assert response["Location"] == "/plans/"
    assert "套餐" in client.get("/plans/").content.decode()


def test_language_switch_ignores_foreign_redirects(client):
    response = client.post(reverse("accounts:set_language"),
                           {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_bad_preferences_change_nothing(alice_client, alice):
    response = alice_client.post(reverse("accounts:preferences"), {
        "language": "klingon", "time_zone": "Mars/Olympus", "currency": "XXX", "phone": "12"})
    assert response.status_code == 200
    alice.refresh_from_db()
    assert (alice.language, alice.time_zone, alice.currency) == ("en", "UTC", "USD")


def test_preferences_saved(alice_client, alice):
    response = alice_client.post(reverse("accounts:preferences"), {
        "language": "en", "time_zone": "Asia/Shanghai", "currency": "CNY"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.time_zone, alice.currency) == ("Asia/Shanghai", "CNY")


def test_the_mobile_number_is_not_changed_here_without_a_code(alice_client, alice):
    """A number typed here would skip its verification: it is set on the notifications
    page, which texts it a code, and a verified number stays verified."""
    type(alice).objects.filter(pk=alice.pk).update(phone="+8613812345678",
                                                   phone_verified_at=timezone.now())
    response = alice_client.post(reverse("accounts:preferences"), {
        "language": "en", "time_zone": "UTC", "currency": "USD", "phone": "+447700900123"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert str(alice.phone) == "+8613812345678" and alice.phone_verified_at is not None
    page = alice_client.get(reverse("accounts:preferences")).content.decode()
    assert 'name="phone"' not in page
    assert f'href="{reverse("notifications:preferences")}"' in page
