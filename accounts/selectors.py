"""Reads about a customer's own account: everything the portal holds about them (the
"download my data" file) and their signed-in sessions."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.db.models import Prefetch
from django.http import Http404
from django.utils import timezone

from billing.models import Order, Payment, PaymentMethod, Receipt
from esims.models import Bundle, ESim
from notifications.models import ChannelSetting, Notification
from support.models import Ticket, TicketMessage

from .models import PhoneVerification, User

# Bumped when a field changes meaning or goes away; new fields do not bump it.
EXPORT_FORMAT = 1


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def account_export(*, user: User) -> dict[str, Any]:
    """Everything the portal holds about the customer, as plain JSON-ready data: the
    profile, eSIMs with their plans, orders with their payments, receipts and credit
    notes, saved cards, messages sent and the settings for them, support tickets, signed-in
    sessions and sign-in methods. A fixed number of queries, however much there is.

    Left out on purpose: secrets and what works as one (password hash, codes, gateway
    references and keys, an eSIM's activation code, which installs the profile on any
    phone), and what staff wrote about the customer for themselves (the audit trail)."""
    now = timezone.now()
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "profile": _profile(user),
        "email_addresses": [
            {"email": a.email, "verified": a.verified, "primary": a.primary}
            for a in EmailAddress.objects.filter(user=user).order_by("pk")],
        "mobile_number_verifications": [
            {"mobile_number": str(v.phone), "sent_at": _when(v.created_at),
             "verified_at": _when(v.verified_at)}
            for v in PhoneVerification.objects.filter(user=user).order_by("created_at", "pk")],
        "esims": _esims(user),
        "orders": _orders(user),
        "receipts": _receipts(user),
        "saved_cards": [
            {"brand": c.brand, "last4": c.last4, "exp_month": c.exp_month,
             "exp_year": c.exp_year, "status": c.status, "added_at": _when(c.created_at),
             "saved_at": _when(c.saved_at)}
            for c in PaymentMethod.objects.filter(customer=user).order_by("created_at", "pk")],
        "notifications_sent": [
            {"kind": n.kind, "channel": n.channel, "status": n.status, "sent_to": n.recipient,
             "created_at": _when(n.created_at), "sent_at": _when(n.sent_at)}
            for n in Notification.objects.filter(customer=user).order_by("created_at", "pk")
            .only("kind", "channel", "status", "recipient", "created_at", "sent_at")],
        "notification_settings": [
            {"kind": s.kind, "channel": s.channel, "enabled": s.enabled,
             "changed_at": _when(s.changed_at)}
            for s in ChannelSetting.objects.filter(customer=user).order_by("kind", "channel")],
        "support_tickets": _tickets(user),
        "sessions": [
            {"started_at": _when(s.created_at), "ip_address": s.ip, "browser": s.user_agent,
             "last_seen_at": _when(s.last_seen_at)}
            for s in UserSession.objects.filter(user=user).order_by("created_at", "pk")],
        "sign_in_methods": [
            {"type": a.type, "name": a.data.get("name", "") if isinstance(a.data, dict) else "",
             "added_at": _when(a.created_at), "last_used_at": _when(a.last_used_at)}
            for a in Authenticator.objects.filter(user=user).order_by("created_at", "pk")],
    }


def _profile(user: User) -> dict[str, Any]:
    return {
        "email": user.email, "first_name": user.first_name, "last_name": user.last_name,
        "mobile_number": str(user.phone or ""),
        "mobile_number_verified_at": _when(user.phone_verified_at),
        "language": user.language, "time_zone": user.time_zone, "currency": user.currency,
        "joined_at": _when(user.date_joined), "last_sign_in_at": _when(user.last_login),
        "email_undeliverable_since": _when(user.email_undeliverable_at),
        "email_undeliverable_reason": user.email_undeliverable_reason,
    }


def _esims(user: User) -> list[dict[str, Any]]:
    esims = (ESim.objects.filter(owner=user)
             .select_related("renewal_plan", "renewal_payment_method")
             .prefetch_related(Prefetch("bundles", queryset=Bundle.objects.order_by(
                 "created_at", "pk")))
             .order_by("created_at", "pk"))
    out = []
    for esim in esims:
        card = esim.renewal_payment_method
        out.append({
            "nickname": esim.nickname, "iccid": esim.iccid, "eid": esim.eid,
            "state": esim.state, "created_at": _when(esim.created_at),
            "ready_at": _when(esim.ready_at), "installed_at": _when(esim.installed_at),
            "auto_renew": {
                "on": esim.auto_renew, "since": _when(esim.auto_renew_since),
                "plan": esim.renewal_plan.code if esim.renewal_plan else None,
                "card": f"{card.brand} {card.last4}".strip() if card else None,
                "next_step_at": _when(esim.renew_at),
            },
            "data_alerts_percent_used": esim.data_alert_percents,
            "plans": [{
                "plan_code": b.plan_code, "plan_name": b.plan_name, "state": b.state,
                "validity_days": b.validity_days,
                "data_allowance_bytes": b.data_allowance_bytes,
                "data_used_bytes": b.data_used_bytes, "starts_at": _when(b.starts_at),
                "ends_at": _when(b.ends_at), "bought_at": _when(b.created_at),
            } for b in esim.bundles.all()],
        })
    return out


def _orders(user: User) -> list[dict[str, Any]]:
    orders = (Order.objects.filter(customer=user).select_related("plan", "esim")
              .prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by(
                  "created_at", "pk").select_related("payment_method")))
              .order_by("created_at", "pk"))
    out = []
    for order in orders:
        out.append({
            "number": order.number, "kind": order.kind, "plan_code": order.plan.code,
            "esim_iccid": order.esim.iccid if order.esim else None,
            "device_nickname": order.nickname, "amount_minor": order.amount_minor,
            "currency": order.currency, "status": order.status,
            "created_at": _when(order.created_at), "paid_at": _when(order.paid_at),
            "completed_at": _when(order.completed_at), "failed_at": _when(order.failed_at),
            "refunded_at": _when(order.refunded_at),
            "payments": [{
                "gateway": p.gateway, "amount_minor": p.amount_minor, "currency": p.currency,
                "status": p.status, "failure_code": p.failure_code,
                "failure_message": p.failure_message, "automatic": p.off_session,
                "card": (f"{p.payment_method.brand} {p.payment_method.last4}".strip()
                         if p.payment_method else None),
                "created_at": _when(p.created_at), "refunded_at": _when(p.refunded_at),
            } for p in order.payments.all()],
        })
    return out


def _receipts(user: User) -> list[dict[str, Any]]:
    receipts = (Receipt.objects.filter(customer=user).select_related("order", "credit_note")
                .order_by("issued_at", "pk"))
    out = []
    for receipt in receipts:
        note = getattr(receipt, "credit_note", None)
        out.append({
            "number": receipt.number, "order_number": receipt.order.number,
            "issued_at": _when(receipt.issued_at), "billed_to": receipt.billed_to,
            "currency": receipt.currency, "total_minor": receipt.total_minor,
            "lines": receipt.lines, "paid_with": receipt.payment_method,
            "credit_note": None if note is None else {
                "number": note.number, "issued_at": _when(note.issued_at),
                "currency": note.currency, "total_minor": note.total_minor,
                "reason": note.reason},
        })
    return out


def _tickets(user: User) -> list[dict[str, Any]]:
    tickets = (Ticket.objects.filter(customer=user).select_related("order", "esim")
               .prefetch_related(Prefetch("messages", queryset=TicketMessage.objects.order_by(
                   "created_at", "pk")))
               .order_by("created_at", "pk"))
    return [{
        "subject": t.subject, "status": t.status, "created_at": _when(t.created_at),
        "order_number": t.order.number if t.order else None,
        "esim_iccid": t.esim.iccid if t.esim else None,
        "messages": [{
            "from": "support" if m.from_staff else "you", "body": m.body,
            "screenshot": m.attachment_name or None, "sent_at": _when(m.created_at),
        } for m in t.messages.all()],
    } for t in tickets]


@dataclass(frozen=True)
class AccountSummary:
    """What the account page says of the sign-in methods."""

    email_addresses: int
    two_factor: bool
    passkeys: int
    sessions: int


def account_summary(*, user: User) -> AccountSummary:
    kinds = list(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    return AccountSummary(
        email_addresses=EmailAddress.objects.filter(user=user).count(),
        two_factor=bool(set(kinds) & {Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN}),
        passkeys=kinds.count(Authenticator.Type.WEBAUTHN),
        sessions=UserSession.objects.filter(user=user).count())


# --- Signed-in sessions -----------------------------------------------------------------

def sessions_for(*, user: User) -> list[UserSession]:
    """The customer's signed-in sessions, oldest first; sessions that ended on their own
    (expired, signed out) are dropped from the list as it is read (allauth's purge)."""
    return sorted(UserSession.objects.purge_and_list(user), key=lambda s: s.created_at)


def session_get_for_user(*, user: User, pk: int) -> UserSession:
    """Another customer's session is a 404."""
    session = UserSession.objects.filter(user=user, pk=pk).first()
    if session is None:
        raise Http404
    return session
