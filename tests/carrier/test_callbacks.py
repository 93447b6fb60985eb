import hashlib
import hmac
import json
import time

import pytest
from django.urls import reverse

from billing import services
from carrier.models import CarrierEvent
from esims.models import Bundle, ESim
from tests.factories import BundleFactory, paid_new_esim_order


def signed(body: dict, secret: str = "dev-callback-secret"):
    raw = json.dumps(body).encode()
    return raw, "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def progress(iccid, point, call_id="c1"):
    return {"header": {"functionRequesterIdentifier": "smdp", "functionCallIdentifier": call_id},
            "iccid": iccid + "F", "eid": "89049032123451234512345678901235",
            "profileType": "default", "timestamp": "2026-11-22T10:00:00Z",
            "notificationPointId": point,
            "notificationPointStatus": {"status": "Executed-Success"}}


def post(client, url, body, signature):
    return client.post(url, body, content_type="application/json",
                       headers={"X-Signature": signature,
                                "X-Admin-Protocol": "gsma/rsp/v2.5.0"})


@pytest.mark.django_db
class TestSignedCallbacks:
    url = "/gsma/rsp2/es2plus/handleDownloadProgressInfo"

    def test_bad_or_missing_signature_is_refused_and_changes_nothing(self, client):
        esim = BundleFactory(esim__state=ESim.State.READY).esim
        raw, _sig = signed(progress(esim.iccid, 4))
        assert post(client, self.url, raw, "sha256=00").status_code == 403
        assert post(client, self.url, raw, "").status_code == 403
        _raw, sig = signed(progress(esim.iccid, 4), secret="guess")
        assert post(client, self.url, raw, sig).status_code == 403
        esim.refresh_from_db()
        assert esim.state == ESim.State.READY and not CarrierEvent.objects.exists()

    def test_malformed_body_is_a_400(self, client):
        raw, sig = signed({"iccid": "8988"})
        assert post(client, self.url, raw, sig).status_code == 400
        raw = b"not json"
        sig = "sha256=" + hmac.new(b"dev-callback-secret", raw, hashlib.sha256).hexdigest()
        assert post(client, self.url, raw, sig).status_code == 400

    def test_install_report_marks_the_esim_installed_once(self, client):
        esim = BundleFactory(esim__state=ESim.State.READY).esim
        raw, sig = signed(progress(esim.iccid, 4))
        for _ in range(3):
            assert post(client, self.url, raw, sig).status_code == 204
        esim.refresh_from_db()
        assert esim.state == ESim.State.INSTALLED
        assert esim.eid == "89049032123451234512345678901235"
        assert CarrierEvent.objects.count() == 1

    def test_a_crash_while_applying_stores_nothing_so_the_redelivery_applies(self, client,
                                                                             monkeypatch):
        from esims import services as esim_services

        esim = BundleFactory(esim__state=ESim.State.READY).esim
        raw, sig = signed(progress(esim.iccid, 4))
        real = esim_services.esim_record_download_progress

        def crash(**kwargs):
            raise RuntimeError("worker died")

        monkeypatch.setattr(esim_services, "esim_record_download_progress", crash)
        client.raise_request_exception = False
        assert post(client, self.url, raw, sig).status_code == 500
        assert not CarrierEvent.objects.exists()
        monkeypatch.setattr(esim_services, "esim_record_download_progress", real)
        assert post(client, self.url, raw, sig).status_code == 204
        esim.refresh_from_db()
        assert esim.state == ESim.State.INSTALLED

    def test_late_download_report_does_not_move_an_installed_esim_back(self, client):
        esim = BundleFactory(esim__state=ESim.State.READY).esim
        for point, call in ((4, "a"), (3, "b")):
            raw, sig = signed(progress(esim.iccid, point, call))
            post(client, self.url, raw, sig)
        esim.refresh_from_db()
        assert esim.state == ESim.State.INSTALLED

    def test_usage_reports_apply_once_and_never_go_back_in_time(self, client):
        bundle = BundleFactory(data_used_bytes=0)
        url = reverse("carrier:usage")

        def report(event_id, remaining, at):
            return {"event_id": event_id, "type": "usage", "iccid": bundle.esim.iccid,
                    "reported_at": at, "bundle": {
                        "reference": bundle.carrier_reference, "state": "active",
                        "initial_quantity_bytes": bundle.data_allowance_bytes,
                        "remaining_quantity_bytes": remaining, "unlimited": False,
                        "used_bytes": bundle.data_allowance_bytes - remaining,
                        "start": "2026-11-20T10:00:00Z", "end": "2026-11-27T10:00:00Z"}}

        total = bundle.data_allowance_bytes
        newer = report("e2", total - 2000, "2026-11-22T12:00:00Z")
        older = report("e1", total - 1000, "2026-11-22T11:00:00Z")
        for body in (newer, newer, older):
            raw, sig = signed(body)
            assert post(client, url, raw, sig).status_code == 204
        bundle.refresh_from_db()
        assert bundle.data_used_bytes == 2000
        assert bundle.ends_at.isoformat() == "2026-11-27T10:00:00+00:00"
        assert CarrierEvent.objects.filter(kind="usage").count() == 2


