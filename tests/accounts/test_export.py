"""Download everything the portal holds about me: one JSON file."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.selectors import account_export
from tests.accounts.people import PHONE, everything_of
from tests.factories import BundleFactory, OrderFactory

pytestmark = pytest.mark.django_db


def _download(client):
    response = client.post(reverse("accounts:data_export"))
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="esim-portal-data-')
    assert response["Cache-Control"] == "no-store"
    return response.content.decode(), json.loads(response.content)


def test_the_file_holds_everything_about_me(alice_client, alice):
    held = everything_of(alice)
    text, data = _download(alice_client)

    profile = data["profile"]
    assert (profile["email"], profile["mobile_number"], profile["time_zone"]) == (
        "alice@example.com", PHONE, "Europe/London")
    assert profile["mobile_number_verified_at"] and profile["joined_at"]
    assert data["email_addresses"] == [{"email": "alice@example.com", "verified": True,
                                        "primary": True}]
    [esim] = data["esims"]
    assert (esim["nickname"], esim["iccid"], esim["state"]) == (
        "Alice's iPhone", held.esim.iccid, "installed")
    assert esim["auto_renew"]["on"] is True and esim["auto_renew"]["card"].endswith("4242")
    assert esim["data_alerts_percent_used"] == [50, 80]
    assert esim["plans"][0]["state"] == "active" and esim["plans"][0]["ends_at"]

    orders = {o["number"]: o for o in data["orders"]}
    order = orders[held.order.number]
    assert (order["amount_minor"], order["currency"], order["status"]) == (
        held.order.amount_minor, "USD", "completed")
    assert order["payments"][0]["status"] == "succeeded"
    assert orders[held.refunded.number]["status"] == "refunded"

    receipts = {r["number"]: r for r in data["receipts"]}
    assert receipts[held.receipt.number]["billed_to"] == "alice@example.com"
    assert receipts[held.receipt.number]["lines"][0]["amount_minor"] == held.order.amount_minor
    note = receipts[held.credit_note.receipt.number]["credit_note"]
    assert (note["number"], note["total_minor"]) == (held.credit_note.number,
                                                    held.credit_note.total_minor)

    assert data["saved_cards"][0]["last4"] == "4242"
    assert set(data["saved_cards"][0]) == {"brand", "last4", "exp_month", "exp_year", "status",
                                           "added_at", "saved_at"}
    kinds = {(n["kind"], n["channel"], n["status"]) for n in data["notifications_sent"]}
    assert kinds == {("order_paid", "email", "sent"), ("order_paid", "sms", "pending")}
    assert data["notification_settings"] == [
        {"kind": "data_alert", "channel": "sms", "enabled": False,
         "changed_at": data["notification_settings"][0]["changed_at"]}]
    [ticket] = data["support_tickets"]
    assert ticket["subject"] == "Where is my renewal?" and ticket["esim_iccid"] == held.esim.iccid
    assert ticket["messages"] == [{"from": "you", "body": "My plan did not renew.",
                                   "screenshot": "settings.png",
                                   "sent_at": ticket["messages"][0]["sent_at"]}]
    assert data["sessions"][0]["ip_address"] == "203.0.113.9"
    assert data["sign_in_methods"][0]["type"] == "totp"
    assert data["mobile_number_verifications"][0]["mobile_number"] == PHONE

    # Never a secret, nor what works as one.
    alice.refresh_from_db()
    for secret in (alice.password, "sim_secret_reference", "re_secret_reference",
                   held.card.reference, held.card.setup_reference, held.esim.matching_id,
                   "TOTPSECRETVALUE", "x" * 64, held.session.session_key,
                   "sim_refunded_reference"):  # prefixes of each customer's references
        assert secret not in text, secret


def test_nothing_of_another_customer(alice_client, alice, bob):
    BundleFactory(esim__owner=bob, esim__nickname="Bob's phone")
    everything_of(alice)
    text, _data = _download(alice_client)
    assert "Bob's phone" not in text and "bob@example.com" not in text


def test_a_customer_with_nothing_gets_a_file_with_empty_lists(alice_client):
    _text, data = _download(alice_client)
    assert data["esims"] == data["orders"] == data["receipts"] == data["support_tickets"] == []
    assert data["format"] == 1


def test_queries_do_not_grow_with_what_the_customer_has(alice, bob):
    everything_of(alice)
    everything_of(bob)
    for _ in range(5):
        BundleFactory(esim__owner=bob)
        OrderFactory(customer=bob)
    with CaptureQueriesContext(connection) as few:
        account_export(user=alice)
    with CaptureQueriesContext(connection) as many:
        account_export(user=bob)
    assert len(many) == len(few) <= 20


def test_only_a_signed_in_post_downloads(client, alice_client):
    assert alice_client.get(reverse("accounts:data_export")).status_code == 405
    client.logout()
    response = client.post(reverse("accounts:data_export"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_few_downloads_an_hour_then_a_clear_refusal(alice_client):
    for _ in range(5):
        _download(alice_client)
    response = alice_client.post(reverse("accounts:data_export"))
    assert response.status_code == 429
    assert "Try again in an hour" in response.content.decode()
    assert "Content-Disposition" not in response
