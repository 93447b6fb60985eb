"""A gateway that runs inside the portal so that nothing needs an account anywhere.

It keeps its own records (SimulatedCharge) and its own payment page, where a tester
chooses what the "bank" answers: success, a decline, or a 3-D Secure challenge.
"""

import secrets

from django.db import transaction
from django.urls import reverse

from billing.models import SimulatedCharge

from . import GatewayCharge, GatewayError

DECLINE_CODES = ("card_declined", "insufficient_funds", "expired_card")


def _as_charge(charge: SimulatedCharge) -> GatewayCharge:
    status = {
        SimulatedCharge.Status.PENDING: "pending",
        SimulatedCharge.Status.REQUIRES_ACTION: "requires_action",
        SimulatedCharge.Status.SUCCEEDED: "succeeded",
        SimulatedCharge.Status.DECLINED: "failed",
        SimulatedCharge.Status.REFUNDED: "succeeded",  # it was paid; the refund is separate
    }[charge.status]
    return GatewayCharge(reference=charge.reference, status=status,
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
    def charge_refund(self, *, reference: str, amount_minor: int) -> str:
        charge = SimulatedCharge.objects.select_for_update().get(reference=reference)
        if charge.status == SimulatedCharge.Status.SUCCEEDED:
            charge.status = SimulatedCharge.Status.REFUNDED
            charge.save(update_fields=["status", "updated_at"])
        elif charge.status != SimulatedCharge.Status.REFUNDED:
            raise GatewayError(f"charge {reference} was never paid")
        return f"re_{reference}"


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
