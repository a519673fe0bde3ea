"""Failed logins lock out one username at one address for a while; the editor elsewhere still gets in."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client, override_settings

from tests.cms.conftest import ja, ja_plural, settings_from_env

LOGIN = "/admin/login/"
PASSWORD = "secret-pass-123"  # the staff fixtures' password
ATTACKER, OFFICE, HOME = "203.0.113.66", "198.51.100.7", "192.0.2.10"
CDN, LOAD_BALANCER = "130.176.0.1", "10.0.3.4"
LIMIT = 5


def lockout_message() -> str:
    singular = "Too many failed logins for this username from your address. Try again in %(minutes)d minute."
    plural = "Too many failed logins for this username from your address. Try again in %(minutes)d minutes."
    return ja_plural(singular, plural, 15, minutes=15)


def log_in(username: str, password: str, address: str = OFFICE, **headers) -> tuple[Client, object]:
    """Post the admin login form from `address`; return the client (with any session) and the response."""
    client = Client(REMOTE_ADDR=address, **headers)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})
    return client, response


def assert_logged_in(client, response):
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200


def assert_locked_out(client, response):
    assert response.status_code == 429
    page = response.content.decode()
    assert lockout_message() in page
    assert ja("Login locked") in page
    assert client.get("/admin/").status_code == 302  # no session was opened


def fail(username: str, times: int, address: str = ATTACKER, **headers) -> list[int]:
    return [log_in(username, "wrong-password", address, **headers)[1].status_code for _ in range(times)]


def test_five_failures_lock_out_even_the_right_password_from_that_address(editor):
    assert fail(editor.username, LIMIT) == [200] * (LIMIT - 1) + [429]

    assert_locked_out(*log_in(editor.username, PASSWORD, ATTACKER))


def test_four_failures_do_not_lock_out(editor):
    assert fail(editor.username, LIMIT - 1) == [200] * (LIMIT - 1)

    assert_logged_in(*log_in(editor.username, PASSWORD, ATTACKER))


def test_the_locked_out_editor_still_logs_in_from_another_address(editor):
    fail(editor.username, LIMIT + 3)

    assert_logged_in(*log_in(editor.username, PASSWORD, OFFICE))
    assert_locked_out(*log_in(editor.username, PASSWORD, ATTACKER))


def test_a_colleague_behind_the_same_address_still_logs_in(editor, viewer):
    fail(editor.username, LIMIT)

    assert_logged_in(*log_in(viewer.username, PASSWORD, ATTACKER))


def test_a_successful_login_clears_the_failures(editor):
    fail(editor.username, LIMIT - 1, OFFICE)
    assert_logged_in(*log_in(editor.username, PASSWORD, OFFICE))

    assert fail(editor.username, LIMIT - 1, OFFICE) == [200] * (LIMIT - 1)
    assert_logged_in(*log_in(editor.username, PASSWORD, OFFICE))


def test_the_lockout_ends_after_fifteen_minutes(editor):
    fail(editor.username, LIMIT)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=14))
    assert_locked_out(*log_in(editor.username, PASSWORD, ATTACKER))

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=2))

    assert_logged_in(*log_in(editor.username, PASSWORD, ATTACKER))


def test_forwarded_for_headers_are_ignored_without_a_trusted_proxy(editor):
    forged = [{"HTTP_X_FORWARDED_FOR": f"198.51.100.{n}"} for n in range(LIMIT)]

    statuses = [log_in(editor.username, "wrong-password", ATTACKER, **headers)[1].status_code for headers in forged]

    assert statuses == [200] * (LIMIT - 1) + [429]
    assert_locked_out(*log_in(editor.username, PASSWORD, ATTACKER, HTTP_X_FORWARDED_FOR=OFFICE))


@pytest.fixture
def behind_cdn_and_load_balancer():
    """The address settings of a deployment with DJANGO_TRUSTED_PROXIES=2 (CloudFront, then a load balancer)."""
    production = settings_from_env(DJANGO_TRUSTED_PROXIES="2")
    names = ("AXES_IPWARE_META_PRECEDENCE_ORDER", "AXES_IPWARE_PROXY_COUNT", "IPWARE_STRICT")
    with override_settings(**{name: getattr(production, name) for name in names}):
        yield


def through_proxies(client_address: str, forged: str = "") -> dict:
    """The forwarding header of a request that went through the CDN, then the load balancer."""
    return {"HTTP_X_FORWARDED_FOR": ", ".join(part for part in (forged, client_address, CDN) if part)}


def test_behind_trusted_proxies_the_forwarded_client_address_counts(behind_cdn_and_load_balancer, editor):
    attacker = through_proxies(ATTACKER, forged=OFFICE)
    assert fail(editor.username, LIMIT, LOAD_BALANCER, **attacker) == [200] * (LIMIT - 1) + [429]
    assert_locked_out(*log_in(editor.username, PASSWORD, LOAD_BALANCER, **attacker))

    assert_logged_in(*log_in(editor.username, PASSWORD, LOAD_BALANCER, **through_proxies(HOME)))
    assert_logged_in(*log_in(editor.username, PASSWORD, LOAD_BALANCER, **through_proxies(OFFICE)))
