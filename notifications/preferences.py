"""The customer's choices about their messages: which kinds on which channel, and at what
share of data used each eSIM's alerts go out. Written here, read by
notifications/requests.py (channels) and notifications/alerts.py (percents)."""

from django.db import transaction
from django.utils import timezone

from esims.models import ESim

from .kinds import SMS, channel_default
from .models import ChannelSetting
from .selectors import channel_choices


def _upsert(rows: list[ChannelSetting]) -> None:
    # One statement whatever the number, and safe when two saves race: the unique
    # (customer, kind, channel) row is written, never doubled.
    ChannelSetting.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["customer", "kind", "channel"],
        update_fields=["enabled", "changed_at"])


@transaction.atomic
def channel_choices_save(*, customer, wanted: dict[tuple[str, str], bool]) -> int:
    """Save the customer's choices: a row for each (kind, channel) whose wanted state
    differs from what they get now; a pair the kind never goes out on is ignored, and so
    is SMS while their number is not verified (that column cannot be chosen yet).
    Returns how many changed; saving the same choices again changes nothing."""
    current = channel_choices(customer=customer)
    sms_choosable = bool(customer.phone and customer.phone_verified_at)
    now = timezone.now()
    rows = [ChannelSetting(customer=customer, kind=kind, channel=channel, enabled=on,
                           changed_at=now)
            for (kind, channel), on in wanted.items()
            if (kind, channel) in current and current[(kind, channel)] != on
            and (channel != SMS or sms_choosable)]
    if rows:
        _upsert(rows)
    return len(rows)


def channel_switch_off(*, customer, kind: str, channel: str) -> bool:
    """Switch one kind of message off on one channel (an unsubscribe link). Returns False
    when it was off already, or never goes out on that channel; repeating it changes
    nothing."""
    if channel_default(kind, channel) is None:
        return False
    if not channel_choices(customer=customer)[(kind, channel)]:
        return False
    _upsert([ChannelSetting(customer=customer, kind=kind, channel=channel, enabled=False,
                            changed_at=timezone.now())])
    return True


def esim_alert_percents_set(*, esim: ESim, percents: list[int] | None) -> None:
    """The customer's own data alerts for this eSIM (whole percents used, 1 to 99, each
    once, ascending); None or empty goes back to the portal's DATA_ALERT_PERCENTS."""
    value = sorted(set(percents)) if percents else None
    if value is not None and not all(isinstance(p, int) and 1 <= p <= 99 for p in value):
        raise ValueError(f"data alert percents must be whole numbers 1 to 99: {value}")
    ESim.objects.filter(pk=esim.pk).update(data_alert_percents=value,
                                           updated_at=timezone.now())
    esim.data_alert_percents = value
