import pytest
from django.urls import reverse

from billing.models import PaymentMethod


def save_card(client, behaviour="success", next_url="/esims/"):
    """Save a card through the simulated gateway's pages, as a customer does."""
    response = client.post(reverse("billing:card_add"), {"next": next_url})
    assert response.status_code == 302, response
    page = response["Location"]
    response = client.post(page, {"behaviour": behaviour})
    response = client.get(response["Location"])
    assert response.status_code == 302 and response["Location"] == next_url
    return PaymentMethod.objects.filter(status=PaymentMethod.Status.ACTIVE).latest("pk")


def switch_on(client, esim, plan_code, card):
    return client.post(reverse("renewals:settings", args=[esim.pk]),
                       {"plan": plan_code, "card": card.pk})


@pytest.fixture
def auto_renewing(alice_client, installed_esim):
    """Alice's installed eSIM with auto-renewal on, renewing the week plan with a card
    that pays."""
    card = save_card(alice_client)
    response = switch_on(alice_client, installed_esim, "jp-week", card)
    assert response.status_code == 302
    installed_esim.refresh_from_db()
    assert installed_esim.auto_renew
    return installed_esim
