"""What support's actions share: the refusals staff are shown, and the guard that makes
a form submitted twice act once.

Each action's form carries the id of the latest action of its kind on its object when
the form was shown (`staff_action_latest`). The service, holding the object's row lock,
refuses when a newer one exists (`staff_action_guard`): a double click, a second agent
on the same object or a reloaded POST finds the action done and does nothing again,
and an agent never acts on a state they have not seen. The action's record is written
in the same transaction as its change (`support.services.staff_action_record`), so the
guard and the record cannot disagree.
"""

from django.utils.translation import gettext as _

from .models import StaffAction


class ActionRefused(Exception):
    """A staff action that cannot be done as asked; the message is for the agent."""


class ActionDoneAlready(ActionRefused):
    """The action was taken on this object since the form was shown: nothing is done
    again."""


def staff_action_latest(*, kind: str, **target) -> int:
    """The id of the latest action of `kind` on the target (`esim=`, `order=`,
    `ticket=`), 0 when there is none: what an action's form carries."""
    return (StaffAction.objects.filter(kind=kind, **target).order_by("-pk")
            .values_list("pk", flat=True).first() or 0)


def staff_action_guard(*, kind: str, since: int, **target) -> None:
    """Raise ActionDoneAlready when an action of `kind` was recorded on the target after
    `since`. Call it holding the target's row lock, in the transaction that records the
    action."""
    newer = (StaffAction.objects.filter(kind=kind, pk__gt=since, **target)
             .select_related("actor").order_by("-pk").first())
    if newer is not None:
        raise ActionDoneAlready(
            _("Done already since this form was opened: %(action)s by %(actor)s. "
              "Nothing was done again.") % {"action": newer.get_kind_display(),
                                             "actor": newer.actor})
