"""A customer with one of everything the portal can hold about them, for the data export
and account closing tests."""

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import PhoneVerification, User
from billing.models import CreditNote, Order, Payment, PaymentMethod, Receipt
from billing.receipts import credit_note_issue, receipts_issue
from esims.models import ESim
from notifications.models import ChannelSetting, Notification
from support.models import Ticket, TicketMessage
from tests.factories import OrderFactory, auto_renewing_esim

PHONE = "+447700900123"
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@dataclass
class Everything:
    esim: ESim
    card: PaymentMethod
    order: Order
    payment: Payment
    receipt: Receipt
    credit_note: CreditNote
    refunded: Order
    notification: Notification
    pending: Notification
    ticket: Ticket
    screenshot: str
    session: UserSession


def everything_of(customer: User) -> Everything:
    now = timezone.now()
    User.objects.filter(pk=customer.pk).update(
        phone=PHONE, phone_verified_at=now, first_name="Alice", last_name="Liddell",
        time_zone="Europe/London")
    customer.refresh_from_db()
    PhoneVerification.objects.create(user=customer, phone=PHONE, code_hash="x" * 64,
                                     expires_at=now + timedelta(minutes=10), verified_at=now)
    esim = auto_renewing_esim(customer)
    ESim.objects.filter(pk=esim.pk).update(nickname="Alice's iPhone",
                                           data_alert_percents=[50, 80])
    esim.refresh_from_db()
    card = esim.renewal_payment_method
    assert card is not None
    order = esim.bundles.get().order
    Order.objects.filter(pk=order.pk).update(nickname="Alice's iPhone")
    order.refresh_from_db()
    payment = Payment.objects.create(order=order, gateway="simulated",
                                     gateway_reference=f"sim_secret_reference_{customer.pk}",
                                     amount_minor=order.amount_minor, currency=order.currency,
                                     status=Payment.Status.SUCCEEDED, payment_method=card)
    # factory-boy's __new__ returns the created model; mypy sees the factory class.
    refunded = cast(Order, OrderFactory(customer=customer, status=Order.Status.REFUNDED,
                                        nickname="Alice's iPad"))
    refund_payment = Payment.objects.create(
        order=refunded, gateway="simulated",
        gateway_reference=f"sim_refunded_reference_{customer.pk}",
        amount_minor=refunded.amount_minor, currency=refunded.currency,
        status=Payment.Status.SUCCEEDED)
    with transaction.atomic():  # as when an order is paid: the counters are locked
        receipt, refunded_receipt = receipts_issue(paid=[(order, payment),
                                                         (refunded, refund_payment)])
        credit_note = credit_note_issue(
            receipt=refunded_receipt, reason="Asked for",
            refund_reference=f"re_secret_reference_{customer.pk}", at=now)
    notification = Notification.objects.create(
        customer=customer, kind=Notification.Kind.ORDER_PAID, channel="email", order=order,
        recipient=customer.email, status=Notification.Status.SENT, sent_at=now)
    pending = Notification.objects.create(
        customer=customer, kind=Notification.Kind.ORDER_PAID, channel="sms", order=order,
        status=Notification.Status.PENDING)
    ChannelSetting.objects.create(customer=customer, kind=Notification.Kind.DATA_ALERT,
                                  channel="sms", enabled=False)
    ticket = Ticket.objects.create(customer=customer, subject="Where is my renewal?",
                                   esim=esim)
    screenshot = default_storage.save("tickets/2027/01/settings.png",
                                      ContentFile(SCREENSHOT))
    TicketMessage.objects.create(ticket=ticket, author=customer,
                                 body="My plan did not renew.", attachment=screenshot,
                                 attachment_name="settings.png")
    Authenticator.objects.create(user=customer, type=Authenticator.Type.TOTP,
                                 data={"secret": "TOTPSECRETVALUE"})
    session = UserSession.objects.create(user=customer, ip="203.0.113.9",
                                         session_key=f"k{customer.pk:031d}",
                                         user_agent="Firefox/140")
    return Everything(esim=esim, card=card, order=order, payment=payment, receipt=receipt,
                      credit_note=credit_note, refunded=refunded, notification=notification,
                      pending=pending, ticket=ticket, screenshot=screenshot, session=session)
