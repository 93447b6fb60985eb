"""Sign in with a passkey: django-allauth's WebAuthn, through its own pages, with a real
ceremony. `SoftPasskey` is a software authenticator (an ES256 key pair made with
`cryptography`, its messages built with fido2's own types), so allauth and fido2 check
real challenges, origins and signatures: nothing of theirs is mocked."""

import hashlib
import json
import os

import pytest
from allauth.mfa.models import Authenticator
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.test import Client
from django.urls import reverse
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    Aaguid,
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

from accounts.closing import account_close
from accounts.models import User

pytestmark = pytest.mark.django_db

ORIGIN, RP_ID = "http://testserver", "testserver"
FLAG = AuthenticatorData.FLAG


class SoftPasskey:
    """A passkey on a phone: makes a credential for a site, then signs its challenges."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.user_handle = b""
        self.sign_count = 0

    def create(self, options: dict) -> str:
        """navigator.credentials.create(), as webauthn-json hands it to allauth's form."""
        public_key = options["publicKey"]
        assert public_key["rp"]["id"] == RP_ID
        self.user_handle = websafe_decode(public_key["user"]["id"])
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.CREATE,
            challenge=websafe_decode(public_key["challenge"]), origin=ORIGIN)
        auth_data = AuthenticatorData.create(
            hashlib.sha256(RP_ID.encode()).digest(), FLAG.UP | FLAG.UV | FLAG.AT, 0,
            AttestedCredentialData.create(Aaguid.NONE, self.credential_id,
                                          ES256.from_cryptography_key(self.key.public_key())))
        return json.dumps({
            "type": "public-key", "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "response": {"clientDataJSON": websafe_encode(client_data),
                         "attestationObject": websafe_encode(
                             AttestationObject.create("none", auth_data, {}))},
            "clientExtensionResults": {"credProps": {"rk": True}}})

    def get(self, options: dict, *, tamper: bool = False) -> str:
        """navigator.credentials.get(): sign the server's challenge."""
        public_key = options["publicKey"]
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.GET,
            challenge=websafe_decode(public_key["challenge"]), origin=ORIGIN)
        self.sign_count += 1
        auth_data = AuthenticatorData.create(hashlib.sha256(RP_ID.encode()).digest(),
                                             FLAG.UP | FLAG.UV, self.sign_count)
        signature = self.key.sign(bytes(auth_data) + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        if tamper:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        return json.dumps({
            "type": "public-key", "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "response": {"clientDataJSON": websafe_encode(client_data),
                         "authenticatorData": websafe_encode(auth_data),
                         "signature": websafe_encode(signature),
                         "userHandle": websafe_encode(self.user_handle)},
            "clientExtensionResults": {}})


def _add_passkey(client, passkey: SoftPasskey) -> None:
    """Account → two-factor and passkeys → Add (the password again first)."""
    response = client.get(reverse("mfa_add_webauthn"))
    assert response.status_code == 302 and "reauthenticate" in response["Location"]
    client.post(response["Location"], {"password": "correct horse battery"})
    response = client.get(reverse("mfa_add_webauthn"))
    assert response.status_code == 200
    credential = passkey.create(response.context["js_data"]["creation_options"])
    response = client.post(reverse("mfa_add_webauthn"), {
        "name": "My phone", "passwordless": "on", "credential": credential})
    assert response.status_code == 302, response.content.decode()[:2000]


def _passkey_sign_in(client, passkey: SoftPasskey, **kwargs):
    """The login page's "Sign in with a passkey": fetch the options, sign, post."""
    response = client.get(reverse("mfa_login_webauthn"), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    credential = passkey.get(response.json()["request_options"], **kwargs)
    return client.post(reverse("mfa_login_webauthn"), {"credential": credential})


def _signed_in(client) -> bool:
    return client.get(reverse("esims:dashboard")).status_code == 200


def test_passkeys_are_on_and_insecure_origins_only_outside_production():
    assert "webauthn" in settings.MFA_SUPPORTED_TYPES and settings.MFA_PASSKEY_LOGIN_ENABLED
    from portal.settings import base
    assert not getattr(base, "MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN", False)


def test_add_a_passkey_then_sign_in_with_it_and_no_password(alice_client, alice):
    passkey = SoftPasskey()
    _add_passkey(alice_client, passkey)
    key = Authenticator.objects.get(user=alice, type=Authenticator.Type.WEBAUTHN)
    assert key.wrap().name == "My phone" and key.wrap().is_passwordless
    alice_client.post(reverse("account_logout"))
    assert not _signed_in(alice_client)

    client = Client()
    page = client.get(reverse("account_login")).content.decode()
    assert "Sign in with a passkey" in page and 'id="passkey_login"' in page
    response = _passkey_sign_in(client, passkey)
    assert response.status_code == 302
    assert _signed_in(client)
    assert client.get(reverse("accounts:account")).context["user"] == alice


def test_a_forged_signature_signs_nobody_in(alice_client):
    passkey = SoftPasskey()
    _add_passkey(alice_client, passkey)
    client = Client()
    response = _passkey_sign_in(client, passkey, tamper=True)
    assert response.status_code == 302 and response["Location"] == reverse("account_login")
    assert not _signed_in(client)


def test_a_passkey_nobody_registered_signs_nobody_in(alice_client):
    _add_passkey(alice_client, SoftPasskey())
    client = Client()
    stranger = SoftPasskey()
    stranger.user_handle = b"1"
    _passkey_sign_in(client, stranger)
    assert not _signed_in(client)


def test_a_closed_accounts_passkey_no_longer_works(alice_client, alice):
    passkey = SoftPasskey()
    client = Client()
    _add_passkey(alice_client, passkey)
    account_close(user=User.objects.get(pk=alice.pk))
    assert not Authenticator.objects.filter(user=alice).exists()
    _passkey_sign_in(client, passkey)
    assert not _signed_in(client)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_two_factor_and_passkey_pages_are_in_the_portals_layout(alice_client, alice,
                                                                    language):
    User.objects.filter(pk=alice.pk).update(language=language)
    alice_client.post(reverse("account_reauthenticate"), {"password": "correct horse battery"})
    for name in ("mfa_index", "mfa_list_webauthn", "mfa_add_webauthn", "usersessions_list",
                 "account_email", "account_change_password"):
        response = alice_client.get(reverse(name))
        assert response.status_code == 200, name
        page = response.content.decode()
        assert 'class="site-header"' in page and f'href="{reverse("accounts:account")}"' in page
    account = alice_client.get(reverse("accounts:account")).content.decode()
    assert f'href="{reverse("mfa_index")}"' in account
