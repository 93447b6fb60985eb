"""The portal's only door to the carrier, over HTTP.

Profiles are provisioned with GSMA SGP.22 ES2+ (operator to SM-DP+); bundles go through
a reseller-style API. Every failure is mapped here, once, to the portal's error contract
(`portal/errors.py`): `CarrierUnavailable` (retryable: a timeout, a refused connection,
"busy", a 5xx, a 408 or 429, with the carrier's Retry-After when it gives one) leaves
state unchanged at the carrier and is safe to repeat, because every call carries an
identifier the carrier deduplicates on; `CarrierRejected` (any other 4xx, whatever its
body, and ES2+ "Failed") will not pass by itself and is shown to support.
"""

import hashlib
import hmac
import logging
import re
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import datetime

import requests
from django.conf import settings

from portal.errors import ExternalError, ensure_outside_transaction, retry_after_seconds

from .schemas import CarrierBundleReport, ValidationError, first_error

log = logging.getLogger(__name__)

ES2_PREFIX = "/gsma/rsp2/es2plus/"
ES2_PROTOCOL = "gsma/rsp/v2.5.0"
_BUSY = ("1.2", "4.4")  # the SM-DP+ says: busy, try later


class CarrierError(ExternalError):
    """The carrier could not do what was asked."""


class CarrierUnavailable(CarrierError):
    """The carrier did not answer, or answered that it is busy: try again later."""

    retryable = True


class CarrierRejected(CarrierError):
    """The carrier refused the request: repeating it will not help."""


@dataclass(frozen=True)
class ProfileOrder:
    iccid: str
    matching_id: str
    smdp_address: str
    eid: str = ""


@dataclass(frozen=True)
class CarrierBundle:
    reference: str
    state: str
    unlimited: bool
    initial_bytes: int | None
    remaining_bytes: int | None
    used_bytes: int
    start: datetime | None
    end: datetime | None
    # When the usage figures hold for, if the carrier says (its records lag real use).
    usage_at: datetime | None = None

    @classmethod
    def from_json(cls, data: object) -> "CarrierBundle":
        """A bundle as the carrier's API describes it, checked with the same schema as
        its callbacks (carrier/schemas.py); an answer that does not fit is the carrier's
        fault, not a refusal, so it may pass."""
        try:
            report = CarrierBundleReport.model_validate(data)
        except ValidationError as exc:
            raise CarrierUnavailable(f"unreadable bundle: {first_error(exc)}",
                                     code="protocol") from exc
        return cls(reference=report.reference, state=report.state, unlimited=report.unlimited,
                   initial_bytes=report.initial_quantity_bytes,
                   remaining_bytes=report.remaining_quantity_bytes,
                   used_bytes=report.used_bytes, start=report.start, end=report.end,
                   usage_at=report.usage_at)


_local = threading.local()


def _session() -> requests.Session:
    # One pooled session per thread: requests.Session is not documented as thread-safe.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def normalize_iccid(value: str) -> str:
    """ICCIDs travel padded to 20 characters with a trailing F; we store the digits."""
    value = (value or "").strip().upper()
    return value[:-1] if value.endswith("F") else value


# HTTP statuses that say "not now" rather than "no".
_TRY_LATER_STATUSES = (408, 425, 429)


