from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import User


def currency_choices():
    return [(code, code) for code in settings.PORTAL_CURRENCIES]


class PreferencesForm(forms.ModelForm):
    currency = forms.ChoiceField(label=_("Currency"), choices=currency_choices)

    class Meta:
        model = User
        # The mobile number is set on the notifications page, where it is verified.
        fields = ["language", "time_zone", "currency"]


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    next = forms.CharField(required=False)
