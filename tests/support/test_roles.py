"""Staff roles (support/roles.py): a support agent reaches customers, orders, eSIMs and
tickets and nothing of the catalogue, permissions or schedules; a catalogue manager edits
plans and sees no customer; `manage.py support_roles` sets both up, and again changes
nothing; the demo support login is an agent."""

from io import StringIO
from typing import cast

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from accounts.models import User
from portal.management.commands.loaddemo import STAFF_EMAIL, STAFF_PASSWORD
from support import services as support_services
from support.roles import CATALOGUE_MANAGER, ROLES, SUPPORT_AGENT, roles_sync
from tests.factories import BundleFactory, PlanFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests/factories.py


def signed_in(email: str, *roles: str, **flags) -> tuple[Client, User]:
    """A staff member in `roles`, signed in through allauth as staff are."""
    roles_sync()
    user = cast(User, UserFactory(email=email, is_staff=True, **flags))
    user.groups.set(Group.objects.filter(name__in=roles))
    client = Client()
    response = client.post(reverse("account_login") + "?next=/staff/",
                           {"login": email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/staff/"
    return client, user


@pytest.fixture
def agent():
    return signed_in("agent@example.com", SUPPORT_AGENT)


@pytest.fixture
def manager():
    return signed_in("catalogue@example.com", CATALOGUE_MANAGER)


def _perms(name: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in
            Group.objects.get(name=name).permissions.select_related("content_type")}


def test_the_command_sets_up_both_roles_and_a_second_run_changes_nothing():
    out = StringIO()
    call_command("support_roles", stdout=out)
    assert "Support agent: created" in out.getvalue()
    assert {name: _perms(name) for name in ROLES} == {
        name: set(perms) for name, perms in ROLES.items()}

    again = StringIO()
    call_command("support_roles", stdout=again)
    assert again.getvalue().strip() == ("Roles Support agent, Catalogue manager: "
                                        "already up to date.")
    assert {name: _perms(name) for name in ROLES} == {
        name: set(perms) for name, perms in ROLES.items()}

    # A permission added to a role's group by hand is taken away again, and said so.
    group = Group.objects.get(name=SUPPORT_AGENT)
    group.permissions.add(Permission.objects.get(codename="change_plan"))
    fixed = StringIO()
    call_command("support_roles", stdout=fixed)
    assert "Support agent: may no longer plans.change_plan" in fixed.getvalue()
    assert "plans.change_plan" not in _perms(SUPPORT_AGENT)


@pytest.mark.parametrize("url", [
    "/staff/plans/plan/", "/staff/plans/plan/add/",
    "/staff/auth/group/", "/staff/auth/group/add/",
    "/staff/django_celery_beat/periodictask/", "/staff/django_celery_beat/periodictask/add/",
    "/staff/django_celery_beat/intervalschedule/", "/staff/django_celery_beat/crontabschedule/",
])
def test_an_agent_cannot_reach_the_catalogue_permissions_or_schedules(agent, url):
    client, _user = agent
    assert client.get(url).status_code == 403


def test_an_agent_cannot_open_or_change_a_plan_group_or_schedule(agent):
    client, _user = agent
    plan = PlanFactory(name="Japan 7 days")
    group = Group.objects.get(name=SUPPORT_AGENT)
    task = PeriodicTask.objects.first()
    assert task is not None  # the sweeps' schedule rows (portal/schedules.py)
    for url in (reverse("admin:plans_plan_change", args=[plan.pk]),
                reverse("admin:auth_group_change", args=[group.pk]),
                reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])):
        assert client.get(url).status_code == 403, url
    response = client.post(reverse("admin:plans_plan_change", args=[plan.pk]),
                           {"name_en": "Cheap", "code": plan.code})
    assert response.status_code == 403
    response = client.post(reverse("admin:auth_group_change", args=[group.pk]),
                           {"name": SUPPORT_AGENT, "permissions": list(
                               Permission.objects.values_list("pk", flat=True))})
    assert response.status_code == 403
    assert _perms(SUPPORT_AGENT) == set(ROLES[SUPPORT_AGENT])
    content = client.get("/staff/").content.decode()
    assert "/staff/plans/" not in content and "/staff/auth/group/" not in content
    assert "/staff/django_celery_beat/" not in content


