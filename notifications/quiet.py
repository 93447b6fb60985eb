"""No SMS at night in the customer's time zone: a text that falls due in the quiet hours
waits until they end (security codes are not messages and are sent at once)."""

import zoneinfo
from datetime import datetime, time, timedelta

from django.conf import settings


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def in_quiet_hours(at: datetime, *, time_zone: str) -> bool:
    start, end = settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END
    if start == end:
        return False
    hour = at.astimezone(_zone(time_zone)).hour
    return (start <= hour or hour < end) if start > end else (start <= hour < end)


def sms_send_time(at: datetime, *, time_zone: str) -> datetime:
    """`at`, or the end of the quiet hours it falls in, in the customer's zone (a
    wall-clock time, so a daylight-saving change moves it with the clock)."""
    if not in_quiet_hours(at, time_zone=time_zone):
        return at
    zone = _zone(time_zone)
    local = at.astimezone(zone)
    morning = local.date() if local.hour < settings.SMS_QUIET_HOURS_END else (
        local.date() + timedelta(days=1))
    wake = datetime.combine(morning, time(settings.SMS_QUIET_HOURS_END), tzinfo=zone)
    # A wall-clock hour skipped by a daylight-saving change is read as the hour after.
    return wake.astimezone(zoneinfo.ZoneInfo("UTC"))
