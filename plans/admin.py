from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from .models import Plan, PlanPrice


class PlanPriceInline(admin.TabularInline):
    model = PlanPrice
    extra = 1


@admin.register(Plan)
class PlanAdmin(TranslationAdmin):
    list_display = ["code", "name", "coverage_name", "validity_days", "validity_kind", "data_mb",
                    "is_active", "is_topup", "is_auto_renewable"]
    list_filter = ["is_active", "is_topup", "validity_kind", "coverage_scope",
                   "is_auto_renewable"]
    search_fields = ["code", "name", "coverage_name"]
    inlines = [PlanPriceInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "is_active", "sort_order"]}),
        (_("Coverage"), {"fields": ["coverage_scope", "coverage_name", "countries"]}),
        (_("Allowance"), {"fields": ["validity_days", "validity_kind", "data_mb", "fair_use_note",
                                  "voice_minutes", "sms_count", "data_rolls_over"]}),
        (_("Renewal"), {"fields": ["is_topup", "is_auto_renewable"]}),
    ]