def test_an_agent_opens_customers_orders_esims_bundles_and_tickets(agent, alice):
    client, _user = agent
    bundle = BundleFactory(esim__owner=alice)
    ticket = support_services.ticket_open(customer=alice, subject="Help", body="Please")
    for name, obj in (("accounts_user", alice), ("billing_order", bundle.order),
                      ("esims_esim", bundle.esim), ("esims_bundle", bundle),
                      ("support_ticket", ticket)):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
        assert client.get(reverse(f"admin:{name}_change", args=[obj.pk])).status_code == 200
    for name in ("billing_payment", "billing_receipt", "billing_creditnote",
                 "notifications_notification", "support_staffaction", "auditlog_logentry"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name


def test_an_agent_cannot_make_themselves_a_superuser(agent):
    client, user = agent
    url = reverse("admin:accounts_user_change", args=[user.pk])
    page = client.get(url)
    assert page.status_code == 200  # they may read it
    content = page.content.decode()
    assert 'name="is_superuser"' not in content and "pbkdf2" not in content
    response = client.post(url, {"email": user.email, "is_staff": "on",
                                 "is_superuser": "on", "is_active": "on",
                                 "groups": list(Group.objects.values_list("pk", flat=True))})
    assert response.status_code == 403
    user.refresh_from_db()
    assert not user.is_superuser
    assert set(user.groups.values_list("name", flat=True)) == {SUPPORT_AGENT}
    password = reverse("admin:auth_user_password_change", args=[user.pk])
    assert client.post(password, {"password1": "x-New-pass-42", "password2": "x-New-pass-42",
                                  "usable_password": "true"}).status_code == 403


def test_with_change_user_a_non_superuser_edits_profiles_but_never_privileges(alice):
    """Whoever is given 'change user' besides the agent's rights: the privilege fields
    are read-only, staff accounts and passwords out of reach."""
    client, user = signed_in("lead@example.com", SUPPORT_AGENT)
    user.user_permissions.add(Permission.objects.get(codename="change_user"))
    url = reverse("admin:accounts_user_change", args=[alice.pk])
    content = client.get(url).content.decode()
    assert 'name="phone"' in content
    for field in ("is_staff", "is_superuser", "groups", "user_permissions", "password"):
        assert f'name="{field}"' not in content, field
    response = client.post(url, {
        "email": alice.email, "first_name": "Alice", "last_name": "", "phone": "+8613800138000",
        "language": alice.language, "time_zone": alice.time_zone, "currency": alice.currency,
        "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "groups": list(Group.objects.values_list("pk", flat=True)),
        "user_permissions": list(Permission.objects.values_list("pk", flat=True)[:5])})
    assert response.status_code == 302, response.content.decode()[:2000]
    alice.refresh_from_db()
    assert alice.phone == "+8613800138000"
    assert not (alice.is_staff or alice.is_superuser)
    assert not alice.groups.exists() and not alice.user_permissions.exists()

    # Their own account, and any other staff account, stay read-only to them.
    own = reverse("admin:accounts_user_change", args=[user.pk])
    assert client.post(own, {"email": user.email, "is_superuser": "on"}).status_code == 403
    user.refresh_from_db()
    assert not user.is_superuser
    password = reverse("admin:auth_user_password_change", args=[alice.pk])
    assert client.get(password).status_code == 403


def test_a_catalogue_manager_edits_plans_and_sees_no_customer(manager, alice):
    client, _user = manager
    plan = PlanFactory()
    assert client.get(reverse("admin:plans_plan_changelist")).status_code == 200
    assert client.get(reverse("admin:plans_plan_change", args=[plan.pk])).status_code == 200
    assert client.get(reverse("admin:plans_plan_add")).status_code == 200
    assert client.get(reverse("admin:plans_plan_delete", args=[plan.pk])).status_code == 403
    bundle = BundleFactory(esim__owner=alice)
    for name, obj in (("accounts_user", alice), ("billing_order", bundle.order),
                      ("esims_esim", bundle.esim), ("billing_payment", None),
                      ("notifications_notification", None), ("support_ticket", None),
                      ("auditlog_logentry", None)):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 403, name
        if obj is not None:
            assert client.get(reverse(f"admin:{name}_change",
                                      args=[obj.pk])).status_code == 403, name
    assert "alice@example.com" not in client.get("/staff/").content.decode()


def test_the_demo_support_login_is_an_agent_not_a_superuser(client):
    for _ in range(2):
        call_command("loaddemo", stdout=StringIO())
    support = User.objects.get(email=STAFF_EMAIL)
    assert support.is_staff and not support.is_superuser
    assert list(support.groups.values_list("name", flat=True)) == [SUPPORT_AGENT]
    response = client.post(reverse("account_login") + "?next=/staff/",
                           {"login": STAFF_EMAIL, "password": STAFF_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/staff/"
    assert client.get(reverse("admin:billing_order_changelist")).status_code == 200
    assert client.get(reverse("admin:plans_plan_changelist")).status_code == 403


def test_a_demo_support_login_made_superuser_before_is_made_an_agent(client):
    User.objects.create_user(email=STAFF_EMAIL, password=STAFF_PASSWORD, is_staff=True,
                             is_superuser=True)
    call_command("loaddemo", stdout=StringIO())
    support = User.objects.get(email=STAFF_EMAIL)
    assert support.is_staff and not support.is_superuser
    assert support.groups.filter(name=SUPPORT_AGENT).exists()
