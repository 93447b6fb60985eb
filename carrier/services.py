"""Carrier callbacks: stored once by their identity, then applied to eSIMs and bundles."""

import logging

from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from esims import services as esim_services

from . import client
from .models import CarrierEvent

log = logging.getLogger(__name__)


class CallbackError(ValueError):
    """A callback we cannot read: answered 400."""


def _record(kind: str, event_key: str, iccid: str, payload: dict) -> bool:
    """Store the event; False when it was already stored (a repeated delivery). Called
    inside the transaction that applies the event, so that an event is stored if and only
    if it was applied: a crash in between leaves nothing, and the redelivery applies it."""
    try:
        with transaction.atomic():
            CarrierEvent.objects.create(kind=kind, event_key=event_key[:200],
                                        iccid=iccid, payload=payload)
    except IntegrityError:
        return False
    return True


def download_progress_receive(*, payload: dict) -> bool:
    """ES2+ handleDownloadProgressInfo. Returns False for a repeat (nothing done)."""
    try:
        iccid = client.normalize_iccid(str(payload["iccid"]))
        point = int(payload["notificationPointId"])
        at = parse_datetime(str(payload["timestamp"]))
        call_id = str(payload["header"]["functionCallIdentifier"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CallbackError(f"missing or bad field: {exc}") from exc
    if at is None:
        raise CallbackError("timestamp is not ISO-8601")
    with transaction.atomic():
        if not _record(CarrierEvent.Kind.DOWNLOAD_PROGRESS, f"{iccid}:{point}:{call_id}",
                       iccid, payload):
            return False
        esim = esim_services.esim_record_download_progress(
            iccid=iccid, point=point, eid=str(payload.get("eid") or ""), at=at)
        if esim is not None and point == 4:
            # The bundle starts once the profile is installed: fetch its period now rather
            # than wait for the next usage report.
            from .tasks import esim_sync

            esim_pk = esim.pk
            transaction.on_commit(lambda: esim_sync.delay(esim_pk))
    return True


def usage_receive(*, payload: dict) -> bool:
    """A usage or bundle-state report. Returns False for a repeat (nothing done)."""
    try:
        event_id = str(payload["event_id"])
        iccid = client.normalize_iccid(str(payload["iccid"]))
        bundle = client.CarrierBundle.from_json(payload["bundle"])
        reported_at = parse_datetime(str(payload["reported_at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CallbackError(f"missing or bad field: {exc}") from exc
    if reported_at is None:
        raise CallbackError("reported_at is not ISO-8601")
    with transaction.atomic():
        if not _record(CarrierEvent.Kind.USAGE, event_id, iccid, payload):
            return False
        esim_services.bundle_update_from_carrier(reference=bundle.reference,
                                                 carrier_bundle=bundle, reported_at=reported_at)
    return True
