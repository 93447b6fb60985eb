"""A gateway that runs inside the portal so that nothing needs an account anywhere.

It keeps its own records (SimulatedCharge) and its own payment page, where a tester
chooses what the "bank" answers: success, a decline, or a 3-D Secure challenge.
"""

import secrets

from django.db import IntegrityError, transaction
from django.urls import reverse

from billing.models import SimulatedCard, SimulatedCharge

from . import ChargeStatus, GatewayCharge, GatewayError, SavedCard

DECLINE_CODES = ("card_declined", "insufficient_funds", "expired_card")


# A charge's status (a str: the field's choices are SimulatedCharge.Status) in the
# gateway interface's words.
_CHARGE_STATUSES: dict[str, ChargeStatus] = {
    SimulatedCharge.Status.PENDING: ChargeStatus.PENDING,
    SimulatedCharge.Status.REQUIRES_ACTION: ChargeStatus.REQUIRES_ACTION,
    SimulatedCharge.Status.SUCCEEDED: ChargeStatus.SUCCEEDED,
    SimulatedCharge.Status.DECLINED: ChargeStatus.FAILED,
    SimulatedCharge.Status.REFUNDED: ChargeStatus.SUCCEEDED,  # it was paid; the refund is separate
}


def _as_charge(charge: SimulatedCharge) -> GatewayCharge:
    return GatewayCharge(reference=charge.reference, status=_CHARGE_STATUSES[charge.status],
                         failure_code=charge.decline_code)


class SimulatedGateway:
    name = "simulated"

    def charge_start(self, *, payment, description: str, return_url: str) -> GatewayCharge:
        charge = SimulatedCharge.objects.create(
            reference="sim_" + secrets.token_hex(12), amount_minor=payment.amount_minor,
            currency=payment.currency, description=description[:200], return_url=return_url)
        return _as_charge(charge)

    def charge_customer_url(self, *, reference: str) -> str:
        return reverse("billing:simulated_gateway", args=[reference])

    def charge_retrieve(self, *, reference: str) -> GatewayCharge:
        return _as_charge(SimulatedCharge.objects.get(reference=reference))

    @transaction.atomic
    def charge_refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> str:
        """A charge is refunded once, in full, under its row's lock: a repeat (with its
        key, or any other) finds it refunded, returns the same reference and moves no
        money. An order has one succeeded charge, so this is one refund per order."""
        charge = SimulatedCharge.objects.select_for_update().get(reference=reference)
        if charge.status == SimulatedCharge.Status.SUCCEEDED:
            charge.status = SimulatedCharge.Status.REFUNDED
            charge.save(update_fields=["status", "updated_at"])
        elif charge.status != SimulatedCharge.Status.REFUNDED:
            raise GatewayError(f"charge {reference} was never paid")
        return f"re_{reference}"


    # --- Saved cards and off-session charges (auto-renewal) ---

    def card_setup_start(self, *, customer, return_url: str) -> str:
        card = SimulatedCard.objects.create(reference="simcard_" + secrets.token_hex(12),
                                            return_url=return_url)
        return card.reference

    def card_setup_customer_url(self, *, reference: str) -> str:
        return reverse("billing:simulated_card", args=[reference])

    def card_setup_retrieve(self, *, reference: str) -> SavedCard | None:
        card = SimulatedCard.objects.get(reference=reference)
        if not card.saved:
            return None
        return SavedCard(reference=card.reference, brand="visa", last4=card.last4,
                         exp_month=12, exp_year=2030)

    def card_remove(self, *, reference: str) -> None:
        SimulatedCard.objects.filter(reference=reference).update(saved=False)

    def charge_off_session(self, *, payment, card_reference: str,
                           description: str) -> GatewayCharge:
        """Like Stripe: the payment's idempotency key makes a repeated call return the
        charge the first call made."""
        key = payment.idempotency_key
        card = SimulatedCard.objects.filter(reference=card_reference, saved=True).first()
        if card is None:  # removed since: a repeat still gets its charge, a new call fails
            existing = SimulatedCharge.objects.filter(idempotency_key=key).first()
            if existing is None:
                raise GatewayError(f"the card {card_reference} is not saved")
            return _as_charge(existing)
        behaviour = card.behaviour
        status, decline = SimulatedCharge.Status.SUCCEEDED, ""
        if behaviour == SimulatedCard.Behaviour.AUTHENTICATE:
            status = SimulatedCharge.Status.REQUIRES_ACTION
        elif behaviour != SimulatedCard.Behaviour.SUCCEEDS:
            status, decline = SimulatedCharge.Status.DECLINED, behaviour
        try:
            with transaction.atomic():
                charge = SimulatedCharge.objects.create(
                    reference="sim_" + secrets.token_hex(12), idempotency_key=key, card=card,
                    amount_minor=payment.amount_minor, currency=payment.currency,
                    description=description[:200], status=status, decline_code=decline,
                    return_url=reverse("billing:payment_return",
                                       args=[payment.order.number, payment.pk]))
        except IntegrityError:  # the key was used before: that call's charge, unchanged
            charge = SimulatedCharge.objects.get(idempotency_key=key)
        return _as_charge(charge)


@transaction.atomic
def simulated_card_save(*, reference: str, behaviour: str) -> SimulatedCard:
    """What the tester picked when saving a card: how its bank will answer later."""
    card = SimulatedCard.objects.select_for_update().get(reference=reference)
    if not card.saved:
        card.saved = True
        card.behaviour = SimulatedCard.Behaviour(behaviour)
        card.last4 = {"success": "4242", "card_declined": "0002",
                      "insufficient_funds": "9995", "expired_card": "0069",
                      "authenticate": "3184"}[card.behaviour]
        card.save(update_fields=["saved", "behaviour", "last4"])
    return card


@transaction.atomic
def simulated_charge_decide(*, reference: str, outcome: str) -> SimulatedCharge:
    """What the tester picked on the gateway's page. A decided charge stays decided."""
    charge = SimulatedCharge.objects.select_for_update().get(reference=reference)
    open_states = (SimulatedCharge.Status.PENDING, SimulatedCharge.Status.REQUIRES_ACTION)
    if charge.status not in open_states:
        return charge
    if outcome == "success":
        charge.status = SimulatedCharge.Status.SUCCEEDED
    elif outcome == "authenticate" and charge.status == SimulatedCharge.Status.PENDING:
        charge.status = SimulatedCharge.Status.REQUIRES_ACTION
    elif outcome == "authentication_failed":
        charge.status = SimulatedCharge.Status.DECLINED
        charge.decline_code = "authentication_failed"
    elif outcome in DECLINE_CODES:
        charge.status = SimulatedCharge.Status.DECLINED
        charge.decline_code = outcome
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    charge.save(update_fields=["status", "decline_code", "updated_at"])
    return charge
