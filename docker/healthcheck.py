"""Container health probe: exit 0 when URL answers 200, 1 otherwise.

The slim image has no curl or wget, and a probe that follows redirects would report a
healthy web container that in fact bounces every request to https, so this one doesn't.
Usage: python docker/healthcheck.py http://127.0.0.1:8000/healthz
"""

import sys
import urllib.error
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx surfaces as an HTTPError below


def main(url: str, timeout: float = 5.0) -> int:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:  # refused, timed out, DNS
        print(f"unhealthy: {url}: {exc}")
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered HTTP {status}")
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: healthcheck.py URL")
    sys.exit(main(sys.argv[1]))
