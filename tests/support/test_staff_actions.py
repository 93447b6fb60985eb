"""Support's actions on orders and eSIMs: each does what it says, once, and is recorded."""

import pytest
from django.urls import reverse

from billing.models import CreditNote, Order, SimulatedCharge
from esims.models import Bundle, ESim
from support.models import StaffAction
from tests.factories import ESimFactory, UserFactory
from tests.journeys import pay_and_activate

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client():
    """A support agent in their own browser (Alice has hers)."""
    from django.test import Client

    client = Client()
    client.agent = UserFactory(email="agent@example.com", is_staff=True, is_superuser=True)
    client.force_login(client.agent)
    return client


@pytest.fixture
def renewal(alice_client, installed_esim, django_capture_on_commit_callbacks):
    import uuid

    alice_client.post(reverse("billing:renew", args=[installed_esim.pk]),
                      {"plan": "jp-month", "idempotency_key": str(uuid.uuid4())})
    return pay_and_activate(alice_client, Order.objects.get(kind="renewal").number,
                            django_capture_on_commit_callbacks)


def test_refund_withdraws_the_plan_refunds_and_issues_a_credit_note(agent_client, renewal,
                                                                    carrier):
    url = reverse("admin:billing_order_refund", args=[renewal.pk])
    page = agent_client.get(url).content.decode()
    assert renewal.number in page and "US$18.00" in page
    assert agent_client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert not CreditNote.objects.exists()

    agent_client.post(url, {"reason": "Customer bought the wrong plan"})
    renewal.refresh_from_db()
    assert renewal.status == Order.Status.REFUNDED and renewal.refunded_at
    note = CreditNote.objects.get()
    assert note.receipt == renewal.receipt and note.total_minor == 1800
    assert note.reason == "Customer bought the wrong plan"
    assert SimulatedCharge.objects.get(reference=renewal.payments.get().gateway_reference
                                       ).status == "refunded"
    bundle = Bundle.objects.get(order=renewal)
    assert bundle.state == Bundle.State.REVOKED
    at_carrier = carrier.app.test_client().get(
        f"/api/v1/esims/{renewal.esim.iccid}/bundles", headers={"X-API-Key": carrier.api_key}
    ).json["bundles"]
    assert {b["reference"]: b["state"] for b in at_carrier}[renewal.number] == "revoked"
    action = StaffAction.objects.get()
    assert (action.actor, action.kind, action.order, action.outcome) == (
        agent_client.agent, "refund", renewal, note.number)

    # Refunding again changes nothing and moves no money.
    agent_client.post(url, {"reason": "again"})
    assert CreditNote.objects.count() == 1 and StaffAction.objects.count() == 1


@pytest.fixture
def new_esim_order(alice, alice_client, carrier, plans, django_capture_on_commit_callbacks):
    """A new eSIM bought and paid, its profile released at the carrier, not installed."""
    from tests.factories import OrderFactory

    order = OrderFactory(customer=alice, plan=plans["week"])
    order = pay_and_activate(alice_client, order.number, django_capture_on_commit_callbacks)
    assert order.status == Order.Status.COMPLETED
    assert order.esim.state == ESim.State.READY
    return order


def profile_at_carrier(carrier, iccid):
    return carrier.app.test_client().get(f"/api/v1/esims/{iccid}",
                                         headers={"X-API-Key": carrier.api_key}).json


def test_refunding_a_new_esim_no_device_has_withdraws_its_profile(agent_client, carrier,
                                                                  new_esim_order):
    url = reverse("admin:billing_order_refund", args=[new_esim_order.pk])
    for _ in range(2):
        agent_client.post(url, {"reason": "Bought by mistake"})
    esim = ESim.objects.get(pk=new_esim_order.esim_id)
    assert esim.state == ESim.State.CANCELLED  # off the dashboard, nothing to install
    assert profile_at_carrier(carrier, esim.iccid)["profile_state"] == "Available"  # reusable
    assert Order.objects.get(pk=new_esim_order.pk).status == Order.Status.REFUNDED
    assert CreditNote.objects.count() == 1


