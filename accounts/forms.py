from django import forms
from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from . import services
from .models import User
from .time_zones import time_zone_choices_with, time_zone_normalise


def currency_choices():
    return [(code, code) for code in settings.PORTAL_CURRENCIES]


class PreferencesForm(forms.ModelForm):
    currency = forms.ChoiceField(label=_("Currency"), choices=currency_choices)
    # Grouped by region, each zone its offset and city in the page's language; the
    # value stays the IANA name (accounts/time_zones.py).
    time_zone = forms.ChoiceField(label=capfirst(User._meta.get_field("time_zone").verbose_name))

    class Meta:
        model = User
        # The mobile number is set on the notifications page, where it is verified.
        fields = ["language", "time_zone", "currency"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = time_zone_choices_with(self.instance.time_zone)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    next = forms.CharField(required=False)


class BrowserTimeZoneField(forms.CharField):
    """A time zone a script filled in: whatever arrives (nothing, a made-up name, a NUL
    byte, a megabyte) cleans to a real zone, UTC when it cannot be read. Never an error:
    the field is hidden, and the visitor could not fix it."""

    widget = forms.HiddenInput

    def clean(self, value) -> str:
        return time_zone_normalise(value)


class SignupTimeZoneForm(forms.Form):
    """What allauth's sign-up form adds (ACCOUNT_SIGNUP_FORM_CLASS): the browser's time
    zone, filled in by static/js/portal.js."""

    time_zone = BrowserTimeZoneField(required=False, widget=forms.HiddenInput(
        attrs={"data-browser-time-zone": ""}))

    def signup(self, request, user: User) -> None:
        services.customer_start_preferences(
            user=user, time_zone=self.cleaned_data.get("time_zone") or "UTC",
            language=getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE))


class CloseAccountForm(forms.Form):
    confirm = forms.BooleanField(label=_("I understand that closing my account cannot be "
                                         "undone."))
