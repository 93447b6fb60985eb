"""Every move of a saved card (PaymentMethod), and nothing else (portal/states.py).

    pending ──saved at the gateway──▶ active ──┐
       │ └──the gateway refused──▶ failed ─────┼──remove──▶ removed
       └───────────────────────────────────────┘

The row is written when saving starts; the card's details arrive with the move to
active, which the database requires to carry the gateway's reference and `saved_at`
(PaymentMethod.Meta.constraints). A removed card is never charged again.
"""

from datetime import datetime

from portal.states import StateMachine

from .gateways import SavedCard
from .models import PaymentMethod

S = PaymentMethod.Status

PAYMENT_METHOD = StateMachine("PaymentMethod", PaymentMethod, initial=(S.PENDING,), table={
    S.PENDING: (S.ACTIVE, S.FAILED, S.REMOVED),
    S.ACTIVE: (S.REMOVED,),
    S.FAILED: (S.REMOVED,),
    S.REMOVED: (),
})


def card_mark_saved(*, payment_method_id: int, saved: SavedCard, at: datetime) -> None:
    """pending → active, with the card's details. Raises TransitionNotAllowed when it is
    no longer pending (recorded by another call already, or removed meanwhile)."""
    PAYMENT_METHOD.move_one(payment_method_id, to=S.ACTIVE, reference=saved.reference,
                            brand=saved.brand, last4=saved.last4, exp_month=saved.exp_month,
                            exp_year=saved.exp_year, saved_at=at)


def card_mark_failed(*, payment_method_id: int) -> None:
    """pending → failed: the gateway will not save it. Raises TransitionNotAllowed when
    it is no longer pending."""
    PAYMENT_METHOD.move_one(payment_method_id, to=S.FAILED)


def card_mark_removed(*, method: PaymentMethod) -> None:
    """pending, active or failed → removed, for a card the caller holds locked. Raises
    TransitionNotAllowed when it is removed already."""
    PAYMENT_METHOD.check(pk=method.pk, current=method.status, to=S.REMOVED)
    method.status = S.REMOVED
    method.save(update_fields=["status"])