def _request(method: str, path: str, body: dict | None, headers: dict) -> requests.Response:
    """One HTTP call, never inside a database transaction (row locks would wait on the
    carrier). A status that says "try later" is raised here; the caller reads the rest."""
    ensure_outside_transaction("carrier")
    try:
        response = _session().request(method, settings.CARRIER_URL + path, json=body,
                                      headers=headers,
                                      timeout=settings.CARRIER_TIMEOUT_SECONDS)
    except requests.Timeout as exc:
        raise CarrierUnavailable(f"carrier timed out on {path}", code="timeout") from exc
    except requests.RequestException as exc:
        raise CarrierUnavailable(f"carrier unreachable on {path}: {exc}",
                                 code="connection") from exc
    if response.status_code >= 500 or response.status_code in _TRY_LATER_STATUSES:
        raise CarrierUnavailable(
            f"{path}: HTTP {response.status_code}", code=f"http_{response.status_code}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    return response


def _text(data: dict, name: str, *, function: str, required: bool = True) -> str:
    """A short text field of the carrier's answer; a missing or odd one is the carrier's
    fault (a protocol error that may pass), never a KeyError in a task."""
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > 255:
        raise CarrierUnavailable(f"{function}: answer without a usable {name}", code="protocol")
    return value


def _json_or_none(response: requests.Response) -> dict | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _es2(function: str, call_id: str, **fields) -> dict:
    body = {"header": {"functionRequesterIdentifier": settings.CARRIER_REQUESTER_ID,
                       "functionCallIdentifier": call_id}}
    body.update({k: v for k, v in fields.items() if v is not None})
    response = _request("POST", ES2_PREFIX + function, body, {
        "X-Admin-Protocol": ES2_PROTOCOL, "X-API-Key": settings.CARRIER_API_KEY})
    data = _json_or_none(response)
    try:
        status = data["header"]["functionExecutionStatus"]  # type: ignore[index]
        status.get("status")
    except (KeyError, TypeError, AttributeError):
        status = None
    if status is None:
        if response.status_code >= 400:
            # A wrong URL or a proxy's error page: asking again will not fix it.
            raise CarrierRejected(f"{function}: HTTP {response.status_code}",
                                  code=f"http_{response.status_code}")
        raise CarrierUnavailable(f"{function}: unreadable answer", code="protocol")
    if status.get("status") == "Executed-Success":
        return data  # type: ignore[return-value]  # read above: a dict with a header
    code_data = status.get("statusCodeData") or {}
    subject, reason = code_data.get("subjectCode", ""), code_data.get("reasonCode", "")
    message = f"{function} failed {subject}/{reason}: {code_data.get('message', '')}"
    if (subject, reason) == _BUSY:
        raise CarrierUnavailable(message, code=f"{subject}/{reason}")
    raise CarrierRejected(message, code=f"{subject}/{reason}")


def es2_download_order(*, call_id: str) -> str:
    """Reserve a profile; returns its ICCID."""
    data = _es2("downloadOrder", call_id)
    return normalize_iccid(_text(data, "iccid", function="downloadOrder"))


def es2_confirm_order(*, iccid: str, call_id: str) -> ProfileOrder:
    """Confirm and release the profile so a device can download it."""
    data = _es2("confirmOrder", call_id, iccid=iccid, releaseFlag=True)
    return ProfileOrder(iccid=iccid, matching_id=_text(data, "matchingId", function="confirmOrder"),
                        smdp_address=_text(data, "smdpAddress", function="confirmOrder"),
                        eid=_text(data, "eid", function="confirmOrder", required=False))


# SGP.22 status codes cancelOrder answers when there is no order left to withdraw.
ES2_DOWNLOADED = "8.2.1/3.3"  # the profile is on a device already
ES2_NOT_ORDERED = "8.2.1/3.5"  # no order on the profile (withdrawn before, say)


def es2_cancel_order(*, iccid: str, matching_id: str, call_id: str) -> None:
    """Withdraw a profile order no device has downloaded; the profile goes back to the
    SM-DP+'s pool ("Available") and its activation code stops working."""
    _es2("cancelOrder", call_id, iccid=iccid, matchingId=matching_id or None,
         finalProfileStatusIndicator="Available")


def _api(method: str, path: str, body: dict | None = None) -> dict:
    response = _request(method, path, body, {"X-API-Key": settings.CARRIER_API_KEY})
    data = _json_or_none(response)
    if response.status_code >= 400:
        # Refused, whatever the body says (an HTML 404 from a wrong URL included).
        error = (data or {}).get("error")
        error = error if isinstance(error, dict) else {}
        raise CarrierRejected(f"{path}: {error.get('message', response.status_code)}",
                              code=str(error.get("code") or f"http_{response.status_code}"))
    if data is None:
        raise CarrierUnavailable(f"{path}: unreadable answer", code="protocol")
    return data


def bundle_apply(*, iccid: str, reference: str, bundle_code: str, kind: str,
                 validity_days: int, initial_bytes: int | None) -> CarrierBundle:
    """Apply a bundle; the same reference twice is a no-op at the carrier."""
    data = _api("POST", f"/api/v1/esims/{iccid}/bundles", {
        "reference": reference, "bundle_code": bundle_code, "kind": kind,
        "validity_days": validity_days, "initial_quantity_bytes": initial_bytes})
    return CarrierBundle.from_json(data)


@dataclass(frozen=True)
class BundleApply:
    iccid: str
    reference: str
    bundle_code: str
    kind: str
    validity_days: int
    initial_bytes: int | None


# Items per batch call; the carrier takes at most this many.
APPLY_BATCH = 100


def bundles_apply(*, items: list[BundleApply]) -> list[CarrierBundle | CarrierError]:
    """Apply many bundles in one call; each item's answer, in order, is its bundle or the
    error its single call would have raised. A failure of the whole call (the carrier
    down or busy) is raised, and leaves nothing half done: every item is idempotent."""
    data = _api("POST", "/api/v1/bundles/apply", {"items": [
        {"iccid": item.iccid, "reference": item.reference, "bundle_code": item.bundle_code,
         "kind": item.kind, "validity_days": item.validity_days,
         "initial_quantity_bytes": item.initial_bytes} for item in items]})
    results = data.get("results")
    if (not isinstance(results, list) or len(results) != len(items)
            or not all(isinstance(result, dict) for result in results)):
        raise CarrierUnavailable("/api/v1/bundles/apply: unreadable answer", code="protocol")
    answers: list[CarrierBundle | CarrierError] = []
    for item, result in zip(items, results, strict=True):
        if "bundle" in result and _item_status(result) < 400:
            answers.append(CarrierBundle.from_json(result["bundle"]))
        else:
            answers.append(_item_error(f"apply {item.reference}", result))
    return answers


def _item_status(result: dict) -> int:
    """A batch item's HTTP status; 0 when the carrier gave none that is a number."""
    status = result.get("status")
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def _item_error(what: str, result: dict) -> CarrierError:
    """The error a batch item's answer stands for, as its single call would raise it: a
    refusal for a 4xx (other than "try later"); for a 5xx, a "try later", or an answer
    without its status or its body (the carrier's fault), one that may pass."""
    status = _item_status(result)
    error = result.get("error")
    error = error if isinstance(error, dict) else {}
    refused = 400 <= status < 500 and status not in _TRY_LATER_STATUSES
    return (CarrierRejected if refused else CarrierUnavailable)(
        f"{what}: {error.get('message', status)}",
        code=str(error.get("code") or f"http_{status}"))


@dataclass(frozen=True)
class CarrierProfile:
    iccid: str
    state: str  # ES2+ profile state: Released, Downloaded, Installed, ...
    eid: str


def profile_get(*, iccid: str) -> CarrierProfile:
    data = _api("GET", f"/api/v1/esims/{iccid}")
    where = f"/api/v1/esims/{iccid}"
    return CarrierProfile(iccid=normalize_iccid(_text(data, "iccid", function=where)),
                          state=_text(data, "profile_state", function=where),
                          eid=_text(data, "eid", function=where, required=False))


def bundle_list(*, iccid: str) -> list[CarrierBundle]:
    data = _api("GET", f"/api/v1/esims/{iccid}/bundles")
    bundles = data.get("bundles", [])
    if not isinstance(bundles, list):
        raise CarrierUnavailable(f"/api/v1/esims/{iccid}/bundles: unreadable answer",
                                 code="protocol")
    return [CarrierBundle.from_json(item) for item in bundles]


@dataclass(frozen=True)
class EsimReport:
    """What the carrier says of one eSIM in a batch read: its profile and its bundles."""

    iccid: str
    profile_state: str
    eid: str
    bundles: list[CarrierBundle]


# ICCIDs per batch read; the carrier takes at most this many.
QUERY_BATCH = 100


def bundles_query(*, iccids: list[str]) -> dict[str, EsimReport | CarrierError]:
    """The profile and bundles of many eSIMs in one call, by ICCID: each one's report, or
    the error its single read would have raised (an ICCID the carrier does not know). A
    failure of the whole call is raised."""
    path = "/api/v1/bundles/query"
    data = _api("POST", path, {"iccids": iccids})
    results = data.get("results")
    if (not isinstance(results, list) or len(results) != len(iccids)
            or not all(isinstance(result, dict) for result in results)):
        raise CarrierUnavailable(f"{path}: unreadable answer", code="protocol")
    answers: dict[str, EsimReport | CarrierError] = {}
    for iccid, result in zip(iccids, results, strict=True):
        bundles = result.get("bundles")
        if _item_status(result) == 200 and isinstance(bundles, list):
            answers[iccid] = EsimReport(
                iccid=iccid, profile_state=_text(result, "profile_state", function=path),
                eid=_text(result, "eid", function=path, required=False),
                bundles=[CarrierBundle.from_json(item) for item in bundles])
        else:
            answers[iccid] = _item_error(f"query {iccid}", result)
    return answers


def bundle_revoke(*, reference: str) -> CarrierBundle:
    """Withdraw a bundle (or take a top-up's data back); revoking twice is a no-op."""
    return CarrierBundle.from_json(_api("POST", f"/api/v1/bundles/{reference}/revoke"))


def bundle_extend(*, reference: str, extension: str, days: int) -> CarrierBundle:
    """Move a running bundle's end `days` later. `extension` names this extension: the
    same one again extends once (the carrier answers the bundle as it is), so a call
    repeated after a timeout or a double click is safe. Refused (CarrierRejected) for a
    bundle that is not running, and for an extension reference used otherwise before."""
    path = f"/api/v1/bundles/{urllib.parse.quote(reference, safe='')}/extend"
    return CarrierBundle.from_json(_api("POST", path, {"reference": extension, "days": days}))


def _profile_suspension(iccid: str, action: str) -> bool:
    path = f"/api/v1/esims/{urllib.parse.quote(iccid, safe='')}/{action}"
    suspended = _api("POST", path).get("suspended")
    if not isinstance(suspended, bool):
        raise CarrierUnavailable(f"{path}: answer without a usable suspended", code="protocol")
    return suspended


def esim_suspend(*, iccid: str) -> None:
    """Stop the profile's service at the carrier (no data flows; its plans keep their
    dates). Suspending twice is a no-op."""
    if not _profile_suspension(iccid, "suspend"):
        raise CarrierUnavailable(f"suspend {iccid}: the carrier says it is not suspended",
                                 code="protocol")


def esim_resume(*, iccid: str) -> None:
    """Give a suspended profile its service back. Resuming twice is a no-op."""
    if _profile_suspension(iccid, "resume"):
        raise CarrierUnavailable(f"resume {iccid}: the carrier says it is still suspended",
                                 code="protocol")


_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}", re.ASCII)


def signature_is_valid(body: bytes, header: str) -> bool:
    """Callbacks carry `X-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Anything
    not of that shape is refused before the HMAC is compared: compare_digest raises
    TypeError (a 500) on a str that is not ASCII."""
    if not _SIGNATURE.fullmatch(header or ""):
        return False
    expected = hmac.new(settings.CARRIER_CALLBACK_SECRET.encode(), body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").lower())

