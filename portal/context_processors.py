from django.conf import settings


def portal(request):
    return {
        "support_email": settings.SUPPORT_EMAIL,
        "portal_currencies": settings.PORTAL_CURRENCIES,
    }
