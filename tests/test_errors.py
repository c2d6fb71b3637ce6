"""Every error is a JSON object with a `detail` string: Burki clients read body["detail"]."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("post", "/calls/initiate", "{not json", "application/json", 400),
        ("post", "/calls/initiate", "[1, 2]", "application/json", 400),
        ("post", "/calls/initiate", "a=b", "application/x-www-form-urlencoded", 415),
        ("get", "/calls/initiate", None, None, 405),
        ("get", "/api/v1/nope", None, None, 404),
        ("get", "/api/v1/calls/999999", None, None, 404),
        ("delete", "/api/v1/calls", None, None, 405),
    ],
)
def test_errors_are_json_objects_with_a_detail(
    api: Any, number: Any, method: str, path: str, body: str | None, content_type: str | None, status: int
) -> None:
    kwargs = {"data": body, "content_type": content_type} if body is not None else {}

    response = getattr(api, method)(path, **kwargs)

    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    payload = response.json()
    assert isinstance(payload, dict)
    assert isinstance(payload["detail"], str)
    assert payload["detail"]


def test_unknown_paths_outside_the_api_are_json_too() -> None:
    response = APIClient().get("/no/such/page")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_health_check_answers_when_the_database_does() -> None:
    response = APIClient().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_a_pathologically_nested_body_is_400_not_a_crash(api: Any, number: Any) -> None:
    body = "[" * 5000 + "]" * 5000

    response = api.post("/calls/initiate", data=body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/calls/", "/api/v1/nope", "/telephony/", "/calls/", "/api", "/telephony"])
@pytest.mark.parametrize("debug", [True, False])
def test_unknown_paths_of_the_api_and_the_webhooks_are_a_json_404_in_every_mode(path: str, debug: bool) -> None:
    # The test runner forces DEBUG off: Django's technical 404 page only shows once it is turned on here.
    with override_settings(DEBUG=debug):
        response = APIClient().get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("debug", [True, False])
def test_a_method_a_webhook_does_not_take_is_a_json_405_naming_the_allowed_ones(debug: bool) -> None:
    with override_settings(DEBUG=debug):
        response = APIClient().put("/telephony/sandbox/status/some-token", b"{}", content_type="application/json")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
    assert response["Allow"] == "GET, POST"


@override_settings(DEBUG=True)
def test_an_unknown_admin_path_keeps_djangos_page_in_debug(admin_client: Any) -> None:
    response = admin_client.get("/admin/no-such-app/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@override_settings(DEBUG=True)
def test_the_docs_page_stays_html_in_debug() -> None:
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