def test_refunding_a_new_esim_already_on_a_device_leaves_the_profile(agent_client, carrier,
                                                                     new_esim_order):
    carrier.download(new_esim_order.esim.iccid)  # installed before the report reached us
    agent_client.post(reverse("admin:billing_order_refund", args=[new_esim_order.pk]),
                      {"reason": "Plan not wanted"})
    esim = ESim.objects.get(pk=new_esim_order.esim_id)
    assert esim.state != ESim.State.CANCELLED
    assert profile_at_carrier(carrier, esim.iccid)["profile_state"] == "Installed"
    assert Bundle.objects.get(order=new_esim_order).state == Bundle.State.REVOKED
    assert Order.objects.get(pk=new_esim_order.pk).status == Order.Status.REFUNDED


def test_an_unpaid_order_cannot_be_refunded(agent_client, alice):
    from tests.factories import OrderFactory

    order = OrderFactory(customer=alice)
    response = agent_client.post(reverse("admin:billing_order_refund", args=[order.pk]),
                                 {"reason": "test"}, follow=True)
    assert "never paid" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_retry_a_failed_activation(agent_client, alice, carrier, settings,
                                   django_capture_on_commit_callbacks):
    from billing import tasks
    from tests.factories import paid_new_esim_order

    order = paid_new_esim_order(alice)
    settings.CARRIER_API_KEY = "wrong"
    tasks.order_activate.delay(order.pk)
    assert Order.objects.get(pk=order.pk).status == Order.Status.FAILED
    settings.CARRIER_API_KEY = carrier.api_key
    url = reverse("admin:billing_order_retry", args=[order.pk])
    page = agent_client.get(url).content.decode()
    assert 'name="reason"' in page and Order.objects.get(pk=order.pk).status == "failed"
    assert agent_client.post(url, {"reason": "", "since": 0}).status_code == 200  # needed
    assert Order.objects.get(pk=order.pk).status == Order.Status.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):  # a double click retries once
            agent_client.post(url, {"reason": "Carrier fixed the key", "since": 0})
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED and order.failure_reason == ""
    action = StaffAction.objects.get()
    assert (action.kind, action.note, action.order) == (
        "retry_activation", "Carrier fixed the key", order)


@pytest.fixture
def support_client():
    """A support agent who may see and change eSIMs in admin, and nothing more."""
    from django.contrib.auth.models import Permission
    from django.test import Client

    client = Client()
    client.agent = UserFactory(email="support@example.com", is_staff=True)
    client.agent.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="esims", codename__in=["view_esim", "change_esim"]))
    client.force_login(client.agent)
    return client


def switch_off_in_admin(client, esims, reason="Customer asked on the phone", **extra):
    return client.post(reverse("admin:esims_esim_changelist"), {
        "action": "switch_auto_renew_off", "_selected_action": [e.pk for e in esims],
        "apply": "1", "reason": reason}, **extra)


def test_switch_auto_renew_off_is_recorded(agent_client, alice):
    on, off = ESimFactory(owner=alice, auto_renew=True), ESimFactory(owner=alice)
    switch_off_in_admin(agent_client, [on, off])
    assert not ESim.objects.filter(auto_renew=True).exists()
    assert list(StaffAction.objects.values_list("kind", "esim")) == [("auto_renew_off", on.pk)]


def esim_fields(esim):
    esim = ESim.objects.get(pk=esim.pk)
    return {f.attname: getattr(esim, f.attname) for f in ESim._meta.concrete_fields
            if f.attname != "updated_at"}


def changes(before, after):
    return {name: value for name, value in after.items() if before[name] != value}


