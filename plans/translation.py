from modeltranslation.translator import TranslationOptions, register

from .models import Plan


@register(Plan)
class PlanTranslationOptions(TranslationOptions):
    fields = ("name", "description", "coverage_name", "fair_use_note")
