"""The shape of a payment gateway's webhook event, checked before it is stored and again
before it is acted on.

Only what the portal reads is checked, and loosely enough for every event Stripe sends
(most of an event is ignored: acting on one asks the gateway for the current state).
An event that does not fit is refused with a 400 and never stored; Stripe shows the
refusal in its dashboard.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationError

from portal.jsonbody import EdgeSchema as _Schema
from portal.jsonbody import first_error

__all__ = ["GatewayEventPayload", "StripeEvent", "ValidationError", "first_error"]

# An amount in minor units far beyond any payment, and inside a bigint column.
MAX_AMOUNT = 10**15

Name = Annotated[str, Field(min_length=1, max_length=64)]


class GatewayObject(_Schema):
    """data.object: the PaymentIntent, SetupIntent, ... the event is about."""

    id: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    object: Name | None = None
    status: Name | None = None
    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None


class EventData(_Schema):
    object: GatewayObject


class GatewayEventPayload(_Schema):
    """What processing a stored event reads of it."""

    data: EventData


class StripeEvent(GatewayEventPayload):
    """A Stripe event as it reaches the webhook; id and type fit GatewayEvent's columns."""

    id: Annotated[str, Field(max_length=100, pattern=r"^evt_[A-Za-z0-9_]+$")]
    type: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.]+$")]