def test_staff_switch_off_leaves_the_esim_as_the_customers_own_does(
        support_client, alice_client, alice):
    from datetime import timedelta

    from tests.factories import auto_renewing_esim

    # Two eSIMs alike: a renewal and its notice scheduled, the last payment failed.
    by_customer, by_staff = (auto_renewing_esim(alice, ends_in=timedelta(days=3))
                             for _ in range(2))
    ESim.objects.update(renewal_attention=ESim.RenewalAttention.PAYMENT_FAILED)
    before = {esim.pk: esim_fields(esim) for esim in (by_customer, by_staff)}
    assert all(f["renew_at"] and f["renewal_notice_at"] and f["auto_renew"]
               for f in before.values())

    alice_client.post(reverse("renewals:off", args=[by_customer.pk]))
    page = support_client.post(reverse("admin:esims_esim_changelist"), {
        "action": "switch_auto_renew_off", "_selected_action": [by_staff.pk]})
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert ESim.objects.get(pk=by_staff.pk).auto_renew  # nothing done before confirming
    response = switch_off_in_admin(support_client, [by_staff], follow=True)

    customers = changes(before[by_customer.pk], esim_fields(by_customer))
    assert customers == {"auto_renew": False, "renew_at": None, "renewal_notice_at": None,
                         "renewal_attention": ""}
    assert changes(before[by_staff.pk], esim_fields(by_staff)) == customers
    action = StaffAction.objects.get()
    assert (action.actor, action.kind, action.esim_id, action.note) == (
        support_client.agent, "auto_renew_off", by_staff.pk, "Customer asked on the phone")
    assert "Auto-renewal switched off on 1 eSIM." in response.content.decode()


def test_staff_switch_off_needs_a_reason(support_client, alice):
    esim = ESimFactory(owner=alice, auto_renew=True)
    response = switch_off_in_admin(support_client, [esim], reason="")
    assert response.status_code == 200 and 'name="reason"' in response.content.decode()
    assert ESim.objects.get(pk=esim.pk).auto_renew
    assert not StaffAction.objects.exists()


def test_staff_switch_off_is_undone_when_it_cannot_be_recorded(support_client, alice,
                                                               monkeypatch):
    from datetime import timedelta

    from support import services as support_services
    from tests.factories import auto_renewing_esim

    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    before = esim_fields(esim)

    def broken(**kwargs):
        raise RuntimeError("the staff action could not be written")

    monkeypatch.setattr(support_services, "staff_action_record", broken)
    with pytest.raises(RuntimeError):
        switch_off_in_admin(support_client, [esim])
    assert esim_fields(esim) == before  # auto-renewal still on, still scheduled
    assert not StaffAction.objects.exists()


def test_esim_page_shows_orders_payments_receipts_and_credit_notes(agent_client, renewal):
    page = agent_client.get(reverse("admin:esims_esim_change", args=[renewal.esim_id]))
    content = page.content.decode()
    assert renewal.number in content and renewal.receipt.number in content
    assert "simulated Succeeded" in content


def test_customers_cannot_refund(alice_client, renewal):
    response = alice_client.post(reverse("admin:billing_order_refund", args=[renewal.pk]),
                                 {"reason": "free money"})
    assert response.status_code == 302 and "login" in response["Location"]
    assert Order.objects.get(pk=renewal.pk).status == Order.Status.COMPLETED


def test_the_customer_sees_and_downloads_the_credit_note(agent_client, alice_client, renewal,
                                                          bob):
    agent_client.post(reverse("admin:billing_order_refund", args=[renewal.pk]),
                      {"reason": "Wrong plan"})
    note = CreditNote.objects.get()
    listing = alice_client.get(reverse("billing:receipts")).content.decode()
    assert note.number in listing and "Refunded on" in listing
    pdf = alice_client.get(reverse("billing:credit_note_pdf", args=[note.number])).content
    assert pdf.startswith(b"%PDF") and note.number.encode() in pdf
    assert renewal.receipt.number.encode() in pdf and b"Wrong plan" in pdf
    alice_client.force_login(bob)
    assert alice_client.get(reverse("billing:credit_note_pdf",
                                    args=[note.number])).status_code == 404


# --- The support desk's actions on an eSIM, by an agent who is not a superuser --------

