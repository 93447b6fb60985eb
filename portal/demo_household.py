"""The demo customer's household: one eSIM in each state a newcomer should see.

Built through the services a real purchase uses (an order paid on the simulated gateway,
the activation at the carrier, the carrier's own reports taken in by the portal's sync)
and the carrier simulator's control API for what only time or a phone would do: a phone
scanning a profile, days passing on one eSIM's plan, data used.

- "Demo phone": 80% of its data used, two days of its 30-day plan left (its data alert
  is asked for as the sync takes the figures in, its 7-day expiry reminder by the
  reminder sweep this run ends with);
- "Demo tablet": auto-renewal on with a saved card, its renewal paid and queued;
- "Demo watch": its plan ended last week;
- "Demo travel eSIM": ready to install, left unscanned.

A device whose eSIM exists already (by its nickname) is left as it is, so a second run
makes nothing twice; an order is created with a fixed idempotency key, so a run that
died midway and runs again pays nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.utils import timezone

from billing import services as billing
from billing.gateways.simulated import simulated_card_save, simulated_charge_decide
from billing.models import Order, PaymentMethod
from esims.models import Bundle, ESim
from esims.services import esim_sync_from_carrier
from notifications.tasks import reminder_sweep
from plans.selectors import plan_get_for_sale
from renewals.services import auto_renew_switch_on, renewal_run

DAY = 24 * 3600
DEMO_PHONE_NUMBER = "+14155550100"
PHONE, TABLET, WATCH, NEW = "Demo phone", "Demo tablet", "Demo watch", "Demo travel eSIM"


class SimulatorError(Exception):
    """The carrier simulator's control API refused or did not answer."""


def simulator_control(path: str, payload: dict | None = None) -> dict:
    """POST to the simulator's control API (/sim/...) at CARRIER_URL."""
    try:
        response = requests.post(f"{settings.CARRIER_URL}/sim/{path}", json=payload or {},
                                 timeout=10)
    except requests.RequestException as exc:
        raise SimulatorError(f"{path}: {exc}") from exc
    if response.status_code >= 400:
        raise SimulatorError(f"{path}: {response.status_code} {response.text[:200]}")
    return response.json()


def simulator_answers() -> bool:
    try:
        return requests.get(f"{settings.CARRIER_URL}/sim/health", timeout=2).ok
    except requests.RequestException:
        return False


def portal_answers() -> bool:
    try:
        return requests.get(f"{settings.PORTAL_BASE_URL}/healthz", timeout=2).ok
    except requests.RequestException:
        return False


@dataclass(frozen=True)
class Device:
    nickname: str
    plan_code: str
    build: Callable[[ESim, PaymentMethod], str]


def household_load(customer) -> list[str]:
    """Give the customer a verified mobile number, a saved card and each device of the
    household they lack; returns one line per device saying what it shows."""
    _verified_phone(customer)
    card = _saved_card(customer)
    lines = []
    for device in DEVICES:
        esim = ESim.objects.filter(owner=customer, nickname=device.nickname).first()
        if esim is not None:
            lines.append(f"{device.nickname}: there already ({esim.get_state_display()}).")
            continue
        esim = _buy(customer, device.plan_code, device.nickname)
        lines.append(f"{device.nickname}: {device.build(esim, card)}")
    # The reminders due now are asked for now, not at the sweep's next beat.
    reminder_sweep()
    return lines


def _verified_phone(customer) -> None:
    """Texts go only to a verified number: the demo's is a reserved fictional one."""
    if customer.phone_verified_at is None:
        customer.phone = customer.phone or DEMO_PHONE_NUMBER
        customer.phone_verified_at = timezone.now()
        customer.save(update_fields=["phone", "phone_verified_at"])


def _saved_card(customer) -> PaymentMethod:
    """The customer's saved card, saved on the simulated gateway's page as a customer
    would (a card its bank accepts) when they have none."""
    card = (PaymentMethod.objects.filter(customer=customer, status=PaymentMethod.Status.ACTIVE)
            .order_by("pk").first())
    if card is not None:
        return card
    method = billing.card_setup_start(customer=customer, cancel_url="/")
    simulated_card_save(reference=method.setup_reference, behaviour="success")
    return billing.card_setup_finish(payment_method_id=method.pk)


def _buy(customer, plan_code: str, nickname: str) -> ESim:
    """Order a new eSIM, pay on the simulated gateway and activate it at the carrier,
    as the pay page, the gateway's page and the return page do."""
    plan = plan_get_for_sale(code=plan_code, currency=customer.currency)
    order = billing.order_create_new_esim(
        customer=customer, plan=plan, currency=customer.currency,
        amount_minor=plan.price_minor, nickname=nickname,
        idempotency_key=f"demo-household:{nickname}")
    if order.status == Order.Status.PENDING_PAYMENT:
        payment = billing.payment_start(order=order, return_url_for=lambda payment: "/")
        simulated_charge_decide(reference=payment.gateway_reference, outcome="success")
        billing.payment_sync(payment_id=payment.pk)
    # The worker activates it too once the payment commits; activation happens once.
    order = billing.order_activate(order_id=order.pk)
    assert order.esim_id is not None  # a paid new-eSIM order has its eSIM
    return ESim.objects.get(pk=order.esim_id)


