from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import ValidityKind

DATA_CHOICES = [
    ("", _("Any amount of data")),
    ("small", _("Up to 3 GB")),
    ("medium", _("3 to 10 GB")),
    ("large", _("More than 10 GB")),
    ("unlimited", _("Unlimited")),
]


class CatalogueFilterForm(forms.Form):
    place = forms.CharField(label=_("Country or region"), required=False, max_length=80,
                            widget=forms.TextInput(attrs={
                                "list": "places", "autocomplete": "off",
                                "placeholder": _("e.g. Japan, Europe")}))
    validity = forms.ChoiceField(label=_("Validity"), required=False,
                                 choices=[("", _("Any validity")), *ValidityKind.choices])
    # The form's metaclass takes declared fields out of the class, so `form.data` stays
    # the submitted data; the stubs see this field overriding it.
    data = forms.ChoiceField(label=_("Data"), required=False, choices=DATA_CHOICES)  # type: ignore[assignment]  # field, not BaseForm.data
    currency = forms.CharField(required=False, max_length=3)


def _offered_currencies() -> list[tuple[str, str]]:
    # Called for each form rather than read at import, so that overridden settings apply.
    return [(code, code) for code in settings.PORTAL_CURRENCIES]


class CurrencyChoiceForm(forms.Form):
    """The currency switch: one of the currencies offered, and the page to go back to."""

    currency = forms.ChoiceField(choices=_offered_currencies)
    next = forms.CharField(required=False, max_length=2000)
