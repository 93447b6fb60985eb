from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

from billing.stripe_views import stripe_webhook
from notifications.bounces import webhook_urls as email_webhook_urls
from portal.admin import staff_login
from portal.views import home


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


# Staff sign in through allauth (second factor, rate limits), never the admin's own form.
admin.site.login = staff_login  # type: ignore[method-assign]


urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("plans/", include("plans.urls")),
    path("esims/", include("esims.urls")),
    path("auto-renew/", include("renewals.urls")),
    path("orders/", include("billing.urls")),
    path("webhooks/stripe/", stripe_webhook, name="stripe_webhook"),
    path("webhooks/email/", include(email_webhook_urls)),
    path("support/", include("support.urls")),
    path("help/", include("support.help_urls")),
    path("", include("notifications.urls")),
    path("", include("carrier.urls")),
    path("staff/", admin.site.urls),
]
