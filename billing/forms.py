import uuid

from django import forms
from django.utils.translation import gettext_lazy as _


class NewEsimOrderForm(forms.Form):
    nickname = forms.CharField(label=_("Name this device"), max_length=60, strip=True,
                               widget=forms.TextInput(attrs={
                                   "placeholder": _("e.g. My phone, Mum's iPad")}))
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", uuid.uuid4())
        super().__init__(*args, **kwargs)


class PlanOrderForm(forms.Form):
    """Order a chosen plan (renewal or top-up) for an existing eSIM."""

    plan = forms.SlugField(widget=forms.HiddenInput)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", uuid.uuid4())
        super().__init__(*args, **kwargs)


class SimulatedOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(widget=forms.RadioSelect, choices=[
        ("success", _("Pay successfully")),
        ("card_declined", _("Decline: card declined")),
        ("insufficient_funds", _("Decline: insufficient funds")),
        ("expired_card", _("Decline: expired card")),
        ("authenticate", _("Needs authentication (3-D Secure)")),
    ])


class SimulatedAuthenticationForm(forms.Form):
    outcome = forms.ChoiceField(choices=[
        ("success", _("Approve")),
        ("authentication_failed", _("Fail authentication")),
    ])


class SimulatedCardForm(forms.Form):
    behaviour = forms.ChoiceField(widget=forms.RadioSelect, choices=[
        ("success", _("A card that pays")),
        ("card_declined", _("A card that will be declined")),
        ("insufficient_funds", _("A card with insufficient funds")),
        ("expired_card", _("A card that will be expired by then")),
        ("authenticate", _("A card whose bank asks for 3-D Secure")),
    ])
