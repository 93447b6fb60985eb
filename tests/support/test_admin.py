import pytest
from django.urls import reverse

from tests.factories import BundleFactory, PlanFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(email="agent@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def bundle(alice):
    return BundleFactory(esim__owner=alice, esim__nickname="Alice phone")


def test_support_finds_an_esim_by_iccid_email_or_order_number(staff_client, bundle):
    url = reverse("admin:esims_esim_changelist")
    for query in (bundle.esim.iccid, "alice@example.com", bundle.order.number):
        content = staff_client.get(url, {"q": query}).content.decode()
        assert "Alice phone" in content, query
    assert "Alice phone" not in staff_client.get(url, {"q": "nobody"}).content.decode()


def test_support_finds_orders_and_customers(staff_client, bundle):
    content = staff_client.get(reverse("admin:billing_order_changelist"),
                               {"q": bundle.esim.iccid}).content.decode()
    assert bundle.order.number in content
    content = staff_client.get(reverse("admin:accounts_user_changelist"),
                               {"q": "alice"}).content.decode()
    assert "alice@example.com" in content


def test_state_filters(staff_client, bundle):
    url = reverse("admin:esims_esim_changelist")
    assert "Alice phone" in staff_client.get(url, {"state__exact": "installed"}).content.decode()
    assert "Alice phone" not in staff_client.get(url, {"state__exact": "expired"}).content.decode()


def test_money_and_carrier_records_cannot_be_edited_by_hand(staff_client, bundle):
    order_page = staff_client.get(reverse("admin:billing_order_change",
                                          args=[bundle.order.pk])).content.decode()
    assert 'name="amount_minor"' not in order_page and 'name="status"' not in order_page
    esim_page = staff_client.get(reverse("admin:esims_esim_change",
                                         args=[bundle.esim.pk])).content.decode()
    assert 'name="iccid"' not in esim_page and 'name="nickname"' in esim_page
    assert 'name="auto_renew"' not in esim_page
    assert staff_client.get(reverse("admin:esims_esim_add")).status_code == 403
    assert staff_client.get(reverse("admin:billing_order_add")).status_code == 403
    assert staff_client.get(reverse("admin:billing_order_delete",
                                    args=[bundle.order.pk])).status_code == 403


def test_plans_are_managed_with_prices_and_translations(staff_client):
    plan = PlanFactory(code="jp-week")
    content = staff_client.get(reverse("admin:plans_plan_change", args=[plan.pk])).content.decode()
    assert 'name="name_zh_hans"' in content and 'name="prices-0-amount_minor"' in content


def test_customers_cannot_reach_admin(alice_client):
    response = alice_client.get(reverse("admin:esims_esim_changelist"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_closing_tickets_needs_the_change_permission(client, alice):
    """Staff who may only read tickets are not offered the list's close action, and a
    forged POST of it closes nothing."""
    from django.contrib.auth.models import Permission

    from support.models import Ticket
    from support.services import ticket_open

    ticket = ticket_open(customer=alice, subject="Where is my eSIM?", body="Paid an hour ago")
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    client.force_login(reader)
    url = reverse("admin:support_ticket_changelist")
    assert "close_tickets" not in client.get(url).content.decode()
    client.post(url, {"action": "close_tickets", "_selected_action": [ticket.pk]})
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.OPEN
