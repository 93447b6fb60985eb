"""A receipt as a one-page PDF in the reader's language (reportlab).

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
from .models import Receipt

_CJK_FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(_CJK_FONT))


def _font(bold: bool = False) -> str:
    if translation.get_language() == "zh-hans":
        return _CJK_FONT
    return "Helvetica-Bold" if bold else "Helvetica"


def receipt_pdf(receipt: Receipt, *, time_zone: str) -> bytes:
    """The receipt in the active language, dates in the reader's time zone."""
    language = translation.get_language()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1, pageCompression=0)
    pdf.setTitle(f"{_('Receipt')} {receipt.number}")
    pdf.setAuthor(settings.RECEIPT_ISSUER_NAME)
    width, height = A4
    left, right, y = 20 * mm, width - 20 * mm, height - 25 * mm

    def text(x, line, *, size=10, bold=False, align="left"):
        pdf.setFont(_font(bold), size)
        {"left": pdf.drawString, "right": pdf.drawRightString}[align](x, y, line)

    text(left, settings.RECEIPT_ISSUER_NAME, size=14, bold=True)
    for line in settings.RECEIPT_ISSUER_ADDRESS.split("|"):
        y -= 5 * mm
        text(left, line.strip(), size=9)
    y -= 15 * mm
    text(left, _("Receipt"), size=20, bold=True)
    text(right, receipt.number, size=12, align="right")
    issued = receipt.issued_at.astimezone(zoneinfo.ZoneInfo(time_zone))
    rows = [
        (_("Issued"), f"{formats.date_format(issued, 'DATETIME_FORMAT')} ({time_zone})"),
        (_("Order"), receipt.order.number),
        (_("Billed to"), receipt.billed_to),
        (_("Paid with"), str(GATEWAY_LABELS.get(receipt.payment_method,
                                                receipt.payment_method))),
    ]
    y -= 12 * mm
    for label, value in rows:
        text(left, label, size=10)
        text(left + 40 * mm, value, size=10)
        y -= 6 * mm
    y -= 8 * mm
    text(left, _("Description"), bold=True)
    text(right, _("Amount"), bold=True, align="right")
    y -= 3 * mm
    pdf.line(left, y, right, y)
    for line in receipt.lines:
        y -= 7 * mm
        description = line["description"].get(language) or line["description"]["en"]
        text(left, description)
        text(right, money(line["amount_minor"], receipt.currency), align="right")
    y -= 4 * mm
    pdf.line(left, y, right, y)
    y -= 8 * mm
    text(left, _("Total paid"), size=12, bold=True)
    text(right, money(receipt.total_minor, receipt.currency), size=12, bold=True, align="right")
    y -= 20 * mm
    text(left, _("Thank you for travelling with us."), size=9)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
