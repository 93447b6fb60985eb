"""How the carrier client reads the carrier's failures (portal/errors.py): a refusal,
whatever its body, fails fast and is shown to support; "not now" is retried, after the
carrier's Retry-After when it gives one."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from billing import tasks
from billing.models import Order
from carrier import client
from tests.factories import paid_new_esim_order

pytestmark = pytest.mark.django_db


class _Answers(BaseHTTPRequestHandler):
    status = 404
    body = b"<html><body><h1>Not Found</h1></body></html>"
    headers_out: dict = {"Content-Type": "text/html"}

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_carrier(settings):
    """A server standing where the carrier should be, answering as told."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.CARRIER_URL = f"http://127.0.0.1:{server.server_address[1]}"

    def answer(status, body=b"", headers=None):
        _Answers.status, _Answers.body = status, body
        _Answers.headers_out = headers or {"Content-Type": "text/html"}

    answer(404, _Answers.body)
    yield answer
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_a_refusal_with_a_body_that_is_not_json_is_permanent(fake_carrier, status):
    fake_carrier(status, b"<html>nope</html>")
    with pytest.raises(client.CarrierRejected) as es2:
        client.es2_download_order(call_id="c-1")
    with pytest.raises(client.CarrierRejected) as api:
        client.bundle_list(iccid="8901234567890123452")
    for caught in (es2.value, api.value):
        assert not caught.retryable and caught.code == f"http_{status}"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_not_now_is_retryable_with_the_carriers_retry_after(fake_carrier, status):
    fake_carrier(status, b"busy", {"Content-Type": "text/plain", "Retry-After": "120"})
    with pytest.raises(client.CarrierUnavailable) as caught:
        client.es2_download_order(call_id="c-1")
    assert caught.value.retryable and caught.value.retry_after == 120
    with pytest.raises(client.CarrierUnavailable) as caught:
        client.bundle_list(iccid="8901234567890123452")
    assert caught.value.retryable and caught.value.retry_after == 120


def test_an_activation_behind_a_wrong_url_fails_at_once_for_support(fake_carrier, alice):
    order = paid_new_esim_order(alice)
    tasks.order_activate.delay(order.pk)
    order.refresh_from_db()
    assert order.status == Order.Status.FAILED
    assert "http_404" in order.failure_reason and order.failed_at is not None


def test_an_activation_the_carrier_is_too_busy_for_waits(fake_carrier, alice):
    fake_carrier(503, b"", {"Retry-After": "30"})
    order = paid_new_esim_order(alice)
    tasks.order_activate.delay(order.pk)  # in-process: not retried here; the sweep will
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVATING and order.failed_at is None


@pytest.mark.parametrize("result, kind, code", [
    ({"status": 409, "error": {"code": "duplicate", "message": "taken"}},
     client.CarrierRejected, "duplicate"),
    ({"status": 503, "error": {"code": "busy"}}, client.CarrierUnavailable, "busy"),
    ({"status": 429}, client.CarrierUnavailable, "http_429"),
    ({"status": "abc", "error": "nope"}, client.CarrierUnavailable, "http_0"),
    ({"status": 200}, client.CarrierUnavailable, "http_200"),  # no body: not a refusal
    ({"status": True, "error": ["x"]}, client.CarrierUnavailable, "http_0"),
])
def test_each_batch_item_is_read_with_the_single_calls_contract(fake_carrier, result, kind,
                                                                 code):
    """A batch answer's item, from /bundles/apply or /bundles/query alike, maps to the
    error its single call would raise; an item the carrier wrote badly is its fault and
    may pass, never a crash in the task."""
    import json

    fake_carrier(200, json.dumps({"results": [result]}).encode(),
                 {"Content-Type": "application/json"})
    [applied] = client.bundles_apply(items=[client.BundleApply(
        iccid="8988247000000000001", reference="ES-1", bundle_code="jp", kind="full",
        validity_days=7, initial_bytes=None)])
    [queried] = client.bundles_query(iccids=["8988247000000000001"]).values()
    for answer in (applied, queried):
        assert type(answer) is kind and answer.code == code