@pytest.fixture
def desk_client():
    """A support agent with view and change on eSIMs, orders and tickets, and view on
    customers: what the actions need, and nothing more."""
    from django.contrib.auth.models import Permission
    from django.test import Client

    client = Client()
    client.agent = UserFactory(email="desk@example.com", is_staff=True)
    client.agent.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_esim", "change_esim", "view_order", "change_order",
                      "view_ticket", "change_ticket", "view_user"]))
    client.force_login(client.agent)
    return client


def bundle_at_carrier(carrier, reference):
    iccid = Bundle.objects.get(carrier_reference=reference).esim.iccid
    bundles = carrier.app.test_client().get(f"/api/v1/esims/{iccid}/bundles", headers={
        "X-API-Key": carrier.api_key}).json["bundles"]
    return {bundle["reference"]: bundle for bundle in bundles}[reference]


def carrier_end(carrier, bundle):
    from datetime import datetime

    return datetime.fromisoformat(bundle_at_carrier(carrier, bundle.carrier_reference)["end"]
                                  .replace("Z", "+00:00"))


@pytest.fixture
def running(installed_esim):
    """Alice's installed eSIM, its week plan running, auto-renewal on."""
    from esims.services import esim_renewal_schedule

    ESim.objects.filter(pk=installed_esim.pk).update(auto_renew=True,
                                                     renewal_plan=installed_esim.orders.get().plan)
    esim_renewal_schedule(esim_id=installed_esim.pk)
    return ESim.objects.get(pk=installed_esim.pk)


def extend(client, esim, days=5, reason="Network outage in Kyoto", since=0, **extra):
    return client.post(reverse("admin:esims_esim_extend", args=[esim.pk]),
                       {"days": days, "reason": reason, "since": since}, **extra)


def test_extend_moves_the_end_at_the_carrier_and_here_once(desk_client, carrier, running,
                                                          settings):
    from datetime import timedelta

    bundle = Bundle.objects.get(esim=running)
    end, renew_at, reminder = bundle.ends_at, running.renew_at, running.reminder_due_at
    page = desk_client.get(reverse("admin:esims_esim_extend", args=[running.pk]))
    assert page.status_code == 200 and 'name="days"' in page.content.decode()

    first = extend(desk_client, running, follow=True)
    second = extend(desk_client, running, follow=True)  # the same form, sent again
    assert "Extended by 5 days" in first.content.decode()
    assert "Done already since this form was opened" in second.content.decode()

    bundle.refresh_from_db()
    assert bundle.ends_at == end + timedelta(days=5)
    assert carrier_end(carrier, bundle) == bundle.ends_at
    esim = ESim.objects.get(pk=running.pk)
    assert esim.renew_at == renew_at + timedelta(days=5)  # the auto-renewal charge follows
    # The expiry reminders follow the new end (a "7 days left" now fits in the plan).
    assert reminder is not None and esim.reminder_due_at != reminder
    assert esim.reminder_due_at in {bundle.ends_at - timedelta(days=days)
                                    for days in settings.REMINDER_DAYS}
    action = StaffAction.objects.get()
    assert (action.actor, action.kind, action.esim, action.note) == (
        desk_client.agent, "extend_validity", running, "Network outage in Kyoto")
    assert action.order == bundle.order and "+5 d" in action.outcome

    # A new form (it names the extension just made) extends again.
    since = action.pk
    extend(desk_client, running, days=2, since=since)
    bundle.refresh_from_db()
    assert bundle.ends_at == end + timedelta(days=7) == carrier_end(carrier, bundle)
    assert StaffAction.objects.count() == 2


@pytest.mark.parametrize("fields", [
    {"days": 0}, {"days": 91}, {"days": -1}, {"days": "five"}, {"days": ""},
    {"reason": ""}, {"reason": "   "}, {"reason": "x" * 256}, {"since": ""}, {"since": -3},
    {"since": "abc"},
])
def test_extend_refuses_what_is_malformed_and_changes_nothing(desk_client, carrier, running,
                                                              fields):
    bundle = Bundle.objects.get(esim=running)
    data = {"days": 5, "reason": "Outage", "since": 0, **fields}
    response = desk_client.post(reverse("admin:esims_esim_extend", args=[running.pk]), data)
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert Bundle.objects.get(pk=bundle.pk).ends_at == bundle.ends_at
    assert carrier_end(carrier, bundle) == bundle.ends_at
    assert not StaffAction.objects.exists()


