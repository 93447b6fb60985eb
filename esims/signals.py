"""What happened to bundles, for whoever must react in the same transaction (the
reminders and data alerts of notifications/): esims/ tells, and knows nothing of who
listens.

`bundles_changed` is sent by esims/services.py inside the transaction that changed the
bundles, once per batch, after the rows are saved: a bundle created (paid, waiting to
run), a carrier report taken in (usage, state, period), a bundle revoked.
"""

from dataclasses import dataclass

from django.dispatch import Signal

from .models import Bundle


@dataclass(frozen=True)
class BundleChange:
    bundle: Bundle  # as saved, with `esim` loaded
    used_before: int  # data used before this change (0 for a new bundle)
    state_before: str | None  # None for a new bundle
    period_changed: bool  # created, started, ended, or its end moved
    esim_expired: bool  # this change left the eSIM with nothing to run


# Sent with sender=Bundle and changes=list[BundleChange].
bundles_changed = Signal()
