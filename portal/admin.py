from allauth.account.decorators import secure_admin_login
from allauth.account.utils import get_next_redirect_url
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.cache import never_cache


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits by hand: documents, audit rows, events from outside."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@never_cache
@secure_admin_login
def staff_login(request, extra_context=None):
    """The admin's login page, which checks no password of its own.

    Staff sign in at allauth's login like customers, so the second factor, the rate
    limits and email confirmation apply to them too: `secure_admin_login` sends anyone
    signed out there (with `next`) and refuses a signed-in customer with a 403. A signed-in
    staff member only gets here by typing the address, and is sent on: Django's own login
    form must never run, or a password posted here would sign in as its owner, second
    factor skipped, with unlimited guesses.
    """
    return HttpResponseRedirect(get_next_redirect_url(request)
                                or reverse("admin:index", current_app=admin.site.name))


def staff_index(request: HttpRequest, extra_context: dict | None = None):
    """The admin's index, opening with what support must look at first: how many
    messages to customers failed, linked to the list of them, for staff who may see
    messages."""
    from notifications.models import Notification

    extra = dict(extra_context or {})
    if request.user.has_perm("notifications.view_notification"):
        failed = Notification.Status.FAILED
        extra["failed_messages"] = Notification.objects.filter(status=failed).count()
        extra["failed_messages_url"] = (
            reverse("admin:notifications_notification_changelist", current_app=admin.site.name)
            + f"?status__exact={failed}")
    return admin.AdminSite.index(admin.site, request, extra)


# Imported by portal/urls.py before the admin's URLs are built (as staff_login is put in
# place there), so the index view is this one.
admin.site.index = staff_index  # type: ignore[method-assign]
