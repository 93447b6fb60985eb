import zoneinfo

from django.utils import timezone, translation


class CustomerPreferencesMiddleware:
    """Show every page in the signed-in customer's language and time zone.

    Runs after LocaleMiddleware, so the stored language wins over the browser's.
    Anonymous visitors keep the language they picked (cookie) or their browser's.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", translation.get_language())
        return response
