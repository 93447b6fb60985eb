import json
import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import client, services

log = logging.getLogger(__name__)


def _signed_json(request):
    if not client.signature_is_valid(request.body, request.headers.get("X-Signature", "")):
        return None, JsonResponse({"error": "bad signature"}, status=403)
    try:
        payload = json.loads(request.body)
    except ValueError:
        return None, JsonResponse({"error": "body is not JSON"}, status=400)
    if not isinstance(payload, dict):
        return None, JsonResponse({"error": "body is not a JSON object"}, status=400)
    return payload, None


@csrf_exempt
@require_POST
def handle_download_progress_info(request):
    """ES2+ handleDownloadProgressInfo from the SM-DP+; answered 204 as SGP.22 says."""
    payload, error = _signed_json(request)
    if error:
        return error
    try:
        services.download_progress_receive(payload=payload)
    except services.CallbackError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def usage_callback(request):
    payload, error = _signed_json(request)
    if error:
        return error
    try:
        services.usage_receive(payload=payload)
    except services.CallbackError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return HttpResponse(status=204)