@pytest.mark.django_db(transaction=True)
def test_simulated_device_install_and_usage_reach_the_portal(carrier_live, alice):
    """The whole loop over HTTP: provision, the device installs, the bundle starts, data
    is used, and the simulator's signed callbacks update what the customer sees."""
    order = paid_new_esim_order(alice)
    services.order_activate(order_id=order.pk)
    esim = ESim.objects.get(pk=order.esim_id)

    carrier_live.download(esim.iccid)
    carrier_live.tick()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        esim.refresh_from_db()
        bundle = Bundle.objects.get(order=order)
        if esim.state == ESim.State.INSTALLED and bundle.state == Bundle.State.ACTIVE:
            break
        carrier_live.tick()
        time.sleep(0.2)
    assert esim.state == ESim.State.INSTALLED
    assert bundle.state == Bundle.State.ACTIVE and bundle.ends_at is not None

    # Reports every second, on the simulator's clock as it is: a clock moved ahead would
    # date them in the future, which the portal refuses.
    carrier_live.configure(usage_report_seconds=1)
    carrier_live.consume(esim.iccid, 500 * 1024 * 1024)
    carrier_live.tick()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and bundle.data_used_bytes < 500 * 1024 * 1024:
        carrier_live.tick()
        time.sleep(0.2)
        bundle.refresh_from_db()
    assert bundle.data_used_bytes >= 500 * 1024 * 1024


@pytest.mark.django_db(transaction=True)
def test_lost_callbacks_are_made_up_by_the_usage_poll(carrier_live, alice):
    """The carrier drops every callback: the usage poll asks it and the customer still
    sees the eSIM installed and its bundle running."""
    from datetime import timedelta

    from carrier import tasks
    from esims.services import esims_claim_for_usage_poll

    carrier_live.configure(drop_callback_rate=1.0)
    order = paid_new_esim_order(alice)
    services.order_activate(order_id=order.pk)
    esim = ESim.objects.get(pk=order.esim_id)
    carrier_live.download(esim.iccid)
    carrier_live.tick()
    time.sleep(0.5)
    esim.refresh_from_db()
    assert esim.state == ESim.State.READY  # nothing arrived

    assert tasks.usage_poll_sweep() == 1
    esim.refresh_from_db()
    bundle = Bundle.objects.get(order=order)
    assert esim.state == ESim.State.INSTALLED and esim.synced_at is not None
    assert bundle.state == Bundle.State.ACTIVE and bundle.ends_at is not None
    # Checked just now: the next sweep leaves it alone; later it is due again.
    assert tasks.usage_poll_sweep() == 0
    assert esims_claim_for_usage_poll(older_than=timedelta(0)) == [esim.pk]
