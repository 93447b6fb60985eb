from django import forms
from django.utils.translation import gettext_lazy as _


class RenameForm(forms.Form):
    nickname = forms.CharField(label=_("Device nickname"), max_length=60, strip=True)

    def clean_nickname(self):
        nickname = self.cleaned_data["nickname"]
        if not nickname:
            raise forms.ValidationError(_("Give the device a name."))
        return nickname
