"""Closing an account: the customer's own "delete me".

What goes and what stays, and why, is in docs/accounts.md. In short: nothing more is
charged (auto-renewal off, saved cards detached at the gateway first), the person is
erased (email, names, number, nicknames, sign-in methods, sessions, message settings,
where messages went, screenshots), and what the law and support need stays (orders,
receipts and credit notes as issued, payments, tickets' text). The row of the User
stays, as orders and receipts refer to it, with a non-deliverable address
(`closed-<id>@invalid`), no usable password and `is_active` off: nobody signs in again.

The order of the steps is what makes it safe to repeat and to cut short:
1. refuse while money is moving (a paid order still being set up, a payment just
   started): closing then would leave a paid order nobody can follow;
2. switch auto-renewal off on every eSIM (idempotent; a renewal charge needs it on);
3. detach each saved card at the gateway, outside any transaction; a failure stops
   here, with nothing erased, and the customer is told to retry (or, when retrying
   cannot help, to write to support);
4. erase, in one transaction, with the customer's row locked (a second request waits,
   then finds the account closed and does nothing), and end every session;
5. delete the screenshots, once committed.
"""

import logging
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.adapter import get_adapter as usersessions_adapter
from allauth.usersessions.models import UserSession
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.card_states import card_mark_removed
from billing.gateways import GatewayError, get_gateway
from billing.models import Order, Payment, PaymentMethod
from billing.services import PAYMENT_REUSE_MINUTES
from esims.models import ESim
from notifications.models import ChannelSetting, DeliveryAttempt, Notification
from notifications.states import NOTIFICATION
from renewals.services import auto_renew_switch_off
from support.models import Ticket, TicketMessage
from support.ticket_states import tickets_close

from .models import PhoneVerification, User

log = logging.getLogger(__name__)

CLOSED_REASON = "account closed"


class AccountCloseRefused(Exception):
    """Why the account cannot be closed now, in the customer's words. Nothing was
    erased."""


def closed_email(user_id: int) -> str:
    """The address a closed account keeps: unique (the login must be), and in the
    `.invalid` top-level domain, which never delivers (RFC 2606)."""
    return f"closed-{user_id}@invalid"


def account_close_refusal(*, user: User) -> str | None:
    """Why the customer may not close the account right now, or None when they may."""
    if user.is_staff or user.is_superuser:
        # Staff actions and the audit trail name their author; erasing one would leave
        # them unattributed.
        return _("A staff account is closed by an administrator, not here.")
    if Order.objects.filter(customer=user, status__in=[Order.Status.PAID,
                                                        Order.Status.ACTIVATING]).exists():
        return _("An eSIM or a plan you paid for is still being set up at the carrier. "
                 "Close your account once it is ready (its order page shows it): closed "
                 "now, nobody could tell you how it ended.")
    started = timezone.now() - timedelta(minutes=PAYMENT_REUSE_MINUTES)
    if Payment.objects.filter(order__customer=user, status__in=Payment.OPEN_STATUSES,
                              created_at__gte=started).exists():
        return _("A payment you started is still open. Finish it, or leave it for half "
                 "an hour, then close your account.")
    return None


def account_close(*, user: User) -> bool:
    """Close the customer's account (the steps above). Returns True when this call
    closed it, False when it was closed already. Raises AccountCloseRefused, with
    nothing erased, while money is moving or when a card could not be detached."""
    if User.objects.filter(pk=user.pk, closed_at__isnull=False).exists():
        return False
    refusal = account_close_refusal(user=user)
    if refusal:
        raise AccountCloseRefused(refusal)
    for esim in ESim.objects.filter(owner=user).filter(
            Q(auto_renew=True) | ~Q(renewal_attention="")).only("pk"):
        auto_renew_switch_off(esim=esim)
    detached = _cards_detach(user)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.closed_at is not None:
            return False
        refusal = account_close_refusal(user=locked)  # a payment started meanwhile
        if refusal:
            raise AccountCloseRefused(refusal)
        for card in PaymentMethod.objects.select_for_update().filter(customer=locked).exclude(
                status=PaymentMethod.Status.REMOVED):
            if card.reference and card.pk not in detached:  # saved meanwhile
                raise AccountCloseRefused(_("A card was saved while your account was "
                                            "being closed. Try again."))
            card_mark_removed(method=card)
        screenshots = _erase(locked)
        # Every session is dead already (the password changed and the account is
        # inactive: Django's session check fails); ending them removes them from the
        # store too. Were this rolled back, a cached session would be read again from
        # the database, so nothing is lost.
        usersessions_adapter().end_sessions(UserSession.objects.filter(user=locked))
        transaction.on_commit(lambda: _screenshots_delete(screenshots))
    user.refresh_from_db()
    log.info("account %s closed", user.pk)
    return True


