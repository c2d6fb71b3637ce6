"""One log format in production: every line JSON (Django's, gunicorn's and ours), one line per 4xx (the request
log's, with the reason when Django refused the request as suspicious), and a 500's traceback logged once."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from burki.logging import JsonFormatter, current_request_id
from tests.factories import ApiKeyFactory
from tests.fakes.production import ProductionServer

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view broke for +14155550123")


urlpatterns = [path("boom", boom)]


@pytest.fixture
def console(caplog: pytest.LogCaptureFixture) -> Iterator[StringIO]:
    """What the console handler of settings.LOGGING writes (its filters and formatter applied) during the test."""
    caplog.set_level(logging.INFO)
    output = StringIO()
    [handler] = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    assert isinstance(handler, logging.StreamHandler)
    stream = handler.setStream(output)
    yield output
    handler.setStream(stream)


def lines_of(output: StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


def assert_one_request_line(lines: list[dict[str, Any]], response: Any, status: int) -> dict[str, Any]:
    assert [(line["logger"], line["status"]) for line in lines] == [("burki.requests", status)], lines
    [line] = lines
    assert line["request_id"] == response["X-Request-Id"]
    assert {"time", "level", "message", "method", "path", "duration_ms", "client_ip"} <= set(line)
    return line


# --- in process, with the production log format --------------------------------------------------------------


def test_a_404_logs_exactly_one_json_line(api: Any, console: StringIO) -> None:
    response = api.get("/api/v1/assistants/987654")

    assert response.status_code == 404
    line = assert_one_request_line(lines_of(console), response, 404)
    assert (line["level"], line["message"]) == ("INFO", f"GET /api/v1/assistants/987654 404 ({line['duration_ms']} ms)")


def test_a_404_for_no_route_at_all_logs_exactly_one_json_line(client: Client, console: StringIO) -> None:
    response = client.get("/nowhere")

    assert response.status_code == 404
    assert_one_request_line(lines_of(console), response, 404)


def test_a_403_for_the_role_logs_exactly_one_json_line(organization: Any, client_for: Any, console: StringIO) -> None:
    member = client_for(ApiKeyFactory(organization=organization, role="member").raw_key)

    response = member.post("/api/v1/telephony/accounts", {"provider": "sandbox", "name": "x"}, format="json")

    assert response.status_code == 403
    line = assert_one_request_line(lines_of(console), response, 403)
    assert line["organization_id"] == organization.pk


def test_a_csrf_refusal_is_one_line_that_says_why(console: StringIO) -> None:
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "a", "password": "b"})

    assert response.status_code == 403
    line = assert_one_request_line(lines_of(console), response, 403)
    assert line["level"] == "WARNING"
    assert line["reason"] == "Forbidden (CSRF cookie not set.): /admin/login/"


def test_a_host_not_allowed_is_one_line_that_says_why(client: Client, console: StringIO) -> None:
    response = client.get("/healthz", HTTP_HOST="evil.example")

    assert response.status_code == 400
    line = assert_one_request_line(lines_of(console), response, 400)
    assert line["reason"].startswith("Invalid HTTP_HOST header: 'evil.example'.")


@override_settings(ROOT_URLCONF=__name__)
def test_a_500_logs_its_traceback_once_masked_under_the_request_id(console: StringIO) -> None:
    response = Client(raise_request_exception=False).get("/boom")

    assert response.status_code == 500
    lines = lines_of(console)
    [error] = [line for line in lines if line["logger"] == "django.request"]
    [request] = [line for line in lines if line["logger"] == "burki.requests"]
    assert len(lines) == 2
    assert (request["status"], request["level"]) == (500, "ERROR")
    assert error["request_id"] == request["request_id"] == response["X-Request-Id"]
    assert error["level"] == "ERROR"
    assert error["exc_info"].startswith("Traceback (most recent call last):")
    assert error["exc_info"].endswith("RuntimeError: the view broke for …0123")
    assert console.getvalue().count("Traceback (most recent call last)") == 1
    assert "4155550123" not in console.getvalue()


def test_lines_logged_while_serving_a_request_carry_its_id(
    api: Any, console: StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calls import views

    def logged(*args: Any, **kwargs: Any) -> Any:
        logging.getLogger("calls.views").warning("looking at calls")
        return original(*args, **kwargs)

    original = views.CallListApi.get
    monkeypatch.setattr(views.CallListApi, "get", logged)

    response = api.get("/api/v1/calls")

    assert response.status_code == 200
    [ours, request] = lines_of(console)
    assert (ours["logger"], ours["message"], ours["level"]) == ("calls.views", "looking at calls", "WARNING")
    assert ours["request_id"] == request["request_id"] == response["X-Request-Id"]
    assert current_request_id.get() is None  # and none once it is answered


def test_behind_a_proxy_the_request_line_names_the_client_not_the_proxy(client: Client, console: StringIO) -> None:
    rest_framework = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    with override_settings(REST_FRAMEWORK=rest_framework):
        client.get("/healthz", HTTP_X_FORWARDED_FOR="10.9.8.7, 203.0.113.7", REMOTE_ADDR="127.0.0.1")
    client.get("/healthz", HTTP_X_FORWARDED_FOR="203.0.113.7", REMOTE_ADDR="127.0.0.1")  # no proxy: not believed

    assert [line["client_ip"] for line in lines_of(console)] == ["203.0.113.7", "127.0.0.1"]


def test_the_json_formatter_writes_one_line_whatever_the_text() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "two\nlines, a lone \ud800 and …", None, None)

    written = JsonFormatter().format(record)

    assert "\n" not in written
    assert json.loads(written)["message"] == "two\nlines, a lone \ud800 and …"
    assert "…" in written  # readable UTF-8, not \u2026


# --- under gunicorn, as deployed -------------------------------------------------------------------------------


def test_everything_gunicorn_and_django_write_in_production_is_json(production_server: ProductionServer) -> None:
    production_server.get("/healthz")
    production_server.get("/admin/login/")

    lines = [json.loads(line) for line in production_server.log_lines_after(0)]

    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "burki.requests"} <= loggers
    assert any(line["message"].startswith("Booting worker") for line in lines)


def test_a_404_and_a_403_under_gunicorn_log_one_json_line_each(production_server: ProductionServer) -> None:
    seeded = production_server.manage("seed_demo", "--json", "--role", "member")
    member_key = json.loads(seeded.stdout)["api_key"]
    headers = {"Authorization": f"Bearer {member_key}", "Content-Type": "application/json"}
    logged: dict[int, list[str]] = {}

    for status, method, url in [
        (404, "GET", "/api/v1/assistants/987654"),
        (404, "GET", "/nowhere"),
        (403, "POST", "/api/v1/telephony/accounts"),
        (403, "POST", "/admin/login/"),  # no CSRF cookie
    ]:
        mark = len(production_server.log_lines())
        response = production_server.request(method, url, headers=headers, body=b"{}" if method == "POST" else None)
        assert response.status == status, (url, response.body)
        lines = production_server.log_lines_after(mark)
        [line] = [json.loads(text) for text in lines]
        assert (line["logger"], line["status"], line["path"]) == ("burki.requests", status, url)
        assert line["request_id"] == response.header("X-Request-Id")
        logged.setdefault(status, []).append(line["message"])

    assert logged[404] == [message for message in logged[404] if " 404 (" in message]
