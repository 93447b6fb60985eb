"""Staff sign in through allauth like customers: the admin's own login page is no way
around the second factor or the rate limits."""

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
ADMIN_LOGIN = "/staff/login/"
ADMIN_INDEX = "/staff/"


def _code(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def _with_totp(user: User) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


@pytest.fixture(params=["support_agent", "superuser"])
def staff(request):
    """A support agent (staff with a few admin permissions) or a superuser, with TOTP."""
    if request.param == "superuser":
        user = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    else:
        user = UserFactory(email="agent@example.com", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(
            codename__in=["view_user", "view_order", "change_order", "view_esim"]))
    user.totp_secret = _with_totp(user)
    return user


def _signed_in_user_id(client):
    return client.session.get("_auth_user_id")


def _shows_admin_index(client) -> bool:
    response = client.get(ADMIN_INDEX)
    return (response.status_code == 200
            and b"site administration" in response.content.lower()  # the index's title
            and b"eSIM Portal support desk" in response.content)


def _limited(response) -> bool:
    return response.status_code == 429 or b"too many" in response.content.lower()


def test_password_alone_posted_to_the_admin_login_signs_nobody_in(client, staff):
    response = client.post(ADMIN_LOGIN, {"username": staff.email, "password": PASSWORD,
                                          "next": ADMIN_INDEX})
    assert _signed_in_user_id(client) is None
    # It is sent to allauth's login, which asks for the password (and the code) itself.
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("account_login")
    assert not _shows_admin_index(client)
    assert _signed_in_user_id(client) is None


def test_allauth_login_asks_staff_for_the_code_then_returns_to_the_admin(client, staff):
    page = client.get(ADMIN_INDEX, follow=True)
    assert urlsplit(page.redirect_chain[-1][0]).path == reverse("account_login")
    # The sign-in form carries the way back to the admin.
    assert b'name="next" value="/staff/"' in page.content
    response = client.post(reverse("account_login"), {"login": staff.email,
                                                      "password": PASSWORD,
                                                      "next": ADMIN_INDEX})
    assert response.status_code == 302 and "2fa" in response["Location"]
    assert _signed_in_user_id(client) is None
    assert not _shows_admin_index(client)

    stage_url = response["Location"]
    response = client.post(stage_url, {"code": "000000"})
    assert _signed_in_user_id(client) is None

    response = client.post(stage_url, {"code": _code(staff.totp_secret)})
    assert response.status_code == 302 and response["Location"] == ADMIN_INDEX
    assert _signed_in_user_id(client) == str(staff.pk)
    assert _shows_admin_index(client)


def test_guessing_through_either_login_is_limited(client, staff):
    for _ in range(30):
        response = client.post(ADMIN_LOGIN, {"username": staff.email, "password": "wrong"})
        assert response.status_code == 302  # off to allauth, no password checked here
    refused = [_limited(client.post(reverse("account_login"), {"login": staff.email,
                                                               "password": "wrong"}))
               for _ in range(30)]
    # allauth's login_failed limit (5 a key in 5 minutes) stops the guessing early.
    assert refused.index(True) <= 10 and all(refused[refused.index(True):])

    # Past the limit the right password gets nobody in, through either door.
    client.post(ADMIN_LOGIN, {"username": staff.email, "password": PASSWORD})
    assert _signed_in_user_id(client) is None
    response = client.post(reverse("account_login"), {"login": staff.email,
                                                      "password": PASSWORD})
    assert _limited(response)
    assert _signed_in_user_id(client) is None
    assert "2fa" not in response.get("Location", "")
    assert not _shows_admin_index(client)


def test_a_signed_in_staff_member_cannot_switch_user_through_the_admin_login(client, staff):
    """Signed in as one staff member, posting another's password to the admin's login
    must not sign in as them (their second factor skipped, no rate limit)."""
    other = UserFactory(email="other-root@example.com", is_staff=True, is_superuser=True)
    _with_totp(other)
    client.force_login(staff)
    response = client.post(ADMIN_LOGIN, {"username": other.email, "password": PASSWORD,
                                          "next": ADMIN_INDEX})
    assert response.status_code == 302 and response["Location"] == ADMIN_INDEX
    assert _signed_in_user_id(client) == str(staff.pk)


def test_a_customer_gets_no_admin_content(client, alice):
    client.force_login(alice)
    response = client.get(ADMIN_INDEX, follow=True)
    assert response.status_code == 403
    assert b"site administration" not in response.content.lower()
    response = client.post(ADMIN_LOGIN, {"username": alice.email, "password": PASSWORD})
    assert response.status_code == 403
    assert _signed_in_user_id(client) == str(alice.pk)


def test_anonymous_visit_to_the_admin_goes_to_allauth_login_with_next(client):
    response = client.get(ADMIN_INDEX, follow=True)
    final, _status = response.redirect_chain[-1]
    assert urlsplit(final).path == reverse("account_login")
    assert parse_qs(urlsplit(final).query)["next"] == [ADMIN_INDEX]
    assert response.status_code == 200

    response = client.get(ADMIN_LOGIN + "?next=/staff/billing/order/")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == ["/staff/billing/order/"]


def test_admin_logout_still_signs_out(client, staff):
    client.force_login(staff)
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 200
    assert _signed_in_user_id(client) is None
    assert not _shows_admin_index(client)


def test_demo_support_login_signs_in_through_allauth(client):
    call_command("loaddemo", stdout=io.StringIO())
    response = client.post(reverse("account_login") + "?next=/staff/",
                           {"login": "support@example.com", "password": "support-esim-2026"})
    assert response.status_code == 302 and response["Location"] == ADMIN_INDEX
    assert _shows_admin_index(client)


def test_staff_without_a_confirmed_address_confirm_it_first(client):
    """A staff member made with createsuperuser has no EmailAddress row: allauth mails a
    confirmation link instead of signing in, exactly as for customers."""
    User.objects.create_superuser(email="ops@example.com", password=PASSWORD)
    response = client.post(reverse("account_login") + "?next=/staff/",
                           {"login": "ops@example.com", "password": PASSWORD})
    assert _signed_in_user_id(client) is None
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ops@example.com"]
    assert EmailAddress.objects.filter(email="ops@example.com", verified=False).exists()
    assert not _shows_admin_index(client)

    link = re.search(r"https?://testserver(\S+)", mail.outbox[0].body).group(1)
    client.post(link)
    assert EmailAddress.objects.get(email="ops@example.com").verified
    assert _shows_admin_index(client)
