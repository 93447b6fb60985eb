"""The forms of support's actions in the admin: each asks why (recorded with the action,
support/staff.py) and carries what the agent saw when it was shown, so that the same
form sent twice acts once."""

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from esims.services import EXTEND_DAYS_MAX


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason (recorded)"), max_length=255, strip=True)


class GuardedReasonForm(ReasonForm):
    """For an action that could be done twice: the form names the latest action of its
    kind on the object when it was shown (support.staff.staff_action_latest)."""

    since = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


# Formatted when shown, in the agent's language (a class attribute is built once).
_extend_help = lazy(lambda: gettext("1 to %(max)s days, added to the end of the plan "
                                    "running now.") % {"max": EXTEND_DAYS_MAX}, str)


class ExtendForm(GuardedReasonForm):
    days = forms.IntegerField(label=_("Days to add"), min_value=1, max_value=EXTEND_DAYS_MAX,
                              help_text=_extend_help())
    field_order = ["days", "reason", "since"]


class TicketReplyForm(forms.Form):
    body = forms.CharField(label=_("Reply to the customer"), max_length=5000, strip=True,
                           widget=forms.Textarea(attrs={"rows": 8}))
    reason = forms.CharField(label=_("Reason (recorded, not shown to the customer)"),
                             max_length=255, strip=True)
    # The latest message on the ticket when the form was shown.
    since_message = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
