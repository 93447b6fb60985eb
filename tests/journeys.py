"""Steps of a customer's journey that several test modules take."""

from django.urls import reverse

from billing.models import Order


def pay_and_activate(client, order_number, django_capture_on_commit_callbacks):
    """Press Pay, succeed on the simulated gateway, return, and run the activation."""
    response = client.post(reverse("billing:pay", args=[order_number]))
    response = client.post(response["Location"], {"outcome": "success"})
    with django_capture_on_commit_callbacks(execute=True):
        client.get(response["Location"])
    return Order.objects.get(number=order_number)
