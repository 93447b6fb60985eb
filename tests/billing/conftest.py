"""Shared set-up for orders on existing eSIMs (renewals, top-ups)."""

import pytest
from django.urls import reverse

from billing import services
from billing.models import Order
from esims.models import ESim
from esims.services import esim_sync_from_carrier
from tests.factories import PlanFactory, paid_new_esim_order


@pytest.fixture
def plans():
    return {"week": PlanFactory(code="jp-week", name="Japan week", validity_days=7),
            "month": PlanFactory(code="jp-month", name="Japan month", validity_days=30,
                                 prices={"USD": 1800, "EUR": 1700, "CNY": 12800})}


@pytest.fixture
def installed_esim(carrier, alice, plans):
    """An eSIM bought with the week plan, installed, its bundle running at the carrier.
    The simulated phone uses no data, so plans end by time, not by depletion."""
    carrier.configure(usage_bytes_per_second=0)
    order = paid_new_esim_order(alice, plan=plans["week"])
    services.order_activate(order_id=order.pk)
    esim = ESim.objects.get(pk=order.esim_id)
    carrier.download(esim.iccid)
    esim_sync_from_carrier(esim_id=esim.pk)
    esim.refresh_from_db()
    assert esim.state == ESim.State.INSTALLED
    return esim


def pay_and_activate(client, order_number, django_capture_on_commit_callbacks):
    response = client.post(reverse("billing:pay", args=[order_number]))
    response = client.post(response["Location"], {"outcome": "success"})
    with django_capture_on_commit_callbacks(execute=True):
        client.get(response["Location"])
    return Order.objects.get(number=order_number)
