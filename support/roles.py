"""The staff roles, as Django groups: what a support agent and a catalogue manager may do
in the admin. `manage.py support_roles` makes the groups match these lists (docs/support-desk.md).

A role is given to a person by putting their account in the group, with "staff status"
on and "superuser status" off: a superuser has every permission whatever their groups.

- **Support agent** reads customers and everything about them (eSIMs, bundles, orders,
  payments, saved cards, receipts, credit notes, messages, tickets, carrier events,
  staff actions, the audit trail), and acts where support acts: orders (refund, retry
  an activation), eSIMs (nickname, auto-renewal off, resend the install instructions,
  extend, suspend, resume), messages (resend) and tickets (reply, close). Nothing of
  the catalogue, of groups and permissions, of staff accounts or of the sweep
  schedules.
- **Catalogue manager** edits plans and their prices. A price may be removed (from the
  plan's page); a plan is never deleted (orders keep pointing at it): it is switched
  off with "active". Nothing of customers.
"""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

SUPPORT_AGENT = "Support agent"
CATALOGUE_MANAGER = "Catalogue manager"

ROLES: dict[str, tuple[str, ...]] = {
    SUPPORT_AGENT: (
        "accounts.view_user",
        "esims.view_esim", "esims.change_esim", "esims.view_bundle",
        "billing.view_order", "billing.change_order",
        "billing.view_payment", "billing.view_paymentmethod",
        "billing.view_receipt", "billing.view_creditnote",
        "notifications.view_notification", "notifications.change_notification",
        "notifications.view_deliveryattempt",
        "support.view_ticket", "support.change_ticket",
        "support.view_ticketmessage",
        "support.view_staffaction",
        "carrier.view_carrierevent",
        "auditlog.view_logentry",
    ),
    CATALOGUE_MANAGER: (
        "plans.view_plan", "plans.add_plan", "plans.change_plan",
        "plans.view_planprice", "plans.add_planprice", "plans.change_planprice",
        "plans.delete_planprice",
    ),
}


class RoleError(Exception):
    """A permission a role names does not exist (an app not migrated, a model renamed)."""


def _permissions(names: tuple[str, ...]) -> set[Permission]:
    wanted = {(app, codename) for app, _dot, codename in (n.partition(".") for n in names)}
    found = {(p.content_type.app_label, p.codename): p for p in Permission.objects.filter(
        codename__in=[codename for _app, codename in wanted]).select_related("content_type")}
    missing = sorted(f"{app}.{codename}" for app, codename in wanted
                     if (app, codename) not in found)
    if missing:
        raise RoleError(f"no such permission: {', '.join(missing)} (run migrate first)")
    return {found[key] for key in wanted}


@transaction.atomic
def roles_sync() -> list[str]:
    """Make each role's group exist with exactly its permissions: one added by hand is
    taken away (give it through another group). Returns what changed, one line per
    change; empty when nothing did, so running it again is harmless."""
    changes = []
    for name, names in ROLES.items():
        group, created = Group.objects.select_for_update().get_or_create(name=name)
        if created:
            changes.append(f"{name}: created")
        wanted = _permissions(names)
        current = set(group.permissions.select_related("content_type"))
        added, removed = wanted - current, current - wanted
        if added:
            group.permissions.add(*added)
            changes.append(f"{name}: may now {', '.join(sorted(_label(p) for p in added))}")
        if removed:
            group.permissions.remove(*removed)
            changes.append(f"{name}: may no longer "
                           f"{', '.join(sorted(_label(p) for p in removed))}")
    return changes


def _label(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def user_make_support_agent(*, user) -> None:
    """Staff, not a superuser, in the support agents' group (the demo support login)."""
    user.is_staff, user.is_superuser = True, False
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.add(Group.objects.get(name=SUPPORT_AGENT))
