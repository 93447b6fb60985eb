import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _link(message) -> str:
    link = re.search(r"https?://[^\s]+", message.body)
    assert link is not None, "the email has no link"
    return link.group(0).replace("http://testserver", "")


def test_signup_needs_a_confirmed_email_before_the_dashboard(client):
    response = client.post(reverse("account_signup"), {
        "email": "new@example.com", "password1": "a long travel password",
        "password2": "a long travel password"})
    assert response.status_code == 302
    assert User.objects.filter(email="new@example.com").exists()
    assert len(mail.outbox) == 1 and "new@example.com" in mail.outbox[0].to
    # Not confirmed yet: signing in sends the customer to the confirmation notice.
    response = client.get(reverse("esims:dashboard"))
    assert response.status_code == 302

    confirm_url = _link(mail.outbox[0])
    response = client.post(confirm_url)
    assert response.status_code == 302
    assert EmailAddress.objects.get(email="new@example.com").verified
    assert client.get(reverse("esims:dashboard")).status_code == 200


def test_signup_with_a_taken_email_changes_nothing(client, alice):
    client.post(reverse("account_signup"), {
        "email": "ALICE@example.com", "password1": "a long travel password",
        "password2": "a long travel password"})
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


def test_login_and_logout(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice@example.com",
                                                      "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get(reverse("esims:dashboard")).status_code == 200
    client.post(reverse("account_logout"))
    assert client.get(reverse("esims:dashboard")).status_code == 302


def test_login_is_rate_limited_after_repeated_failures(client, alice):
    statuses = []
    for _ in range(8):
        response = client.post(reverse("account_login"), {"login": "alice@example.com",
                                                          "password": "wrong"})
        statuses.append(response.status_code)
    # The right password is refused too while the limit holds.
    response = client.post(reverse("account_login"), {"login": "alice@example.com",
                                                      "password": "correct horse battery"})
    assert 429 in statuses or "too many" in response.content.decode().lower()
    assert client.get(reverse("esims:dashboard")).status_code == 302


def test_password_reset_by_email_link(client, alice):
    client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    reset_url = _link(mail.outbox[0])
    response = client.get(reset_url, follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else reset_url
    response = client.post(form_url, {"password1": "a brand new password",
                                      "password2": "a brand new password"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a brand new password")


def test_unconfirmed_account_cannot_reach_the_dashboard(client):
    user = UserFactory(email="pending@example.com", verified=False)
    client.post(reverse("account_login"), {"login": user.email,
                                           "password": "correct horse battery"})
    assert client.get(reverse("esims:dashboard")).status_code == 302
