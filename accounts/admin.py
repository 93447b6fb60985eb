from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "phone", "language", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "language"]
    search_fields = ["email", "phone", "first_name", "last_name"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Profile"), {"fields": ["first_name", "last_name", "phone", "language",
                                   "time_zone", "currency"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups",
                                       "user_permissions"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"],
                             "fields": ["email", "password1", "password2"]})]
