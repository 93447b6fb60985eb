from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import PaymentMethod
from plans.models import Plan


class CardChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return str(obj)


class PlanChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name


class AutoRenewForm(forms.Form):
    plan = PlanChoiceField(label=_("Renew with"), queryset=Plan.objects.none(),
                           to_field_name="code", empty_label=None,
                           error_messages={"invalid_choice": _("Choose a plan from the list.")})
    card = CardChoiceField(label=_("Charge this card"), queryset=PaymentMethod.objects.none(),
                           widget=forms.RadioSelect, empty_label=None,
                           error_messages={"invalid_choice": _("Choose one of your saved cards."),
                                           "required": _("Add a card first.")})

    def __init__(self, *args, plans, cards, **kwargs):
        super().__init__(*args, **kwargs)
        # `fields` holds copies of the fields declared above, typed as plain Fields.
        plan_field, card_field = self.fields["plan"], self.fields["card"]
        assert isinstance(plan_field, PlanChoiceField) and isinstance(card_field, CardChoiceField)
        plan_field.queryset = plans
        card_field.queryset = cards
