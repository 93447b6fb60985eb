"""Receipts and credit notes as one-page PDFs in the reader's language (reportlab).

Chinese text uses the standard CID font STSong-Light, which PDF readers provide, so no
font file has to ship with the portal; Latin text and figures use Helvetica.
"""

import io
import zoneinfo

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from portal.formatting import money

from .gateways import GATEWAY_LABELS
from .models import CreditNote, Receipt

_CJK_FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(_CJK_FONT))


def _font(bold: bool = False) -> str:
    if translation.get_language() == "zh-hans":
        return _CJK_FONT
    return "Helvetica-Bold" if bold else "Helvetica"


def receipt_pdf(receipt: Receipt, *, time_zone: str) -> bytes:
    """The receipt in the active language, dates in the reader's time zone."""
    language = translation.get_language()
    lines = [(line["description"].get(language) or line["description"]["en"],
              money(line["amount_minor"], receipt.currency)) for line in receipt.lines]
    return _document(
        title=_("Receipt"), number=receipt.number, issued_at=receipt.issued_at,
        time_zone=time_zone, rows=[
            (_("Order"), receipt.order.number),
            (_("Billed to"), receipt.billed_to),
            (_("Paid with"), str(GATEWAY_LABELS.get(receipt.payment_method,
                                                    receipt.payment_method)))],
        lines=lines, total_label=_("Total paid"),
        total=money(receipt.total_minor, receipt.currency),
        closing=_("Thank you for travelling with us."))


def credit_note_pdf(note: CreditNote, *, time_zone: str) -> bytes:
    """The credit note for a refund, referring to the receipt it cancels."""
    receipt = note.receipt
    amount = "-" + money(note.total_minor, note.currency)
    return _document(
        title=_("Credit note"), number=note.number, issued_at=note.issued_at,
        time_zone=time_zone, rows=[
            (_("Cancels receipt"), receipt.number),
            (_("Order"), receipt.order.number),
            (_("Billed to"), receipt.billed_to),
            (_("Reason"), note.reason)],
        lines=[(_("Refund of receipt %(number)s") % {"number": receipt.number}, amount)],
        total_label=_("Total refunded"), total=amount,
        closing=_("The amount goes back to the card or account you paid with."))


def _document(*, title, number, issued_at, time_zone, rows, lines, total_label, total,
              closing) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1, pageCompression=0)
    pdf.setTitle(f"{title} {number}")
    pdf.setAuthor(settings.RECEIPT_ISSUER_NAME)
    width, height = A4
    left, right = 20 * mm, width - 20 * mm
    y = height - 25 * mm

    def text(x, line, *, size=10, bold=False, align="left"):
        pdf.setFont(_font(bold), size)
        {"left": pdf.drawString, "right": pdf.drawRightString}[align](x, y, line)

    text(left, settings.RECEIPT_ISSUER_NAME, size=14, bold=True)
    for line in settings.RECEIPT_ISSUER_ADDRESS.split("|"):
        y -= 5 * mm
        text(left, line.strip(), size=9)
    y -= 15 * mm
    text(left, title, size=20, bold=True)
    text(right, number, size=12, align="right")
    issued = issued_at.astimezone(zoneinfo.ZoneInfo(time_zone))
    y -= 12 * mm
    for label, value in [(_("Issued"), f"{formats.date_format(issued, 'DATETIME_FORMAT')} "
                                       f"({time_zone})"), *rows]:
        text(left, label)
        text(left + 40 * mm, value)
        y -= 6 * mm
    y -= 8 * mm
    text(left, _("Description"), bold=True)
    text(right, _("Amount"), bold=True, align="right")
    y -= 3 * mm
    pdf.line(left, y, right, y)
    for description, amount in lines:
        y -= 7 * mm
        text(left, description)
        text(right, amount, align="right")
    y -= 4 * mm
    pdf.line(left, y, right, y)
    y -= 8 * mm
    text(left, total_label, size=12, bold=True)
    text(right, total, size=12, bold=True, align="right")
    y -= 20 * mm
    text(left, closing, size=9)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
