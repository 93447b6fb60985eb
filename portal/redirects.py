"""Where to send a visitor back to after a POST: only ever a page of this portal."""

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, wanted: str | None, default: str) -> str:
    """`wanted` when it is a path or URL on this portal's host (over https when the
    request came over https), else `default`: a `next` from a form is not an open
    redirect."""
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return wanted
    return default
