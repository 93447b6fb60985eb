"""Every move of a Bundle, and nothing else (portal/states.py).

    queued ──the carrier starts it──▶ active ──data used up──▶ depleted
      │                                 ├─────time up────────▶ expired
      │                                 └─────revoked────────▶ revoked
      └──ended at the carrier before it started──▶ depleted, expired, revoked
    expired ──▶ depleted, revoked: an end the portal inferred, corrected by the carrier

Two moves are the portal's own: a refund revokes a queued or active bundle
(`bundle_mark_revoked`), and a bundle starting ends the one running before it, as
expired until the carrier says how it ended (`bundles_end_before`): the carrier starts a
bundle only once the one before has ended. Every other move is the carrier's report,
taken in by `bundle_take_carrier_state` when the table allows it. A report the table
refuses (an ended bundle reported queued or active, a bundle reported back to queued, a
depleted or revoked one reported otherwise ended) was overtaken by what the portal knows
already: its state is logged and not taken (its usage figures are), and the carrier's
callback still succeeds. A report older than the figures already taken in still moves
the state as this table allows; its usage never lowers what is known
(`esims.services._report_take`). The database keeps one active bundle per eSIM
(esims/models.py).
"""

import logging
from collections.abc import Sequence

from portal.states import StateMachine, TransitionNotAllowed

from .models import Bundle

log = logging.getLogger(__name__)

S = Bundle.State

BUNDLE = StateMachine("Bundle", Bundle, field_name="state", initial=(S.QUEUED,), table={
    S.QUEUED: (S.ACTIVE, S.DEPLETED, S.EXPIRED, S.REVOKED),
    S.ACTIVE: (S.DEPLETED, S.EXPIRED, S.REVOKED),
    S.EXPIRED: (S.DEPLETED, S.REVOKED),
    S.DEPLETED: (),
    S.REVOKED: (),
})


def bundle_mark_revoked(*, bundle_id: int) -> bool:
    """Withdrawn by a refund (at the carrier first). A bundle that has ended keeps its
    end, and revoking again moves nothing. Returns whether it moved."""
    return bool(BUNDLE.move(Bundle.objects.filter(pk=bundle_id,
                                                  state__in=(S.QUEUED, S.ACTIVE)),
                            to=S.REVOKED))


def bundles_end_before(*, esim_id: int, starting_id: int) -> int:
    """The carrier started bundle `starting_id`: whatever ran before it on the eSIM has
    ended, even when the report of that end was lost or is still on its way. Taken as
    expired; the carrier's report corrects that to depleted or revoked."""
    return BUNDLE.move(Bundle.objects.filter(esim_id=esim_id, state=S.ACTIVE)
                       .exclude(pk=starting_id), to=S.EXPIRED)


def bundle_take_carrier_state(*, bundle: Bundle, reported: str,
                              fields: Sequence[str] = ()) -> bool:
    """Save a carrier report on a bundle the caller holds locked (select_for_update):
    the `fields` it set from the report, and the reported state when the table allows
    the move. A move it refuses is logged, and the bundle keeps its state. Returns
    whether the bundle moved."""
    moved = False
    if reported != bundle.state:
        try:
            BUNDLE.check(pk=bundle.pk, current=bundle.state, to=reported)
        except TransitionNotAllowed as refused:
            log.info("carrier report not taken: %s", refused)
        else:
            if reported == S.ACTIVE:  # before it starts: one active bundle per eSIM
                bundles_end_before(esim_id=bundle.esim_id, starting_id=bundle.pk)
            bundle.state = reported
            moved = True
    bundle.save(update_fields=[*(["state"] if moved else []), *fields])
    return moved
