"""The notifications page's forms: each checks what a visitor sends and nothing else."""

import re

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from phonenumber_field.formfields import PhoneNumberField

from .kinds import SMS
from .phone import CODE_DIGITS
from .selectors import GridRow

# A customer's own data alerts per eSIM: a short list.
MAX_ALERT_PERCENTS = 5


def cell_name(kind: str, channel: str) -> str:
    return f"{kind}__{channel}"


class ChannelsForm(forms.Form):
    """A checkbox per (kind, channel) the kind goes out on. The SMS column is disabled
    until the number is verified: Django then ignores what is posted for it."""

    def __init__(self, *args, grid: list[GridRow], sms_choosable: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.grid = grid
        for row in grid:
            for cell in row.cells:
                if cell.offered:
                    self.fields[cell_name(row.kind, cell.channel)] = forms.BooleanField(
                        required=False, initial=cell.on, label=row.label,
                        disabled=cell.channel == SMS and not sms_choosable)

    def wanted(self) -> dict[tuple[str, str], bool]:
        """(kind, channel) -> on, for each checkbox that could be changed."""
        return {(row.kind, cell.channel): self.cleaned_data[cell_name(row.kind, cell.channel)]
                for row in self.grid for cell in row.cells
                if cell.offered and not self.fields[cell_name(row.kind, cell.channel)].disabled}


class AlertPercentsForm(forms.Form):
    """One eSIM's data alerts, as typed: "75, 90". Empty means the portal's own."""

    esim = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    percents = forms.CharField(
        label=_("Alert me when this share of data is used (%)"), required=False,
        max_length=60)

    def clean_percents(self) -> list[int] | None:
        text = self.cleaned_data["percents"].strip()
        if not text:
            return None
        # Chinese keyboards type the full-width comma, the enumeration comma and ％.
        text = text.replace("%", " ").replace("％", " ")
        parts = [part for part in re.split(r"[\s,;，、；]+", text) if part]
        if len(parts) > MAX_ALERT_PERCENTS:
            raise forms.ValidationError(ngettext_lazy(
                "At most %(n)d alert.", "At most %(n)d alerts.", MAX_ALERT_PERCENTS)
                % {"n": MAX_ALERT_PERCENTS})
        if not all(re.fullmatch(r"\d{1,2}", part) and 1 <= int(part) <= 99 for part in parts):
            raise forms.ValidationError(_(
                "Give whole percents from 1 to 99, separated by commas, such as 75, 90."))
        return sorted({int(part) for part in parts})


def percents_text(percents: list[int] | None) -> str:
    return ", ".join(str(p) for p in percents) if percents else ""


def default_percents_text() -> str:
    return percents_text(settings.DATA_ALERT_PERCENTS)


class PhoneForm(forms.Form):
    phone = PhoneNumberField(label=_("Mobile number"), max_length=32, help_text=_(
        "With country code, such as +44 7700 900123. We text you a code to check it."))


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"), regex=rf"^\s*\d{{{CODE_DIGITS}}}\s*$", max_length=12,
        error_messages={"invalid": _("The code is 6 digits.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code",
                                      "pattern": "[0-9]*"}))
