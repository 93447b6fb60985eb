import threading

import pytest
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.gateways.simulated import simulated_charge_decide
from billing.models import Receipt
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
        assert b"STSong-Light" in pdf and b"Receipt" not in pdf.split(b"stream", 1)[1]

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