def test_extend_when_the_carrier_is_down_says_so_and_the_same_form_can_be_sent_again(
        desk_client, carrier, running, settings):
    from datetime import timedelta

    bundle = Bundle.objects.get(esim=running)
    settings.CARRIER_URL = "http://127.0.0.1:9"  # nobody listens
    response = extend(desk_client, running)
    assert response.status_code == 200
    assert "The carrier did not do it" in response.content.decode()
    assert Bundle.objects.get(pk=bundle.pk).ends_at == bundle.ends_at
    assert not StaffAction.objects.exists()

    settings.CARRIER_URL = carrier.url
    extend(desk_client, running)
    assert Bundle.objects.get(pk=bundle.pk).ends_at == bundle.ends_at + timedelta(days=5)


def test_extend_cut_short_after_the_carrier_is_finished_by_sending_the_form_again(
        desk_client, carrier, running, monkeypatch):
    """The carrier extended, then recording failed here (nothing committed): sending the
    same form again names the same extension, which the carrier does not make twice."""
    from datetime import timedelta

    from support import services as support_services

    bundle = Bundle.objects.get(esim=running)
    record = support_services.staff_action_record

    def broken(**kwargs):
        raise RuntimeError("the staff action could not be written")

    monkeypatch.setattr(support_services, "staff_action_record", broken)
    with pytest.raises(RuntimeError):
        extend(desk_client, running)
    assert Bundle.objects.get(pk=bundle.pk).ends_at == bundle.ends_at  # rolled back here
    assert carrier_end(carrier, bundle) == bundle.ends_at + timedelta(days=5)

    monkeypatch.setattr(support_services, "staff_action_record", record)
    extend(desk_client, running)
    bundle.refresh_from_db()
    assert bundle.ends_at == carrier_end(carrier, bundle)
    assert carrier_end(carrier, bundle) == Bundle.objects.get(pk=bundle.pk).ends_at
    assert StaffAction.objects.count() == 1


def test_extend_without_a_running_plan_is_refused(desk_client, alice):
    esim = ESimFactory(owner=alice, state=ESim.State.READY)
    response = extend(desk_client, esim, follow=True)
    assert "No plan is running on this eSIM" in response.content.decode()
    assert not StaffAction.objects.exists()


def profile_suspended(carrier, esim):
    return profile_at_carrier(carrier, esim.iccid)["suspended"]


def test_suspend_and_resume_at_the_carrier(desk_client, carrier, running):
    suspend_url = reverse("admin:esims_esim_suspend", args=[running.pk])
    resume_url = reverse("admin:esims_esim_resume", args=[running.pk])
    assert 'name="reason"' in desk_client.get(suspend_url).content.decode()
    assert desk_client.post(suspend_url, {"reason": ""}).status_code == 200  # needs a reason
    assert not profile_suspended(carrier, running)

    first = desk_client.post(suspend_url, {"reason": "Phone stolen"}, follow=True)
    again = desk_client.post(suspend_url, {"reason": "Phone stolen"}, follow=True)
    assert "Suspended at the carrier" in first.content.decode()
    assert "Not done: the eSIM is Suspended now." in again.content.decode()
    assert ESim.objects.get(pk=running.pk).state == ESim.State.SUSPENDED
    assert profile_suspended(carrier, running)
    assert running.renew_at is not None
    assert ESim.objects.get(pk=running.pk).renew_at is None  # no charge while suspended

    response = desk_client.post(resume_url, {"reason": "Phone found"}, follow=True)
    assert "the eSIM is Installed again" in response.content.decode()
    assert ESim.objects.get(pk=running.pk).state == ESim.State.INSTALLED
    assert not profile_suspended(carrier, running)
    assert ESim.objects.get(pk=running.pk).renew_at == running.renew_at  # scheduled again
    assert list(StaffAction.objects.order_by("pk").values_list("kind", "note", "actor")) == [
        ("suspend", "Phone stolen", desk_client.agent.pk),
        ("resume", "Phone found", desk_client.agent.pk)]


