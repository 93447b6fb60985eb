"""Carrier callbacks: stored once by their identity, then applied to eSIMs and bundles.

They arrive here checked (carrier/schemas.py): every field has its type and bounds, so
nothing below can fail on what the carrier sent.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from esims import services as esim_services

from . import client
from .models import CarrierEvent
from .schemas import DownloadProgressInfo, UsageReport

log = logging.getLogger(__name__)


def _record(kind: str, event_key: str, iccid: str, payload: dict) -> bool:
    """Store the event; False when it was already stored (a repeated delivery). Called
    inside the transaction that applies the event, so that an event is stored if and only
    if it was applied: a crash in between leaves nothing, and the redelivery applies it."""
    try:
        with transaction.atomic():
            CarrierEvent.objects.create(kind=kind, event_key=event_key, iccid=iccid,
                                        payload=payload)
    except IntegrityError:
        return False
    return True


def download_progress_receive(*, info: DownloadProgressInfo, payload: dict) -> bool:
    """ES2+ handleDownloadProgressInfo. `payload` is the body as sent, kept on record.
    Returns False for a repeat (nothing done)."""
    point = info.notificationPointId
    event_key = f"{info.iccid}:{point}:{info.header.functionCallIdentifier}"
    with transaction.atomic():
        if not _record(CarrierEvent.Kind.DOWNLOAD_PROGRESS, event_key, info.iccid, payload):
            return False
        esim = esim_services.esim_record_download_progress(
            iccid=info.iccid, point=point, eid=info.eid or "", at=info.timestamp)
        if esim is not None and point == 4:
            # The bundle starts once the profile is installed: fetch its period now rather
            # than wait for the next usage report.
            from .tasks import esim_sync

            esim_pk = esim.pk
            transaction.on_commit(lambda: esim_sync.delay(esim_pk))
    return True


class ReportFromTheFuture(ValueError):
    """A report dated later than the carrier could know: refused, nothing stored."""


def usage_report_check_time(report: UsageReport, *, now: datetime | None = None) -> None:
    """A report dated more than USAGE_REPORT_MAX_AHEAD_SECONDS ahead of our clock is
    refused: stored, it would claim figures newer than any real report to come (clocks
    differ a little, hence the allowance). Raises ReportFromTheFuture."""
    now = now or timezone.now()
    limit = now + timedelta(seconds=settings.USAGE_REPORT_MAX_AHEAD_SECONDS)
    for name, moment in (("reported_at", report.reported_at),
                         ("bundle.usage_at", report.bundle.usage_at)):
        if moment is not None and moment > limit:
            raise ReportFromTheFuture(f"{name} is in the future")


def usage_receive(*, report: UsageReport, payload: dict) -> bool:
    """A usage or bundle-state report. `payload` is the body as sent, kept on record.
    Returns False for a repeat (nothing done); raises ReportFromTheFuture (nothing
    stored) for a report dated ahead of now."""
    usage_report_check_time(report)
    reported = report.bundle
    bundle = client.CarrierBundle(
        reference=reported.reference, state=reported.state, unlimited=reported.unlimited,
        initial_bytes=reported.initial_quantity_bytes,
        remaining_bytes=reported.remaining_quantity_bytes, used_bytes=reported.used_bytes,
        start=reported.start, end=reported.end, usage_at=reported.usage_at)
    with transaction.atomic():
        if not _record(CarrierEvent.Kind.USAGE, report.event_id, report.iccid, payload):
            return False
        esim_services.bundle_update_from_carrier(reference=bundle.reference,
                                                 carrier_bundle=bundle,
                                                 reported_at=report.reported_at)
    return True
