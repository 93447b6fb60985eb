"""Payment gateways behind one small interface.

A gateway starts a charge for a Payment row the portal wrote first, says where to send
the customer to complete it, and later tells the charge's state when asked. The portal
never trusts the browser about a charge: it always asks the gateway.
"""

import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from portal.errors import ExternalError, ensure_outside_transaction


class ChargeStatus(StrEnum):
    """What a gateway says of a charge, in the portal's words (each gateway maps its own)."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"  # the customer's bank wants them (3-D Secure)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class GatewayCharge:
    reference: str
    status: ChargeStatus
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True)
class SavedCard:
    """A card the gateway has saved for off-session charges."""

    reference: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class GatewayError(ExternalError):
    """The gateway could not do what was asked. `retryable`: the same call with the same
    idempotency key may succeed later (rate limit, network); otherwise it failed for
    good and repeating it cannot help (portal/errors.py)."""


class GatewayRetryableError(GatewayError):
    retryable = True


class GatewayUnavailable(GatewayError):
    """No gateway may take payments here (the simulated one is not allowed)."""


class Gateway(Protocol):
    name: str

    def charge_start(self, *, payment, description: str, return_url: str) -> GatewayCharge: ...

    def charge_customer_url(self, *, reference: str) -> str: ...

    def charge_retrieve(self, *, reference: str) -> GatewayCharge: ...

    def charge_refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> str:
        """Refund a succeeded charge in full; returns the refund's reference. Refunding
        the same charge again returns the same reference and moves no money. The key
        names the refund (an order's, `billing.services.order_refund_key`; a payment
        taken twice, `payment_refund_key`): a call repeated after a timeout or a crash
        with the same key is the same refund at the gateway."""

    # Saved cards, for auto-renewal.
    def card_setup_start(self, *, customer, return_url: str) -> str:
        """Start saving a card for the customer; returns the setup's reference. The
        gateway's page sends the customer to `billing:card_setup_return` for that
        reference when done, or back to `return_url` if they cancel."""

    def card_setup_customer_url(self, *, reference: str) -> str:
        """Where the customer enters the card (they come back to `return_url`)."""

    def card_setup_retrieve(self, *, reference: str) -> SavedCard | None:
        """The saved card, None while the customer has not finished; raises GatewayError
        when saving failed."""

    def card_remove(self, *, reference: str) -> None:
        """Forget a saved card at the gateway; removing it again does nothing."""

    def charge_off_session(self, *, payment, card_reference: str,
                           description: str) -> GatewayCharge:
        """Charge a saved card without the customer, keyed by `payment.idempotency_key`:
        calling again for the same payment (after a timeout or a crash) returns the same
        charge and never charges twice. A bank that wants the customer to authenticate
        gives status "requires_action"; `charge_customer_url` is where they do it.
        Raises GatewayRetryableError when the gateway could not be reached."""


GATEWAYS = {"simulated": "billing.gateways.simulated.SimulatedGateway",
            "stripe": "billing.gateways.stripe.StripeGateway"}
GATEWAY_LABELS = {"simulated": _("Simulated card (test payment)"),
                  "stripe": _("Online payment (Stripe)")}


def simulated_payments_allowed() -> bool:
    return settings.ALLOW_SIMULATED_PAYMENTS


def get_gateway(name: str | None = None) -> Gateway:
    name = name or settings.PAYMENT_GATEWAY
    if name == "simulated" and not simulated_payments_allowed():
        raise GatewayUnavailable("the simulated gateway is not allowed here")
    return _OutsideTransactions(import_string(GATEWAYS[name])())


class _OutsideTransactions:
    """A gateway whose every call first checks that no database transaction is open: a
    charge or a refund takes seconds, and a row lock held meanwhile would stall every
    other request for that order (portal/errors.py)."""

    def __init__(self, gateway):
        self._gateway = gateway
        self.name = gateway.name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._gateway, attribute)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args, **kwargs):
            ensure_outside_transaction(f"payment gateway {self.name}")
            return value(*args, **kwargs)

        return call
