import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _code(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def test_totp_with_recovery_codes_then_login_asks_for_a_code(client, alice):
    client.force_login(alice)
    # Changing two-factor settings asks for the password again first.
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302 and "reauthenticate" in response["Location"]
    client.post(response["Location"], {"password": "correct horse battery"})
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200
    secret = client.session["mfa.totp.secret"]
    response = client.post(reverse("mfa_activate_totp"), {"code": _code(secret)})
    assert response.status_code == 302
    kinds = set(Authenticator.objects.filter(user=alice).values_list("type", flat=True))
    assert kinds == {Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES}

    client.logout()
    response = client.post(reverse("account_login"), {"login": "alice@example.com",
                                                      "password": "correct horse battery"})
    assert response.status_code == 302 and "2fa" in response["Location"]
    assert client.get(reverse("esims:dashboard")).status_code == 302  # not in yet
    response = client.post(response["Location"], {"code": "000000"})
    assert client.get(reverse("esims:dashboard")).status_code == 302  # wrong code