def _install(esim: ESim) -> None:
    """The phone scans the code and installs the profile; its plan starts."""
    # Refused when the simulated phone got there first (CARRIER_SIM_INSTALL_AFTER_SECONDS).
    with suppress(SimulatorError):
        simulator_control(f"profiles/{esim.iccid}/download")
    esim_sync_from_carrier(esim_id=esim.pk)


def _running(esim: ESim) -> Bundle:
    return esim.bundles.get(state=Bundle.State.ACTIVE)


def _age(esim: ESim, seconds: int) -> None:
    """Days pass on this eSIM's plan: at the carrier (its start moves back), and in the
    portal's record of when it was bought, as if the customer had bought it then."""
    simulator_control(f"profiles/{esim.iccid}/age", {"seconds": seconds})
    back = timedelta(seconds=seconds)
    for order in Order.objects.filter(esim=esim):
        Order.objects.filter(pk=order.pk).update(
            created_at=order.created_at - back,
            paid_at=order.paid_at - back if order.paid_at else None)
    for bundle in Bundle.objects.filter(esim=esim):
        Bundle.objects.filter(pk=bundle.pk).update(created_at=bundle.created_at - back)


def _phone(esim: ESim, card: PaymentMethod) -> str:
    _install(esim)
    bundle = _running(esim)
    _age(esim, (bundle.validity_days - 2) * DAY)
    # A little over 80%: the carrier's figures lag real use (CARRIER_SIM_USAGE_LAG_SECONDS).
    target = int((bundle.data_allowance_bytes or 0) * 0.81)
    simulator_control(f"profiles/{esim.iccid}/consume",
                      {"bytes": max(0, target - bundle.data_used_bytes)})
    esim_sync_from_carrier(esim_id=esim.pk)
    bundle = _running(esim)
    return (f"{bundle.data_used_bytes * 100 // (bundle.data_allowance_bytes or 1)}% of its "
            f"data used, plan ends {bundle.ends_at:%Y-%m-%d %H:%M} UTC: its data alert and "
            "its 7-day expiry reminder (email and SMS) print below.")


def _tablet(esim: ESim, card: PaymentMethod) -> str:
    _install(esim)
    plan = plan_get_for_sale(code=TABLET_PLAN, currency=esim.owner.currency)
    auto_renew_switch_on(esim=esim, plan=plan, card=card)
    bundle = _running(esim)
    # Its plan ends just inside the auto-renewal lead: the renewal is due now.
    lead = min(timedelta(hours=settings.AUTO_RENEW_LEAD_HOURS),
               timedelta(days=bundle.validity_days) / 2)
    ends_in = lead - timedelta(hours=1)
    _age(esim, int((timedelta(days=bundle.validity_days) - ends_in).total_seconds()))
    esim_sync_from_carrier(esim_id=esim.pk)
    outcome = renewal_run(esim_id=esim.pk)
    for order in Order.objects.filter(esim=esim, kind=Order.Kind.RENEWAL):
        billing.order_activate(order_id=order.pk)
    esim_sync_from_carrier(esim_id=esim.pk)
    queued = esim.bundles.filter(state=Bundle.State.QUEUED).count()
    return (f"auto-renewal on (card ending {card.last4}), renewal {outcome}; "
            f"{queued} plan queued after the running one.")


def _watch(esim: ESim, card: PaymentMethod) -> str:
    _install(esim)
    bundle = _running(esim)
    _age(esim, (bundle.validity_days + 7) * DAY)
    esim_sync_from_carrier(esim_id=esim.pk)
    esim.refresh_from_db()
    return f"plan ended a week ago ({esim.get_state_display()})."


def _new(esim: ESim, card: PaymentMethod) -> str:
    # Refused when the simulated phone scanned it already: it then shows as installed.
    with suppress(SimulatorError):
        simulator_control(f"profiles/{esim.iccid}/hold")
    esim_sync_from_carrier(esim_id=esim.pk)
    esim.refresh_from_db()
    return f"{esim.get_state_display()}, its QR code on the dashboard."


TABLET_PLAN = "us-5gb-7d"
DEVICES = [
    Device(PHONE, "jp-10gb-30d", _phone),
    Device(TABLET, TABLET_PLAN, _tablet),
    Device(WATCH, "jp-1gb-1d", _watch),
    Device(NEW, "jp-10gb-30d", _new),
]
