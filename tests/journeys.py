"""Steps of a customer's journey that several test modules take."""

from django.urls import reverse

from billing import services as billing_services
from billing.models import Order
from esims.models import ESim
from esims.services import esim_sync_from_carrier
from tests.factories import paid_new_esim_order


def pay_and_activate(client, order_number, django_capture_on_commit_callbacks):
    """Press Pay, succeed on the simulated gateway, return, and run the activation."""
    response = client.post(reverse("billing:pay", args=[order_number]))
    response = client.post(response["Location"], {"outcome": "success"})
    with django_capture_on_commit_callbacks(execute=True):
        client.get(response["Location"])
    return Order.objects.get(number=order_number)


def install_esim(sim, owner, plan) -> ESim:
    """An eSIM bought with `plan`, installed, its bundle running at the simulator `sim`.
    The simulated phone uses no data, so plans end by time, not by depletion."""
    sim.configure(usage_bytes_per_second=0)
    order = paid_new_esim_order(owner, plan=plan)
    billing_services.order_activate(order_id=order.pk)
    assert order.esim_id is not None  # paid_new_esim_order gives the order its eSIM
    esim = ESim.objects.get(pk=order.esim_id)
    sim.download(esim.iccid)
    esim_sync_from_carrier(esim_id=esim.pk)
    esim.refresh_from_db()
    assert esim.state == ESim.State.INSTALLED
    return esim
