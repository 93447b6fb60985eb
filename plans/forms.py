from django import forms
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
    data = forms.ChoiceField(label=_("Data"), required=False, choices=DATA_CHOICES)
    currency = forms.CharField(required=False, max_length=3)
