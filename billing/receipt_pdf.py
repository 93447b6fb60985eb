"""Receipts and credit notes as one-page PDFs in the reader's language (reportlab).

Every word is set in Receipt Sans SC (billing/fonts/, Noto Sans CJK SC cut down to
GB2312 and Latin; how it is built: tools/build_receipt_font.py), and reportlab embeds
the glyphs each document uses. One embedded font for both languages, because a receipt
shows what customers typed (an eSIM's nickname, a name) and staff wrote (a refund's
reason), which may be Chinese on an English receipt and Latin on a Chinese one: a font
the reader must supply (the standard CID font STSong-Light, Helvetica) shows
Chinese in the wrong place as gaps or garbage, and set Latin text too tight.
"""

import io
import zoneinfo
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from portal.formatting import money

from .gateways import GATEWAY_LABELS
from .models import CreditNote, Receipt
from .services import SELF_REFUND_REASON

FONTS = Path(__file__).resolve().parent / "fonts"
REGULAR, BOLD = "ReceiptSansSC", "ReceiptSansSC-Bold"
pdfmetrics.registerFont(TTFont(REGULAR, FONTS / "ReceiptSansSC-Regular.ttf"))
pdfmetrics.registerFont(TTFont(BOLD, FONTS / "ReceiptSansSC-Bold.ttf"))
pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR,
                              boldItalic=BOLD)

MARGIN = 20 * mm
WIDTH = A4[0] - 2 * MARGIN
LABEL_WIDTH = 42 * mm
AMOUNT_WIDTH = 45 * mm  # room for -US$21,474,836.47, the largest amount stored
RULE = colors.HexColor("#9ca3af")
MUTED = colors.HexColor("#4b5563")


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
    """The credit note for a refund, referring to the receipt it cancels; its amount is
    negative, as money going back."""
    receipt = note.receipt
    amount = money(-note.total_minor, note.currency)
    return _document(
        title=_("Credit note"), number=note.number, issued_at=note.issued_at,
        time_zone=time_zone, rows=[
            (_("Cancels receipt"), receipt.number),
            (_("Order"), receipt.order.number),
            (_("Billed to"), receipt.billed_to),
            (_("Reason"), _(note.reason) if note.reason == SELF_REFUND_REASON
             else note.reason)],
        lines=[(_("Refund of receipt %(number)s") % {"number": receipt.number}, amount)],
        total_label=_("Total refunded"), total=amount,
        closing=_("The amount goes back to the card or account you paid with."))


def _styles() -> dict[str, ParagraphStyle]:
    # Chinese has no spaces to break at: CJK wrapping breaks between any two characters
    # (and keeps Latin words whole); English breaks at spaces, splitting only a word too
    # long for the line.
    wrap = "CJK" if translation.get_language() == "zh-hans" else None
    base = ParagraphStyle("base", fontName=REGULAR, fontSize=10, leading=14, wordWrap=wrap)
    return {
        "body": base,
        "issuer": ParagraphStyle("issuer", base, fontName=BOLD, fontSize=14, leading=18),
        "address": ParagraphStyle("address", base, fontSize=9, leading=12, textColor=MUTED),
        "title": ParagraphStyle("title", base, fontName=BOLD, fontSize=20, leading=24),
        "number": ParagraphStyle("number", base, fontSize=12, leading=16, alignment=TA_RIGHT),
        "label": ParagraphStyle("label", base, textColor=MUTED),
        "head": ParagraphStyle("head", base, fontName=BOLD),
        "head_amount": ParagraphStyle("head_amount", base, fontName=BOLD, alignment=TA_RIGHT),
        "amount": ParagraphStyle("amount", base, alignment=TA_RIGHT),
        "total": ParagraphStyle("total", base, fontName=BOLD, fontSize=12, leading=16),
        "total_amount": ParagraphStyle("total_amount", base, fontName=BOLD, fontSize=12,
                                       leading=16, alignment=TA_RIGHT),
        "closing": ParagraphStyle("closing", base, fontSize=9, leading=12),
    }


def _text(value: object, style: ParagraphStyle) -> Paragraph:
    """Text as a paragraph that wraps; whatever a customer typed is printed, not read
    as markup."""
    return Paragraph(escape(str(value)), style)


def _issuer(styles: dict[str, ParagraphStyle]) -> list:
    lines = [line.strip() for line in settings.RECEIPT_ISSUER_ADDRESS.split("|")]
    flowables = [_text(settings.RECEIPT_ISSUER_NAME, styles["issuer"])]
    flowables += [_text(line, styles["address"]) for line in lines if line]
    if settings.RECEIPT_ISSUER_TAX_ID:
        flowables.append(_text(_("Tax ID: %(id)s") % {"id": settings.RECEIPT_ISSUER_TAX_ID},
                               styles["address"]))
    return flowables


def _document(*, title, number, issued_at, time_zone, rows, lines, total_label, total,
              closing) -> bytes:
    styles = _styles()
    issued = issued_at.astimezone(zoneinfo.ZoneInfo(time_zone))
    rows = [(_("Issued"), f"{formats.date_format(issued, 'DATETIME_FORMAT')} ({time_zone})"),
            *rows]
    heading = Table([[_text(title, styles["title"]), _text(number, styles["number"])]],
                    colWidths=[WIDTH - 60 * mm, 60 * mm])
    details = Table([[_text(label, styles["label"]), _text(value, styles["body"])]
                     for label, value in rows],
                    colWidths=[LABEL_WIDTH, WIDTH - LABEL_WIDTH])
    items = Table(
        [[_text(_("Description"), styles["head"]), _text(_("Amount"), styles["head_amount"])],
         *[[_text(text, styles["body"]), _text(amount, styles["amount"])]
           for text, amount in lines],
         [_text(total_label, styles["total"]), _text(total, styles["total_amount"])]],
        colWidths=[WIDTH - AMOUNT_WIDTH, AMOUNT_WIDTH], repeatRows=1)
    for table in (heading, details, items):
        # The font too, or the table sets the reader's Helvetica in its cells' places.
        table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), REGULAR),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                   ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    heading.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))  # one baseline
    details.setStyle(TableStyle([("RIGHTPADDING", (0, 0), (0, -1), 4 * mm),
                                 ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    items.setStyle(TableStyle([
        ("LINEBELOW", (0, 0), (-1, 0), 0.75, RULE),
        ("LINEABOVE", (0, -1), (-1, -1), 0.75, RULE),
        ("TOPPADDING", (0, 1), (-1, -1), 6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ("RIGHTPADDING", (0, 0), (0, -1), 6 * mm),  # descriptions keep off the amounts
    ]))

    buffer = io.BytesIO()
    # invariant: the same document gives the same bytes (no creation time, fixed ids);
    # uncompressed pages: the text of a receipt can be searched as it is.
    document = BaseDocTemplate(
        buffer, pagesize=A4, title=f"{title} {number}", author=settings.RECEIPT_ISSUER_NAME,
        creator=settings.RECEIPT_ISSUER_NAME, invariant=1, pageCompression=0,
        initialFontName=REGULAR, pageTemplates=[PageTemplate(frames=[Frame(
            MARGIN, 20 * mm, WIDTH, A4[1] - 45 * mm, leftPadding=0, rightPadding=0,
            topPadding=0, bottomPadding=0)])])
    document.build([*_issuer(styles), Spacer(0, 12 * mm), heading, Spacer(0, 6 * mm),
                    details, Spacer(0, 8 * mm), items, Spacer(0, 14 * mm),
                    _text(closing, styles["closing"])])
    return buffer.getvalue()