def test_a_suspension_that_cannot_be_recorded_is_undone_at_the_carrier(
        desk_client, carrier, running, monkeypatch):
    from support import services as support_services

    def broken(**kwargs):
        raise RuntimeError("the staff action could not be written")

    monkeypatch.setattr(support_services, "staff_action_record", broken)
    with pytest.raises(RuntimeError):
        desk_client.post(reverse("admin:esims_esim_suspend", args=[running.pk]),
                         {"reason": "Phone stolen"})
    assert ESim.objects.get(pk=running.pk).state == ESim.State.INSTALLED
    assert not profile_suspended(carrier, running)  # both sides agree: not suspended


def test_resend_install_instructions_sends_a_new_copy_once_per_form(
        desk_client, new_esim_order, django_capture_on_commit_callbacks, mailoutbox):
    from notifications.models import Notification

    esim = new_esim_order.esim
    ready = Notification.objects.get(kind="esim_ready")
    assert ready.status == Notification.Status.SENT  # the first one went out
    mailoutbox.clear()
    url = reverse("admin:esims_esim_resend_install", args=[esim.pk])
    with django_capture_on_commit_callbacks(execute=True):
        first = desk_client.post(url, {"reason": "Customer lost the email", "since": 0},
                                 follow=True)
        again = desk_client.post(url, {"reason": "Customer lost the email", "since": 0},
                                 follow=True)
    assert "go out again to alice@example.com" in first.content.decode()
    assert "Done already" in again.content.decode()
    assert len(mailoutbox) == 1
    copy = mailoutbox[0]
    assert copy.to == ["alice@example.com"] and "ready to install" in copy.subject
    assert reverse("esims:install", args=[esim.pk]) in copy.body
    assert "My phone" in copy.subject  # the order's nickname, as in the first message
    action = StaffAction.objects.get()
    assert (action.kind, action.esim, action.note) == (
        "resend_install", esim, "Customer lost the email")

    # Asked again with a new form: another copy.
    with django_capture_on_commit_callbacks(execute=True):
        desk_client.post(url, {"reason": "Still not found", "since": action.pk})
    assert len(mailoutbox) == 2
    assert Notification.objects.filter(kind="esim_ready").count() == 3


def test_resend_install_instructions_of_an_installed_esim_is_refused(desk_client, running):
    response = desk_client.post(reverse("admin:esims_esim_resend_install", args=[running.pk]),
                                {"reason": "why not", "since": 0}, follow=True)
    assert "not waiting to be installed" in response.content.decode()
    assert not StaffAction.objects.exists()


def test_switch_auto_renewal_off_on_one_esim_with_a_reason(desk_client, running):
    url = reverse("admin:esims_esim_auto_renew_off", args=[running.pk])
    for _ in range(2):
        response = desk_client.post(url, {"reason": "Asked on the phone"}, follow=True)
    assert "Auto-renewal was off already" in response.content.decode()
    assert not ESim.objects.get(pk=running.pk).auto_renew
    assert StaffAction.objects.get().kind == "auto_renew_off"


def test_actions_go_back_to_the_story_they_were_started_from(desk_client, running):
    story = reverse("admin:esims_customer_story", args=[running.owner_id])
    page = desk_client.get(story).content.decode()
    suspend = reverse("admin:esims_esim_suspend", args=[running.pk])
    assert suspend in page
    form = desk_client.get(suspend, {"next": story}).content.decode()
    assert f'name="next" value="{story}"' in form
    response = desk_client.post(suspend, {"reason": "Lost", "next": story})
    assert response.status_code == 302 and response["Location"] == story
    response = desk_client.post(reverse("admin:esims_esim_resume", args=[running.pk]),
                                {"reason": "Found", "next": "https://evil.example/"})
    assert response["Location"] == reverse("admin:esims_esim_change", args=[running.pk])


