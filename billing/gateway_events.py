"""Webhook events from payment gateways: stored once by their id, then acted on once.

An event is only a hint that something changed: acting on it asks the gateway for the
current state through the same idempotent functions as the customer's return
(`payment_sync`, `card_setup_finish`), so events repeated, late or out of order are
harmless.
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import services
from .gateway_schemas import GatewayEventPayload, ValidationError, first_error
from .gateways import GatewayError
from .models import GatewayEvent, Payment, PaymentMethod

log = logging.getLogger(__name__)

SETUP_EVENTS = ("setup_intent.succeeded", "setup_intent.setup_failed")


def gateway_event_record(*, gateway: str, event_id: str, event_type: str,
                         payload: dict) -> GatewayEvent:
    """Store an event the first time it arrives and have it processed after the commit;
    a repeat of an event not processed yet is queued again, a processed one is left."""
    try:
        with transaction.atomic():
            event = GatewayEvent.objects.create(gateway=gateway, event_id=event_id,
                                                type=event_type, payload=payload)
    except IntegrityError:  # a repeat, maybe arriving at the same moment as the first
        event = GatewayEvent.objects.get(gateway=gateway, event_id=event_id)
    if event.processed_at is None:
        event_pk = event.pk
        transaction.on_commit(lambda: _enqueue(event_pk))
    return event


def _enqueue(event_pk: int) -> None:
    from .tasks import gateway_event_process

    gateway_event_process.delay(event_pk)


def gateway_event_process(*, event_pk: int) -> GatewayEvent:
    """Act on an event once. The gateway is asked outside any transaction, so no row lock
    waits on its answer (portal/errors.py); what the event causes goes through
    payment_sync and card_setup_finish, which take in the gateway's answer once, so two
    workers on the same event (the sweep catching up with a slow task) do no harm, and
    the first to finish marks it processed. A worker dying half-way leaves it
    unprocessed for the next try. Raises GatewayRetryableError when the gateway could not
    be asked (try again later)."""
    event = GatewayEvent.objects.get(pk=event_pk)
    if event.processed_at is not None:
        return event
    try:
        _act_on(event)
    except GatewayError as exc:
        if exc.retryable:
            raise
        # Asking again cannot help; the payment sweep still checks open payments.
        log.error("gateway event %s (%s) could not be acted on: %s", event.event_id,
                  event.type, exc)
    GatewayEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
        processed_at=timezone.now())
    event.refresh_from_db(fields=["processed_at"])
    return event


def _act_on(event: GatewayEvent) -> None:
    try:
        subject = GatewayEventPayload.model_validate(event.payload).data.object.id or ""
    except ValidationError as exc:
        # Stored before the webhook checked its shape, or by hand: asking again will not
        # change it, so it is done with rather than failing on every retry.
        log.error("gateway event %s (%s) cannot be read: %s", event.event_id, event.type,
                  first_error(exc))
        return
    if event.type.startswith("payment_intent."):
        payment_id = (Payment.objects.filter(gateway=event.gateway, gateway_reference=subject)
                      .values_list("pk", flat=True).first())
        if payment_id is None:
            log.info("gateway event %s: no payment %s here", event.event_id, subject)
            return
        services.payment_sync(payment_id=payment_id)
    elif event.type in SETUP_EVENTS:
        method_id = (PaymentMethod.objects.filter(gateway=event.gateway, setup_reference=subject)
                     .values_list("pk", flat=True).first())
        if method_id is None:
            log.info("gateway event %s: no saved card %s here", event.event_id, subject)
            return
        services.card_setup_finish(payment_method_id=method_id)
    # Any other type is stored for the record and needs nothing.


def gateway_event_list_unprocessed(*, received_before: datetime, limit: int = 500) -> list[int]:
    """Events whose processing was lost (a dead worker, a lost task) or keeps failing."""
    return list(GatewayEvent.objects.filter(processed_at__isnull=True,
                                            received_at__lt=received_before)
                .order_by("received_at").values_list("pk", flat=True)[:limit])
