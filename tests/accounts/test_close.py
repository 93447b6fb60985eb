"""Closing my account: nothing more is charged, the person is erased, receipts stay, and
nobody signs in again (accounts/closing.py, docs/accounts.md)."""

import re
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.files.storage import default_storage
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import closing
from accounts.closing import AccountCloseRefused, account_close
from accounts.models import PhoneVerification, User
from billing.gateways import GatewayError, GatewayRetryableError
from billing.models import CreditNote, Order, Payment, PaymentMethod, Receipt, SimulatedCard
from esims.models import ESim
from notifications import tasks as notification_tasks
from notifications.models import ChannelSetting, Notification
from notifications.requests import notification_request
from renewals import services as renewal_services
from renewals.services import RenewalOutcome
from support.models import Ticket, TicketMessage
from tests.accounts.people import everything_of
from tests.factories import BundleFactory, OrderFactory, paid_new_esim_order

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def _close(client, password=PASSWORD):
    """Press "Close my account" with the box ticked, and give the password again."""
    response = client.post(reverse("accounts:close"), {"confirm": "on"})
    assert response.status_code == 302 and "/reauthenticate/" in response["Location"], response
    return client.post(response["Location"], {"password": password})


def _sign_in(client, email, password=PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def _closed(user) -> User:
    return User.objects.get(pk=user.pk)


def test_the_page_says_what_happens_before_asking_anything(alice_client):
    page = alice_client.get(reverse("accounts:close")).content.decode()
    assert "cannot be undone" in page and "Receipts, credit notes" in page
    assert 'name="confirm"' in page
    assert f'href="{reverse("accounts:close")}"' in alice_client.get(
        reverse("accounts:account")).content.decode()


def test_closing_erases_the_person_stops_charges_and_keeps_receipts(
        client, alice, django_capture_on_commit_callbacks):
    held = everything_of(alice)
    receipt_before = Receipt.objects.values().get(pk=held.receipt.pk)
    note_before = CreditNote.objects.values().get(pk=held.credit_note.pk)
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = _close(client)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:closed")
    assert "closed" in client.get(response["Location"]).content.decode()

    user = _closed(alice)
    assert user.email == f"closed-{alice.pk}@invalid"
    assert (user.first_name, user.last_name, str(user.phone)) == ("", "", "")
    assert user.phone_verified_at is None and user.time_zone == "UTC"
    assert not user.is_active and not user.has_usable_password()
    assert user.closed_at is not None and user.email_undeliverable_at is not None
    for model, owner in ((EmailAddress, "user"), (PhoneVerification, "user"),
                         (Authenticator, "user"), (UserSession, "user"),
                         (ChannelSetting, "customer")):
        assert not model.objects.filter(**{owner: alice}).exists(), model

    # Nothing more is charged: auto-renewal off, the card removed here and at the gateway.
    esim = ESim.objects.get(pk=held.esim.pk)
    assert (esim.nickname, esim.auto_renew, esim.renew_at, esim.data_alert_percents) == (
        "", False, None, None)
    assert PaymentMethod.objects.get(pk=held.card.pk).status == PaymentMethod.Status.REMOVED
    assert not SimulatedCard.objects.get(reference=held.card.reference).saved

    # Orders and payments stay, without the device's name; receipts and credit notes
    # stay exactly as issued.
    assert Order.objects.get(pk=held.order.pk).nickname == ""
    assert Order.objects.get(pk=held.order.pk).status == Order.Status.COMPLETED
    assert Payment.objects.filter(order__customer=alice).count() == 2
    assert Receipt.objects.values().get(pk=held.receipt.pk) == receipt_before
    assert CreditNote.objects.values().get(pk=held.credit_note.pk) == note_before

    # Messages: the waiting one ends failed, none says where it went.
    pending = Notification.objects.get(pk=held.pending.pk)
    assert pending.status == Notification.Status.FAILED
    assert pending.attempts.get().error == "account closed"
    assert not Notification.objects.filter(customer=alice).exclude(recipient="").exists()

    # Tickets are kept as correspondence, closed; screenshots are deleted.
    ticket = Ticket.objects.get(pk=held.ticket.pk)
    assert ticket.status == Ticket.Status.CLOSED
    message = TicketMessage.objects.get(ticket=ticket)
    assert message.body == "My plan did not renew." and not message.attachment
    assert message.attachment_name == "" and not default_storage.exists(held.screenshot)

    # Signed out here.
    assert client.get(reverse("esims:dashboard")).status_code == 302


def test_nobody_signs_in_again_by_password_reset_or_passkey(client, alice):
    client.force_login(alice)
    _close(client)
    closed_email = _closed(alice).email
    for email in ("alice@example.com", closed_email):
        response = _sign_in(client, email)
        assert response.status_code == 200, email  # the form again, with its error
        assert client.get(reverse("esims:dashboard")).status_code == 302
    mail.outbox.clear()
    for email in ("alice@example.com", closed_email):
        client.post(reverse("account_reset_password"), {"email": email})
    links = [link for message in mail.outbox for link in re.findall(r"https?://\S+",
                                                                    message.body)]
    assert not [link for link in links if "/password/reset/key/" in link], links
    assert not any(closed_email in message.to for message in mail.outbox)


def test_every_other_session_is_signed_out(alice):
    phone, laptop = Client(), Client()
    for browser in (phone, laptop):
        assert _sign_in(browser, "alice@example.com").status_code == 302
    assert UserSession.objects.filter(user=alice).count() == 2
    _close(laptop)
    assert phone.get(reverse("esims:dashboard")).status_code == 302
    assert not UserSession.objects.filter(user=alice).exists()


def test_the_address_is_free_for_a_new_account_afterwards(client, alice):
    client.force_login(alice)
    _close(client)
    client.post(reverse("account_signup"), {
        "email": "alice@example.com", "password1": "a long travel password",
        "password2": "a long travel password"})
    assert User.objects.filter(email="alice@example.com").exclude(pk=alice.pk).exists()


def test_closing_twice_is_harmless(client, alice):
    held = everything_of(alice)
    assert account_close(user=alice) is True
    first = _closed(alice)
    with mock.patch("billing.gateways.simulated.SimulatedGateway.card_remove") as detach:
        assert account_close(user=alice) is False
    detach.assert_not_called()
    again = _closed(alice)
    assert (again.closed_at, again.email, again.password) == (
        first.closed_at, first.email, first.password)
    assert Ticket.objects.get(pk=held.ticket.pk).status == Ticket.Status.CLOSED


def _wait_until_someone_waits_for_a_lock() -> None:
    with connection.cursor() as cursor:
        for _ in range(100):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                           "'Lock' AND datname = current_database()")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.1)
    raise AssertionError("the second close never waited for the first")