def test_an_agent_without_the_change_right_cannot_act(client, running, alice):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(email="viewer@example.com", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_esim", "view_order", "view_ticket", "view_user"]))
    client.force_login(viewer)
    from support.models import Ticket

    ticket = Ticket.objects.create(customer=alice, subject="Help")
    order = running.orders.get()
    for url, data in (
            (reverse("admin:esims_esim_extend", args=[running.pk]),
             {"days": 5, "reason": "x", "since": 0}),
            (reverse("admin:esims_esim_suspend", args=[running.pk]), {"reason": "x"}),
            (reverse("admin:esims_esim_resend_install", args=[running.pk]),
             {"reason": "x", "since": 0}),
            (reverse("admin:esims_esim_auto_renew_off", args=[running.pk]), {"reason": "x"}),
            (reverse("admin:billing_order_refund", args=[order.pk]), {"reason": "x"}),
            (reverse("admin:billing_order_retry", args=[order.pk]), {"reason": "x", "since": 0}),
            (reverse("admin:support_ticket_reply", args=[ticket.pk]),
             {"body": "hi", "reason": "x", "since_message": 0})):
        assert client.get(url).status_code == 403, url
        assert client.post(url, data).status_code == 403, url
    assert not StaffAction.objects.exists()
    assert ESim.objects.get(pk=running.pk).auto_renew
    # What they may see, they see, without the action links.
    page = client.get(reverse("admin:esims_esim_story", args=[running.pk])).content.decode()
    assert reverse("admin:esims_esim_extend", args=[running.pk]) not in page


def test_actions_need_the_csrf_token(running):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(email="boss@example.com", is_staff=True, is_superuser=True))
    response = client.post(reverse("admin:esims_esim_suspend", args=[running.pk]),
                           {"reason": "Lost"})
    assert response.status_code == 403
    assert ESim.objects.get(pk=running.pk).state == ESim.State.INSTALLED


def test_reply_to_a_ticket_is_recorded_with_its_reason_once(desk_client, alice,
                                                            django_capture_on_commit_callbacks,
                                                            mailoutbox):
    from support.models import Ticket
    from support.services import ticket_open, ticket_reply

    ticket = ticket_open(customer=alice, subject="No data", body="Nothing works.")
    url = reverse("admin:support_ticket_reply", args=[ticket.pk])
    page = desk_client.get(url).content.decode()
    assert "Nothing works." in page and 'name="reason"' in page
    since = ticket.messages.get().pk
    data = {"body": "Please restart the phone.", "reason": "First answer",
            "since_message": since}
    with django_capture_on_commit_callbacks(execute=True):
        first = desk_client.post(url, data, follow=True)
        again = desk_client.post(url, data, follow=True)
    assert "Reply sent to alice@example.com." in first.content.decode()
    assert "Answered already since this form was opened" in again.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ANSWERED
    assert ticket.messages.filter(from_staff=True).count() == 1
    assert len(mailoutbox) == 1
    action = StaffAction.objects.get()
    assert (action.kind, action.ticket, action.note, action.actor) == (
        "ticket_reply", ticket, "First answer", desk_client.agent)

    # The customer wrote since the agent opened the form: nothing is sent.
    latest = ticket.messages.order_by("-pk").first().pk
    ticket_reply(ticket=ticket, author=alice, body="Still nothing.", from_staff=False)
    response = desk_client.post(url, {"body": "Try again", "reason": "r",
                                      "since_message": latest}, follow=True)
    assert "The customer wrote again since this form was opened" in response.content.decode()
    assert ticket.messages.filter(from_staff=True).count() == 1
    assert desk_client.post(url, {"body": "", "reason": "r",
                                  "since_message": latest}).status_code == 200
