import logging
from typing import TypeVar

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydantic import BaseModel, ValidationError

from portal.jsonbody import BadRequestBody, json_object_from_body

from . import client, services
from .schemas import DownloadProgressInfo, UsageReport, first_error

log = logging.getLogger(__name__)

Callback = TypeVar("Callback", bound=BaseModel)


class _Refused(Exception):
    def __init__(self, response: JsonResponse):
        self.response = response


def _signed_callback(request, schema: type[Callback]) -> tuple[Callback, dict]:
    """The callback checked in this order: signature on the raw body, then the body read
    as a JSON object, then its fields. Raises _Refused with the answer otherwise."""
    header = request.headers.get("X-Signature", "")
    if not client.signature_is_valid(request.body, header):
        raise _Refused(JsonResponse({"error": "bad signature"}, status=403))
    try:
        payload = json_object_from_body(request.body)
        return schema.model_validate(payload), payload
    except BadRequestBody as exc:
        raise _Refused(JsonResponse({"error": str(exc)}, status=400)) from None
    except ValidationError as exc:
        message = first_error(exc)
        log.warning("carrier callback refused: %s", message)
        raise _Refused(JsonResponse({"error": message}, status=400)) from None


@csrf_exempt
@require_POST
def handle_download_progress_info(request):
    """ES2+ handleDownloadProgressInfo from the SM-DP+; answered 204 as SGP.22 says."""
    try:
        info, payload = _signed_callback(request, DownloadProgressInfo)
    except _Refused as refused:
        return refused.response
    services.download_progress_receive(info=info, payload=payload)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def usage_callback(request):
    try:
        report, payload = _signed_callback(request, UsageReport)
    except _Refused as refused:
        return refused.response
    try:
        services.usage_receive(report=report, payload=payload)
    except services.ReportFromTheFuture as exc:
        log.warning("carrier usage report refused: %s", exc)
        return JsonResponse({"error": str(exc)}, status=400)
    return HttpResponse(status=204)
