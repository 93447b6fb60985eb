from django import forms
from django.utils.translation import gettext_lazy as _


class TicketForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200, strip=True)
    body = forms.CharField(label=_("How can we help?"), widget=forms.Textarea(attrs={"rows": 5}),
                           max_length=5000, strip=True)


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Your reply"), widget=forms.Textarea(attrs={"rows": 4}),
                           max_length=5000, strip=True)
