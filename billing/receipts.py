"""Receipts: issued once per paid order, numbered without gaps per year (R-2026-000123)."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation
from modeltranslation.utils import build_localized_fieldname

from .models import Order, Payment, Receipt, ReceiptCounter


def _describe(order: Order) -> dict[str, str]:
    """The line's text in every shipped language, frozen when the receipt is issued."""
    texts = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            plan_name = (getattr(order.plan, build_localized_fieldname("name", code))
                         or order.plan.name_en)
            texts[code] = f"{order.get_kind_display()}: {plan_name} ({order.nickname})"
    return texts


def receipt_issue(*, order: Order, payment: Payment) -> Receipt:
    """Issue the order's receipt. Called inside the transaction that marks the order paid
    (with the order locked): if that transaction rolls back, so does the number."""
    year = order.paid_at.year
    try:
        with transaction.atomic():
            ReceiptCounter.objects.get_or_create(year=year)
    except IntegrityError:
        pass  # another transaction created this year's counter a moment ago
    counter = ReceiptCounter.objects.select_for_update().get(year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return Receipt.objects.create(
        number=f"R-{year}-{counter.last_number:06d}", year=year,
        sequence=counter.last_number, order=order, customer=order.customer,
        billed_to=order.customer.email, issued_at=order.paid_at, currency=order.currency,
        total_minor=order.amount_minor, payment_method=payment.gateway,
        lines=[{"description": _describe(order), "quantity": 1,
                "amount_minor": order.amount_minor}])
