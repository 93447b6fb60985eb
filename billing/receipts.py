"""Receipts and credit notes: each numbered without gaps per year (R-2026-000123,
C-2026-000007), issued inside the transaction that pays or refunds the order."""

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation
from modeltranslation.utils import build_localized_fieldname

from .models import CreditNote, DocumentCounter, Order, Payment, Receipt


def _describe(order: Order) -> dict[str, str]:
    """The line's text in every shipped language, frozen when the receipt is issued."""
    texts = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            # modeltranslation adds name_<language> to Plan at run time: django-stubs
            # cannot see them, hence getattr for English too.
            plan_name = (getattr(order.plan, build_localized_fieldname("name", code))
                         or getattr(order.plan, build_localized_fieldname("name", "en")))
            texts[code] = f"{order.get_kind_display()}: {plan_name} ({order.nickname})"
    return texts


def _paid_at(order: Order) -> datetime:
    """A paid order's time of payment: orders_mark_paid sets it, and the constraint
    order_paid_at_iff_paid holds it for every order past pending_payment."""
    assert order.paid_at is not None, f"order {order.number} is not paid"
    return order.paid_at


def receipt_issue(*, order: Order, payment: Payment) -> Receipt:
    """Issue the order's receipt. Called inside the transaction that marks the order paid
    (with the order locked): if that transaction rolls back, so does the number."""
    return receipts_issue(paid=[(order, payment)])[0]


def receipts_issue(*, paid: list[tuple[Order, Payment]]) -> list[Receipt]:
    """Issue the receipts of orders paid in one transaction (each locked by it), in the
    order given: the numbers are taken as one run, so the counter is locked and written
    once however many orders were paid."""
    # Everything but the numbers first: the counter is locked from there to the commit.
    drafts = [Receipt(year=_paid_at(order).year, order=order, customer_id=order.customer_id,
                      billed_to=order.customer.email, issued_at=_paid_at(order),
                      currency=order.currency, total_minor=order.amount_minor,
                      payment_method=payment.gateway,
                      lines=[{"description": _describe(order), "quantity": 1,
                              "amount_minor": order.amount_minor}])
              for order, payment in paid]
    for year in sorted({draft.year for draft in drafts}):
        of_year = [draft for draft in drafts if draft.year == year]
        last = _next_number(series="R", year=year, count=len(of_year))
        for sequence, draft in enumerate(of_year, start=last - len(of_year) + 1):
            draft.sequence = sequence
            draft.number = f"R-{year}-{sequence:06d}"
    return Receipt.objects.bulk_create(drafts)


def credit_note_issue(*, receipt: Receipt, reason: str, refund_reference: str,
                      at) -> CreditNote:
    """Issue the credit note for a refunded order, inside the refunding transaction."""
    sequence = _next_number(series="C", year=at.year)
    return CreditNote.objects.create(
        number=f"C-{at.year}-{sequence:06d}", year=at.year, sequence=sequence,
        receipt=receipt, issued_at=at, currency=receipt.currency,
        total_minor=receipt.total_minor, reason=reason[:255],
        gateway_refund_reference=refund_reference)


def _next_number(*, series: str, year: int, count: int = 1) -> int:
    """Take the next `count` numbers of the series and return the last of them; the
    caller's transaction holds the lock."""
    try:
        with transaction.atomic():
            DocumentCounter.objects.get_or_create(series=series, year=year)
    except IntegrityError:
        pass  # another transaction created this year's counter a moment ago
    counter = DocumentCounter.objects.select_for_update().get(series=series, year=year)
    counter.last_number += count
    counter.save(update_fields=["last_number"])
    return counter.last_number
