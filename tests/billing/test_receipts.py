import re
import threading

import pytest
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.gateways.simulated import simulated_charge_decide
from billing.models import Receipt
from billing.receipts import credit_note_issue
from tests import services as machine
from tests.factories import OrderFactory, PlanFactory, UserFactory


def paid(order):
    payment = services.payment_start(order=order, return_url_for=lambda p: "/back")
    simulated_charge_decide(reference=payment.gateway_reference, outcome="success")
    services.payment_sync(payment_id=payment.pk)
    order.refresh_from_db()
    return order


@pytest.mark.django_db
class TestReceipts:
    def test_every_paid_order_gets_one_receipt_numbered_in_sequence(self, alice):
        year = timezone.now().year
        first = paid(OrderFactory(customer=alice))
        second = paid(OrderFactory(customer=alice, amount_minor=1800))
        assert first.receipt.number == f"R-{year}-000001"
        assert second.receipt.number == f"R-{year}-000002"
        assert (second.receipt.total_minor, second.receipt.currency) == (1800, "USD")
        services.payment_sync(payment_id=first.payments.get().pk)  # a repeated return
        assert Receipt.objects.count() == 2

    def test_unpaid_or_declined_orders_get_no_receipt(self, alice):
        order = OrderFactory(customer=alice)
        payment = services.payment_start(order=order, return_url_for=lambda p: "/back")
        simulated_charge_decide(reference=payment.gateway_reference, outcome="card_declined")
        services.payment_sync(payment_id=payment.pk)
        assert not Receipt.objects.exists()

    def test_lines_are_frozen_in_both_languages(self, alice):
        plan = PlanFactory(name_en="Japan week", name_zh_hans="日本一周")
        receipt = paid(OrderFactory(customer=alice, plan=plan, nickname="Phone")).receipt
        plan.name_en = "Renamed"
        plan.save()
        receipt.refresh_from_db()
        assert receipt.lines[0]["description"] == {
            "en": "New eSIM: Japan week (Phone)", "zh-hans": "新 eSIM: 日本一周 (Phone)"}

    def test_a_receipt_cannot_be_changed(self, alice):
        receipt = paid(OrderFactory(customer=alice)).receipt
        receipt.total_minor = 1
        with pytest.raises(ValueError):
            receipt.save()

    def test_receipts_are_listed_and_downloaded_as_pdf(self, alice_client, alice):
        receipt = paid(OrderFactory(customer=alice)).receipt
        assert receipt.number in alice_client.get(reverse("billing:receipts")).content.decode()
        response = alice_client.get(reverse("billing:receipt_pdf", args=[receipt.number]))
        assert response["Content-Type"] == "application/pdf"
        assert f'filename="{receipt.number}.pdf"' in response["Content-Disposition"]
        assert response.content.startswith(b"%PDF") and receipt.number.encode() in response.content
        assert b"Receipt" in response.content and b"US$8.00" in response.content

    def test_the_pdf_is_in_the_customers_language(self, alice_client, alice):
        alice.language = "zh-hans"
        alice.save()
        receipt = paid(OrderFactory(customer=alice)).receipt
        pdf = alice_client.get(reverse("billing:receipt_pdf", args=[receipt.number])).content
        text = pdf_text(pdf)
        assert "收据" in text and "实付合计" in text and "US$8.00" in text
        assert receipt.number in text and "Receipt" not in text

    def test_another_customers_receipt_is_404(self, client, alice, bob):
        receipt = paid(OrderFactory(customer=alice)).receipt
        client.force_login(bob)
        assert client.get(reverse("billing:receipt_pdf", args=[receipt.number])).status_code == 404
        assert receipt.number not in client.get(reverse("billing:receipts")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_receipts_issued_at_the_same_moment_have_no_gaps_and_no_repeats():
    machine.need(connection.vendor == "postgresql", "PostgreSQL (row locks under real races)")
    orders = [OrderFactory(customer=UserFactory()) for _ in range(6)]
    barrier = threading.Barrier(len(orders))

    def pay(order):
        barrier.wait()
        try:
            paid(order)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=pay, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(Receipt.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4, 5, 6]


# --- The PDF: its own font, embedded; readable text; the issuer from settings -----------

_FONT = re.compile(rb"<<[^<>]*?/Type /Font\b.*?>>", re.S)
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _object(pdf: bytes, number: bytes) -> bytes:
    start = pdf.index(b"\n" + number + b" 0 obj") + 1
    return pdf[start:pdf.index(b"endobj", start)]


def _unescape(literal: bytes) -> bytes:
    def one(match: re.Match) -> bytes:
        code = match.group(1)
        return bytes([int(code, 8)]) if code[:1].isdigit() else _ESCAPES.get(code, code)
    return _ESCAPE.sub(one, literal)


def pdf_text(pdf: bytes) -> str:
    """The text a PDF reader shows and copies: every string the pages draw, read through
    its font's ToUnicode map (reportlab writes pages uncompressed)."""
    maps = {}
    for font in _FONT.findall(pdf):
        name, to_unicode = re.search(rb"/Name /(\S+)", font), re.search(rb"/ToUnicode (\d+) 0 R",
                                                                         font)
        assert name and to_unicode, font
        cmap = _object(pdf, to_unicode.group(1))
        maps[name.group(1)] = {int(code, 16): chr(int(char, 16)) for code, char in
                               re.findall(rb"<([0-9A-F]{2})> <([0-9A-F]{4})>", cmap)}
    text, current = [], {}
    for contents in re.findall(rb"/Contents (\d+) 0 R", pdf):
        page = _object(pdf, contents)
        for font, literal, end in re.findall(
                rb"/(\S+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj|(T\*|\bET\b)", page, re.S):
            if font:
                current = maps[font]
            elif end:  # the end of a line or of a block of text
                text.append(" ")
            else:
                text.append("".join(current.get(byte, chr(byte)) for byte in _unescape(literal)))
    return " ".join("".join(text).split())


def assert_font_embedded(pdf: bytes) -> None:
    """Every font the document uses travels inside it: TrueType with its outlines
    (/FontFile2); no font the reader must supply (STSong-Light, Helvetica)."""
    fonts = _FONT.findall(pdf)
    assert fonts
    for font in fonts:
        assert b"/Subtype /TrueType" in font and b"ReceiptSansSC" in font, font
        descriptor = re.search(rb"/FontDescriptor (\d+) 0 R", font)
        assert descriptor and b"/FontFile2 " in _object(pdf, descriptor.group(1)), font
    for unembedded in (b"STSong", b"/Type0", b"/CIDFontType0", b"/Type1", b"Helvetica"):
        assert unembedded not in pdf, unembedded


@pytest.fixture
def issuer(settings):
    settings.RECEIPT_ISSUER_NAME = "Nordlicht Mobile GmbH"
    settings.RECEIPT_ISSUER_ADDRESS = "Friedrichstrasse 68|10117 Berlin|Germany"
    settings.RECEIPT_ISSUER_TAX_ID = "DE123456789"


@pytest.mark.django_db
class TestReceiptPdf:
    def test_a_chinese_receipt_embeds_its_font_and_reads_as_chinese(self, alice_client, alice,
                                                                   issuer):
        alice.language = "zh-hans"
        alice.save()
        plan = PlanFactory(name_en="Japan week", name_zh_hans="日本一周")
        receipt = paid(OrderFactory(customer=alice, plan=plan, nickname="妈妈的手机")).receipt
        pdf = alice_client.get(reverse("billing:receipt_pdf", args=[receipt.number])).content
        assert_font_embedded(pdf)
        text = pdf_text(pdf)
        assert "新 eSIM: 日本一周 (妈妈的手机)" in text and "付款方式" in text
        assert "Nordlicht Mobile GmbH" in text and "10117 Berlin" in text
        assert "DE123456789" in text

    def test_an_english_receipt_uses_the_same_font_for_a_chinese_nickname(
            self, alice_client, alice, issuer):
        receipt = paid(OrderFactory(customer=alice, nickname="妈妈的手机")).receipt
        pdf = alice_client.get(reverse("billing:receipt_pdf", args=[receipt.number])).content
        assert_font_embedded(pdf)
        text = pdf_text(pdf)
        assert "(妈妈的手机)" in text and "Total paid" in text and "US$8.00" in text

    @pytest.mark.parametrize(("language", "title", "amount"), [
        ("en", "Credit note", "-US$8.00"), ("zh-hans", "红字凭证", "-US$8.00")])
    def test_a_credit_note_embeds_its_font_and_shows_a_negative_amount(
            self, alice_client, alice, issuer, language, title, amount):
        alice.language = language
        alice.save()
        receipt = paid(OrderFactory(customer=alice)).receipt
        note = credit_note_issue(receipt=receipt, reason="客户在下载前取消",
                                 refund_reference="re_1", at=timezone.now())
        pdf = alice_client.get(reverse("billing:credit_note_pdf", args=[note.number])).content
        assert_font_embedded(pdf)
        text = pdf_text(pdf)
        assert title in text and amount in text and "客户在下载前取消" in text
        assert receipt.number in text

    def test_zero_decimal_and_yuan_amounts_read_in_the_customers_language(
            self, alice_client, alice):
        alice.language = "zh-hans"
        alice.save()
        yen = paid(OrderFactory(customer=alice, currency="JPY", amount_minor=1200)).receipt
        yuan = paid(OrderFactory(customer=alice, currency="CNY", amount_minor=5800)).receipt
        assert "JP¥1,200" in pdf_text(alice_client.get(
            reverse("billing:receipt_pdf", args=[yen.number])).content)
        assert "¥58.00" in pdf_text(alice_client.get(
            reverse("billing:receipt_pdf", args=[yuan.number])).content)

    def test_customer_text_is_printed_not_read_as_markup(self, alice_client, alice):
        receipt = paid(OrderFactory(customer=alice, nickname="<b>Tom & Jerry</b>")).receipt
        pdf = alice_client.get(reverse("billing:receipt_pdf", args=[receipt.number])).content
        assert "(<b>Tom & Jerry</b>)" in pdf_text(pdf)

    def test_the_same_receipt_gives_the_same_bytes(self, alice_client, alice):
        receipt = paid(OrderFactory(customer=alice)).receipt
        url = reverse("billing:receipt_pdf", args=[receipt.number])
        assert alice_client.get(url).content == alice_client.get(url).content


@pytest.mark.django_db
def test_the_admin_lists_amounts_as_money_not_minor_units(client, alice):
    client.force_login(UserFactory(email="agent@example.com", is_staff=True, is_superuser=True))
    order = paid(OrderFactory(customer=alice, currency="JPY", amount_minor=1200))
    credit_note_issue(receipt=order.receipt, reason="test", refund_reference="re_1",
                      at=timezone.now())
    for page in ("billing_order_changelist", "billing_payment_changelist",
                 "billing_receipt_changelist", "billing_creditnote_changelist"):
        assert "JP¥1,200" in client.get(reverse(f"admin:{page}")).content.decode(), page
    assert "JP¥1,200" in client.get(
        reverse("admin:billing_order_change", args=[order.pk])).content.decode()
    assert "JP¥1,200" in client.get(
        reverse("admin:esims_esim_change", args=[order.esim.pk])).content.decode()