def _cards_detach(user: User) -> set[int]:
    """Detach every saved card at its gateway; the ids of those detached. A card is
    never charged once detached there, whatever happens to the rest."""
    detached = set()
    for card in PaymentMethod.objects.filter(customer=user).exclude(
            status=PaymentMethod.Status.REMOVED).exclude(reference=""):
        try:
            get_gateway(card.gateway).card_remove(reference=card.reference)
        except GatewayError as exc:
            log.warning("closing account %s: card %s not detached: %s", user.pk, card.pk,
                        exc)
            if exc.retryable:
                raise AccountCloseRefused(_(
                    "We could not reach the payment provider to remove your saved card, "
                    "so nothing was erased. Try again in a few minutes.")) from exc
            raise AccountCloseRefused(_(
                "The payment provider refused to remove your saved card, so nothing was "
                "erased. Please write to support: they will close your account.")) from exc
        detached.add(card.pk)
    return detached


def _erase(user: User) -> list[str]:
    """Erase the person from the account, in the caller's transaction. Returns the
    names of the screenshots to delete once it commits."""
    now = timezone.now()
    user.email = closed_email(user.pk)
    user.first_name = user.last_name = ""
    user.phone = ""
    user.phone_verified_at = None
    user.time_zone = "UTC"
    # No message can be asked for or sent any more (notifications/requests.py and
    # services.py read these two), whatever a sweep finds to say.
    user.email_undeliverable_at = now
    user.email_undeliverable_reason = CLOSED_REASON
    user.is_active = False
    user.set_unusable_password()
    user.closed_at = now
    user.save(update_fields=[
        "email", "first_name", "last_name", "phone", "phone_verified_at", "time_zone",
        "email_undeliverable_at", "email_undeliverable_reason", "is_active", "password",
        "closed_at"])
    EmailAddress.objects.filter(user=user).delete()
    PhoneVerification.objects.filter(user=user).delete()
    Authenticator.objects.filter(user=user).delete()
    ChannelSetting.objects.filter(customer=user).delete()
    esim_ids = list(ESim.objects.filter(owner=user).values_list("pk", flat=True))
    ESim.objects.filter(pk__in=esim_ids).update(nickname="", data_alert_percents=None,
                                                reminder_due_at=None, updated_at=now)
    order_ids = list(Order.objects.filter(customer=user).values_list("pk", flat=True))
    Order.objects.filter(pk__in=order_ids).exclude(nickname="").update(nickname="")
    _messages_end(user)
    tickets_close(tickets=Ticket.objects.filter(customer=user), at=now)
    attached = TicketMessage.objects.filter(ticket__customer=user).exclude(attachment="")
    screenshots = [name for name in attached.values_list("attachment", flat=True) if name]
    attached.update(attachment="", attachment_name="")
    _audit_redact(user, esim_ids=esim_ids, order_ids=order_ids)
    return screenshots


def _messages_end(user: User) -> None:
    """Messages still waiting end as failed (one being sent right now fails at its
    send: there is no address any more); where every message went is forgotten."""
    waiting = list(Notification.objects.filter(customer=user,
                                               status=Notification.Status.PENDING)
                   .values_list("pk", flat=True))
    if waiting:
        NOTIFICATION.move(Notification.objects.filter(pk__in=waiting),
                          to=Notification.Status.FAILED)
        DeliveryAttempt.objects.bulk_create([
            DeliveryAttempt(notification_id=pk, succeeded=False, error=CLOSED_REASON)
            for pk in waiting])
    Notification.objects.filter(customer=user).exclude(recipient="").update(recipient="")


# Fields of audited rows (portal/audit.py) that name the person rather than the service.
_PERSONAL_FIELDS = ("nickname",)


def _audit_redact(user: User, *, esim_ids: list[int], order_ids: list[int]) -> None:
    """The audit trail keeps what happened to orders and eSIMs, not who the customer
    was: nicknames leave its entries (and the rows' names as it shows them), and the
    entries the customer's own requests wrote forget their address and IP."""
    about = Q()
    for model, ids in ((ESim, esim_ids), (Order, order_ids)):
        if ids:
            about |= Q(content_type=ContentType.objects.get_for_model(model),
                       object_id__in=ids)
    if about:
        esim_names = {esim.pk: str(esim) for esim in ESim.objects.filter(pk__in=esim_ids)}
        entries = []
        for entry in LogEntry.objects.filter(about).select_related("content_type"):
            changes = entry.changes if isinstance(entry.changes, dict) else None
            if changes and any(name in changes for name in _PERSONAL_FIELDS):
                entry.changes = {k: v for k, v in changes.items()
                                 if k not in _PERSONAL_FIELDS}
            if entry.content_type.model_class() is ESim and entry.object_id in esim_names:
                entry.object_repr = esim_names[entry.object_id]
            entries.append(entry)
        LogEntry.objects.bulk_update(entries, ["changes", "object_repr"], batch_size=500)
    LogEntry.objects.filter(actor=user).update(actor_email=user.email, remote_addr=None,
                                               remote_port=None)


def _screenshots_delete(screenshots: list[str]) -> None:
    for name in screenshots:
        try:
            default_storage.delete(name)
        except OSError:
            log.exception("closed account: screenshot %s not deleted", name)
