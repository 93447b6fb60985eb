"""What the carrier may send us, checked before anything is stored or applied.

Strict types (a number is not a string, a flag is not a number), bounded strings, and
numbers and dates inside what a real carrier could report: a callback that does not fit
is answered 400 and leaves nothing behind. Fields we do not know are ignored, as SGP.22
asks of an ES2+ function provider, so a carrier on a newer version is still understood.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationError,
    model_validator,
)

from portal.jsonbody import EdgeSchema as _Schema
from portal.jsonbody import first_error

__all__ = ["DownloadProgressInfo", "UsageReport", "ValidationError", "first_error"]

# Far beyond any bundle (10 PB), and inside a bigint column.
MAX_BYTES = 10 * 10**15
# Dates outside these are nonsense for an eSIM bought today, and near year 9999 they
# would overflow when moved to another time zone for display.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_ICCID = re.compile(r"[0-9]{19}[Ff]?|[0-9]{20}")


def _iso_text(value: Any) -> Any:
    # Without this pydantic would also take a number of seconds since 1970.
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be an ISO 8601 date and time")
    return value


def _plausible(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("is not a plausible date")
    return value.astimezone(UTC)


def _iccid(value: Any) -> Any:
    """19 or 20 digits; a 19-digit ICCID may travel padded with a trailing F."""
    if not isinstance(value, str) or not _ICCID.fullmatch(value.strip()):
        raise ValueError("must be an ICCID of 19 or 20 digits")
    return value.strip().upper().removesuffix("F")


# SGP.22 5.3.5: 1 eligibility / retry limit reached (the download failed), 2 confirmation
# code retries exceeded, 3 BPP downloaded, 4 BPP installed; later versions relay the
# device's other notifications (enable, disable, delete) with the next numbers. The
# portal acts on 1, 3 and 4 and keeps the others on record.
NOTIFICATION_POINTS = frozenset(range(1, 11))


def _point_digits(value: Any) -> Any:
    # Some SM-DP+ vendors document the point as a JSON string ("4"): digits only, then.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 2:
        return int(value)
    return value


def _notification_point(value: int) -> int:
    if value not in NOTIFICATION_POINTS:
        raise ValueError("is not an SGP.22 notification point")
    return value


Timestamp = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_iso_text),
                      AfterValidator(_plausible)]
Iccid = Annotated[str, BeforeValidator(_iccid)]
ByteCount = Annotated[int, Field(ge=0, le=MAX_BYTES)]
NotificationPoint = Annotated[int, BeforeValidator(_point_digits),
                              AfterValidator(_notification_point)]
Identifier = Annotated[str, Field(min_length=1, max_length=255)]
Code = Annotated[str, Field(max_length=32)]
Note = Annotated[str, Field(max_length=1024)]


class Es2Header(_Schema):
    functionRequesterIdentifier: Identifier | None = None
    # Part of the stored event key (with the ICCID and the point), which holds 200.
    functionCallIdentifier: Annotated[str, Field(min_length=1, max_length=128)]


class StatusCodeData(_Schema):
    subjectCode: Code | None = None
    reasonCode: Code | None = None
    subjectIdentifier: Annotated[str, Field(max_length=255)] | None = None
    message: Note | None = None


class NotificationPointStatus(_Schema):
    status: Literal["Executed-Success", "Executed-WithWarning", "Failed", "Expired"]
    statusCodeData: StatusCodeData | None = None


class DownloadProgressInfo(_Schema):
    """ES2+ HandleDownloadProgressInfo (SGP.22 5.3.5), from the SM-DP+."""

    header: Es2Header
    iccid: Iccid
    eid: Annotated[str, Field(pattern=r"^([0-9]{32})?$")] | None = None
    profileType: Annotated[str, Field(max_length=64)] | None = None
    timestamp: Timestamp
    notificationPointId: NotificationPoint
    notificationPointStatus: NotificationPointStatus


class CarrierBundleReport(_Schema):
    reference: Annotated[str, Field(min_length=1, max_length=64)]  # as Bundle.carrier_reference
    state: Literal["processing", "queued", "active", "depleted", "expired", "revoked"]
    unlimited: bool = False
    initial_quantity_bytes: ByteCount | None = None
    remaining_quantity_bytes: ByteCount | None = None
    used_bytes: ByteCount = 0
    start: Timestamp | None = None
    end: Timestamp | None = None
    # When the usage figures hold for: a carrier's records lag real use. Absent: as of
    # when the report was made.
    usage_at: Timestamp | None = None

    @model_validator(mode="after")
    def _period_in_order(self) -> CarrierBundleReport:
        if self.start and self.end and self.end < self.start:
            raise ValueError("the bundle ends before it starts")
        return self


class UsageReport(_Schema):
    """A usage or bundle-state report from the carrier's bundle API."""

    event_id: Annotated[str, Field(min_length=1, max_length=200)]  # as CarrierEvent.event_key
    type: Code | None = None
    iccid: Iccid
    reported_at: Timestamp
    bundle: CarrierBundleReport