@pytest.mark.django_db(transaction=True)
def test_two_closes_at_once_close_it_once(alice, monkeypatch):
    """A double click from two tabs: the first holds the customer's row while it erases;
    the second waits for it, then finds the account closed and does nothing."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    held = everything_of(alice)
    inside, release = threading.Event(), threading.Event()
    real = closing._erase

    def slow(user):
        inside.set()
        assert release.wait(10)
        return real(user)

    outcomes: list[bool] = []

    def first():
        try:
            outcomes.append(account_close(user=User.objects.get(pk=alice.pk)))
        finally:
            connections.close_all()

    monkeypatch.setattr(closing, "_erase", slow)
    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    monkeypatch.setattr(closing, "_erase", real)
    second = threading.Thread(target=lambda: outcomes.append(
        account_close(user=User.objects.get(pk=alice.pk))) or connections.close_all())
    second.start()
    _wait_until_someone_waits_for_a_lock()
    release.set()
    thread.join(10)
    second.join(10)
    assert sorted(outcomes) == [False, True]
    assert _closed(alice).email == f"closed-{alice.pk}@invalid"
    assert TicketMessage.objects.get(ticket=held.ticket).body == "My plan did not renew."


def test_without_ticking_the_box_nothing_happens(client, alice):
    client.force_login(alice)
    client.post(reverse("accounts:close"), {})  # asks for the password first
    response = client.post(reverse("account_reauthenticate") + "?next="
                           + reverse("accounts:close"), {"password": PASSWORD})
    response = client.post(reverse("accounts:close"), {})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert _closed(alice).closed_at is None


def test_a_wrong_password_closes_nothing(client, alice):
    client.force_login(alice)
    response = _close(client, password="not my password")
    assert response.status_code == 200
    assert _closed(alice).is_active and _closed(alice).closed_at is None


def test_refused_while_a_paid_order_is_being_set_up(client, alice):
    order = paid_new_esim_order(alice)
    client.force_login(alice)
    page = client.get(reverse("accounts:close")).content.decode()
    assert "still being set up" in page and 'name="confirm"' not in page
    response = _close(client)
    assert response.status_code == 409 and "still being set up" in response.content.decode()
    assert _closed(alice).closed_at is None and _closed(alice).email == "alice@example.com"
    # Once the order is done, the account closes.
    Order.objects.filter(pk=order.pk).update(status=Order.Status.COMPLETED,
                                             completed_at=timezone.now())
    assert account_close(user=alice) is True


def test_refused_while_a_payment_was_just_started(alice):
    order = OrderFactory(customer=alice)
    Payment.objects.create(order=order, gateway="simulated", gateway_reference="sim_open",
                           amount_minor=order.amount_minor, currency=order.currency)
    with pytest.raises(AccountCloseRefused, match="payment you started"):
        account_close(user=alice)
    assert _closed(alice).closed_at is None
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert account_close(user=alice) is True


@pytest.mark.parametrize(("error", "says"), [
    (GatewayRetryableError("gateway unreachable"), "Try again in a few minutes"),
    (GatewayError("no such payment method"), "write to support")])
def test_a_card_the_gateway_cannot_detach_stops_before_anything_is_erased(
        client, alice, error, says):
    held = everything_of(alice)
    client.force_login(alice)
    with mock.patch("billing.gateways.simulated.SimulatedGateway.card_remove",
                    side_effect=error):
        response = _close(client)
    assert response.status_code == 409 and says in response.content.decode()
    user = _closed(alice)
    assert (user.email, user.is_active, user.closed_at) == ("alice@example.com", True, None)
    assert user.has_usable_password() and str(user.phone)
    assert PaymentMethod.objects.get(pk=held.card.pk).status == PaymentMethod.Status.ACTIVE
    assert ESim.objects.get(pk=held.esim.pk).nickname == "Alice's iPhone"
    assert EmailAddress.objects.filter(user=alice).exists()
    # Retried once the gateway answers: closed.
    assert client.post(reverse("accounts:close"), {"confirm": "on"}).status_code == 302
    assert _closed(alice).closed_at is not None


def _ending_soon(owner):
    """A plan that started ten days ago and ends in twelve hours: its one-day reminder
    is due now."""
    now = timezone.now()
    return BundleFactory(esim__owner=owner, validity_days=10,
                         starts_at=now - timedelta(days=10), ends_at=now + timedelta(hours=12),
                         created_at=now - timedelta(days=10, hours=1))


def test_a_closed_account_gets_no_more_messages_or_charges(
        alice, bob, django_capture_on_commit_callbacks):
    held = everything_of(alice)
    alices, bobs = _ending_soon(alice), _ending_soon(bob)
    account_close(user=alice)
    messages_before = Notification.objects.filter(customer=alice).count()
    payments_before = Payment.objects.count()
    mail.outbox.clear()

    # The reminder sweep finds both plans ending (a period that changes after closing
    # plans the reminder again)...
    ESim.objects.filter(pk__in=[alices.esim_id, bobs.esim_id]).update(
        reminder_due_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_tasks.reminder_sweep() == 2
    # ...the renewal sweep runs, support replies to the old ticket...
    ESim.objects.filter(pk=held.esim.pk).update(renew_at=timezone.now())
    assert renewal_services.renewal_claim_due() == [held.esim.pk]
    assert renewal_services.renewal_run(esim_id=held.esim.pk) == RenewalOutcome.OFF
    staff = User.objects.create_user("agent@example.com", is_staff=True)
    reply = TicketMessage.objects.create(ticket=held.ticket, author=staff, from_staff=True,
                                         body="It renewed.")
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_request(kind=Notification.Kind.SUPPORT_REPLIED,
                                    ticket_message=reply) == []
        notification_tasks.notification_sweep()
    # ...and nothing is sent to or charged of the closed account; Bob, still a customer,
    # is reminded as usual.
    assert Notification.objects.filter(customer=alice).count() == messages_before
    assert Payment.objects.count() == payments_before
    assert Notification.objects.filter(customer=bob, bundle=bobs,
                                       kind=Notification.Kind.EXPIRY_REMINDER).exists()
    assert [message.to for message in mail.outbox] == [["bob@example.com"]]


def test_the_audit_trail_forgets_nicknames_and_where_the_customer_was(alice):
    held = everything_of(alice)
    esim_type = ContentType.objects.get_for_model(ESim)
    entry = LogEntry.objects.create(
        content_type=esim_type, object_pk=str(held.esim.pk), object_id=held.esim.pk,
        object_repr=str(held.esim), action=LogEntry.Action.UPDATE,
        changes={"nickname": ["Device 1", "Alice's iPhone"], "auto_renew": ["False", "True"]},
        actor=alice, actor_email="alice@example.com", remote_addr="198.51.100.7")
    account_close(user=alice)
    entry.refresh_from_db()
    assert entry.changes == {"auto_renew": ["False", "True"]}
    assert "Alice" not in entry.object_repr and held.esim.iccid in entry.object_repr
    assert (entry.actor_email, entry.remote_addr) == (f"closed-{alice.pk}@invalid", None)
    assert not LogEntry.objects.filter(actor_email="alice@example.com").exists()


def test_a_staff_account_is_not_closed_here(client):
    agent = User.objects.create_user("agent@example.com", PASSWORD, is_staff=True)
    with pytest.raises(AccountCloseRefused, match="administrator"):
        account_close(user=agent)
    assert _closed(agent).is_active and _closed(agent).email == "agent@example.com"


def test_only_for_the_signed_in_customer_by_post(client):
    response = client.post(reverse("accounts:close"), {"confirm": "on"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(reverse("accounts:closed")).status_code == 200
