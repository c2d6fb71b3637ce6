"""No input, however malformed, gets a 500; and every request leaves one log line that gives nothing away."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from assistants.models import Assistant, ConversationFlow
from calls.models import Call
from telephony.backends import sandbox
from tests.factories import SIMPLE_FLOW, AssistantFactory, CallFactory

pytestmark = pytest.mark.django_db

LIMIT = 64 * 1024
TOO_LARGE = {"detail": "Request body too large (limit 65536 bytes)."}
UNAVAILABLE = {"detail": "Service temporarily unavailable."}
INITIATE = {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199"}


@pytest.fixture
def webhook_path(organization: Any) -> str:
    call = CallFactory(organization=organization)
    return f"/telephony/sandbox/status/{call.token}"


# --- request size -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/calls/initiate", "/api/v1/assistants", "webhook"])
def test_a_body_over_64_kb_with_a_content_length_is_413(api: APIClient, webhook_path: str, path: str) -> None:
    path = webhook_path if path == "webhook" else path

    response = api.generic("POST", path, b"x" * (LIMIT + 1), content_type="application/json")

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


def test_a_body_of_exactly_64_kb_reaches_the_view(api: APIClient) -> None:
    response = api.generic("POST", "/calls/initiate", b" " * LIMIT, content_type="application/json")

    assert response.status_code == 400  # an empty JSON document, judged by the view: not refused for its size
    assert "JSON" in response.json()["detail"]


def test_flows_are_allowed_larger_bodies_but_not_unbounded_ones(api: APIClient) -> None:
    # A flow's definition may be 256 KB: its own validation answers up to 1 MB of body, this limit beyond.
    larger = api.generic("POST", "/api/v1/flows", b" " * (LIMIT + 1), content_type="application/json")
    too_large = api.generic("POST", "/api/v1/flows", b" " * (1024 * 1024 + 1), content_type="application/json")

    assert larger.status_code == 400
    assert too_large.status_code == 413
    assert too_large.json() == {"detail": "Request body too large (limit 1048576 bytes)."}


def gunicorn_chunked(body: bytes, **environ: Any) -> dict[str, Any]:
    """The WSGI environ of a chunked request as gunicorn passes it on: no Content-Length, the input de-chunked."""
    return {
        "wsgi.input": BytesIO(body),
        "wsgi.input_terminated": True,
        "HTTP_TRANSFER_ENCODING": "chunked",
        **environ,
    }


@pytest.mark.parametrize("path", ["/calls/initiate", "webhook"])
def test_a_chunked_body_over_64_kb_is_413_under_wsgi(api: APIClient, webhook_path: str, path: str) -> None:
    path = webhook_path if path == "webhook" else path

    response = api.generic("POST", path, "", "application/json", **gunicorn_chunked(b"x" * (LIMIT + 1)))

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


def test_a_chunked_body_within_the_limit_is_read_like_any_other(api: APIClient, number: Any) -> None:
    # Django alone takes a body without Content-Length for an empty one: this call would be a 400.
    body = json.dumps(INITIATE).encode()

    response = api.generic("POST", "/calls/initiate", "", "application/json", **gunicorn_chunked(body))

    assert response.status_code == 200, response.content
    assert Call.objects.get(pk=response.json()["call_id"]).to_number == "+14155550199"


def test_a_chunked_body_the_server_does_not_pass_on_is_411_not_silently_empty(api: APIClient) -> None:
    # runserver (wsgiref) neither de-chunks nor says so: the view would see no body at all.
    response = api.generic("POST", "/calls/initiate", "", "application/json", HTTP_TRANSFER_ENCODING="chunked")

    assert response.status_code == 411
    assert "Content-Length" in response.json()["detail"]


def asgi_post(path: str, body: bytes, headers: dict[str, str], *, chunk: int = 16 * 1024) -> tuple[int, bytes]:
    """POST through Django's real ASGI handler, the body in several messages and no Content-Length, as an ASGI
    server passes on a chunked request."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"testserver"), (b"transfer-encoding", b"chunked")]
        + [(name.lower().encode(), value.encode()) for name, value in headers.items()],
    }

    async def exchange() -> tuple[int, bytes]:
        app = ApplicationCommunicator(ASGIHandler(), scope)
        for start in range(0, len(body), chunk):
            await app.send_input({"type": "http.request", "body": body[start : start + chunk], "more_body": True})
        await app.send_input({"type": "http.request", "body": b"", "more_body": False})
        head = await app.receive_output(timeout=10)
        content = b""
        while True:
            message = await app.receive_output(timeout=10)
            content += message.get("body", b"")
            if not message.get("more_body"):
                break
        await app.wait(timeout=10)
        return head["status"], content

    return async_to_sync(exchange)()


@pytest.mark.parametrize("path", ["/calls/initiate", "webhook"])
def test_a_chunked_body_over_64_kb_is_413_under_asgi(api_key: Any, webhook_path: str, path: str) -> None:
    path = webhook_path if path == "webhook" else path
    headers = {"Authorization": f"Bearer {api_key.raw_key}", "Content-Type": "application/json"}

    status, content = asgi_post(path, b"x" * (LIMIT + 1), headers)

    assert (status, json.loads(content)) == (413, TOO_LARGE)


@pytest.mark.django_db(transaction=True)  # the view runs in a thread of its own, with a connection of its own
def test_a_chunked_body_within_the_limit_reaches_the_api_under_asgi(api_key: Any, number: Any) -> None:
    headers = {"Authorization": f"Bearer {api_key.raw_key}", "Content-Type": "application/json"}
    body = json.dumps({**INITIATE, "agenda": "a" * 3000}).encode()

    status, content = asgi_post("/calls/initiate", body, headers, chunk=512)  # in 7 messages

    assert status == 200, content
    assert Call.objects.get(pk=json.loads(content)["call_id"]).agenda == "a" * 3000


@pytest.mark.parametrize("path", ["/calls/initiate", "/admin/login/", "webhook"])
def test_a_malformed_content_length_is_400_not_a_crash(api: APIClient, webhook_path: str, path: str) -> None:
    path = webhook_path if path == "webhook" else path

    response = api.generic("POST", path, b"a=b", content_type="application/x-www-form-urlencoded", CONTENT_LENGTH="1x")

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid Content-Length header."}


def test_the_api_answers_413_for_django_s_own_size_check_too(api: APIClient, settings: Any) -> None:
    # Without the middleware, Django's check fires inside DRF's parser: that too is a 413, not a 500.
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if not name.endswith("RequestBodyLimitMiddleware")]

    response = api.generic("POST", "/calls/initiate", b"x" * (LIMIT + 1), content_type="application/json")

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


# --- database unavailable ----------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def unreachable_database(tmp_path: Path) -> Iterator[None]:
    """The default database, pointed at one that cannot be opened: the next query really tries, and fails."""
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    # Set aside rather than closed: closing SQLite's in-memory test database would delete it.
    held = connection.connection
    connection.connection = None
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = str(tmp_path / "no-such-directory" / "burki.sqlite3")
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        yield
    finally:
        if connection.connection is not None:  # it did connect after all: the assertions will say so
            connection.close()
        settings_dict.clear()
        settings_dict.update(saved)
        connection.connection = held
        connection.errors_occurred = False


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_503_with_retry_after(api: APIClient, webhook_path: str, tmp_path: Path) -> None:
    with unreachable_database(tmp_path):
        api_response = api.get("/api/v1/calls")
        webhook = Client().post(webhook_path, data=b"{}", content_type="application/json")
        health = Client().get("/healthz")

    for response in (api_response, webhook):  # a DRF view, and a plain Django view
        assert response.status_code == 503
        assert response["Content-Type"] == "application/json"
        assert response.json() == UNAVAILABLE
        assert response["Retry-After"] == "5"
    assert health.status_code == 503
    # The database is back, and so is everything else.
    assert api.get("/api/v1/calls").status_code == 200


# --- request log -------------------------------------------------------------------------------------------------


@pytest.fixture
def log_output(caplog: pytest.LogCaptureFixture) -> Iterator[StringIO]:
    """Everything the console handler of settings.LOGGING writes (filters and formatter applied) during the test."""
    caplog.set_level(logging.INFO)
    output = StringIO()
    [handler] = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    assert isinstance(handler, logging.StreamHandler)
    stream = handler.setStream(output)
    yield output
    handler.setStream(stream)


def request_lines(output: StringIO) -> list[dict[str, Any]]:
    """The request log's lines (every line is JSON outside DEBUG)."""
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "burki.requests"]


def test_each_request_logs_one_json_line_under_the_id_it_returns(
    api: APIClient, organization: Any, log_output: StringIO
) -> None:
    response = api.get("/api/v1/calls?customer_phone=%2B14155550199&limit=5")

    [line] = request_lines(log_output)
    assert response.status_code == 200
    assert line["request_id"] == response["X-Request-Id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/calls", 200)
    assert (line["organization_id"], line["client_ip"]) == (organization.pk, "127.0.0.1")
    assert isinstance(line["duration_ms"], float)
    assert "limit=5" not in log_output.getvalue()


def test_a_well_formed_request_id_from_the_client_is_kept(api: APIClient, log_output: StringIO) -> None:
    response = api.get("/api/v1/calls", HTTP_X_REQUEST_ID="lb-7f3a.2_x")

    assert response["X-Request-Id"] == "lb-7f3a.2_x"
    assert request_lines(log_output)[0]["request_id"] == "lb-7f3a.2_x"


@pytest.mark.parametrize("offered", ["", "has space", "x" * 129, "line\nbreak", "ünï"])
def test_a_malformed_request_id_is_replaced(api: APIClient, log_output: StringIO, offered: str) -> None:
    response = api.get("/api/v1/calls", HTTP_X_REQUEST_ID=offered)

    assert response["X-Request-Id"] != offered
    assert len(response["X-Request-Id"]) == 32
    assert request_lines(log_output)[0]["request_id"] == response["X-Request-Id"]


def test_an_early_refusal_is_logged_with_its_id_too(api: APIClient, log_output: StringIO) -> None:
    response = api.generic("POST", "/calls/initiate", b"x" * (LIMIT + 1), content_type="application/json")

    [line] = request_lines(log_output)
    assert (line["status"], line["request_id"]) == (413, response["X-Request-Id"])


def test_the_webhook_token_never_reaches_the_log(webhook_path: str, log_output: StringIO) -> None:
    token = webhook_path.rsplit("/", 1)[1]

    refused = Client().post(webhook_path, data=b"{}", content_type="application/json")  # unsigned
    too_large = Client().post(webhook_path, data=b"x" * (LIMIT + 1), content_type="application/json")
    wrong_method = Client().put(webhook_path)

    assert (refused.status_code, too_large.status_code, wrong_method.status_code) == (403, 413, 405)
    assert [line["path"] for line in request_lines(log_output)] == ["/telephony/sandbox/status/…"] * 3
    assert token not in log_output.getvalue()


def test_the_authorization_header_is_never_logged(api_key: Any, client_for: Any, log_output: StringIO) -> None:
    client_for(api_key.raw_key).get("/api/v1/calls")
    client_for(api_key.raw_key + "-wrong").get("/api/v1/calls")

    assert [line["status"] for line in request_lines(log_output)] == [200, 401]
    assert api_key.raw_key not in log_output.getvalue()
    assert "Bearer" not in log_output.getvalue()


def test_phone_numbers_are_masked_in_every_log_line(api: APIClient, log_output: StringIO) -> None:
    api.get("/api/v1/calls/sid/+14155550199")
    logging.getLogger("calls.services").warning("Could not reach %s, then %s", "+44 20 7183 8750", "%2B14155550123")

    written = log_output.getvalue()
    assert request_lines(log_output)[0]["path"] == "/api/v1/calls/sid/…0199"
    assert "Could not reach …8750, then …0123" in written
    for digits in ("4155550199", "7183 8750", "4155550123"):
        assert digits not in written


def test_a_traceback_in_the_log_is_masked_too(log_output: StringIO) -> None:
    try:
        raise ValueError("refused +14155550177")
    except ValueError:
        logging.getLogger("calls.services").exception("Dial failed")

    assert "refused …0177" in log_output.getvalue()
    assert "4155550177" not in log_output.getvalue()


# --- text no database can store: NUL characters and lone surrogates ---------------------------------------------

UNSTORABLE = ["Contains a NUL character or an invalid Unicode surrogate."]
SECRET = "sk-live-secret-value-8841"


def invalid(errors: dict[str, Any]) -> dict[str, Any]:
    return {"detail": "Invalid request.", "errors": errors}


NUMBERS = {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199"}
BODIES: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "llm_settings.prompt": (
        "/api/v1/assistants",
        lambda bad: {"name": "A", "llm_settings": {"api_key": SECRET, "prompt": f"x{bad}y"}},
    ),
    "tts_settings.voices[1].id": (
        "/api/v1/assistants",
        lambda bad: {"name": "A", "tts_settings": {"voices": [{"id": 1}, {"id": bad}]}},
    ),
    "name": ("/api/v1/assistants", lambda bad: {"name": f"A{bad}"}),
    "definition.nodes[0].prompt": (
        "/api/v1/flows",
        lambda bad: {"name": "F", "base_assistant_id": 1, "definition": {"nodes": [{"prompt": bad}]}},
    ),
    "variables.name": ("/calls/initiate", lambda bad: {**NUMBERS, "variables": {"name": bad}}),
    "from_phone_number": ("/api/v1/calls/validate", lambda bad: {**NUMBERS, "from_phone_number": f"+1415555{bad}0100"}),
}
# A NUL, the first and last lone surrogates, and a low one amid text (chr(): ruff reads surrogate literals as one).
BAD_TEXT = ["\x00", chr(0xD800), chr(0xDFFF), f"lone {chr(0xDC00)} low"]


@pytest.mark.parametrize("bad", BAD_TEXT, ids=["nul", "d800", "dfff", "dc00"])
@pytest.mark.parametrize("field", list(BODIES))
def test_a_nul_or_lone_surrogate_anywhere_in_a_json_body_is_400_naming_the_field(
    api: APIClient, number: Any, field: str, bad: str
) -> None:
    path, body = BODIES[field]
    assistants_before = list(Assistant.objects.values_list("pk", flat=True))

    # json.dumps writes them as JSON escapes ("\u0000", "\ud800"), as an attacker would.
    response = api.generic("POST", path, json.dumps(body(bad)), "application/json")

    assert response.status_code == 400, response.content
    assert response.json() == invalid({field: UNSTORABLE})
    assert list(Assistant.objects.values_list("pk", flat=True)) == assistants_before
    assert not Call.objects.exists()
    assert sandbox.outbox == []


def test_a_nul_in_a_patch_is_400_and_changes_nothing(api: APIClient, organization: Any) -> None:
    assistant = AssistantFactory(organization=organization, custom_settings={"a": "kept"})

    response = api.generic(
        "PATCH", f"/api/v1/assistants/{assistant.pk}", '{"custom_settings": {"a": "\\u0000"}}', "application/json"
    )

    assert response.status_code == 400
    assert response.json() == invalid({"custom_settings.a": UNSTORABLE})
    assistant.refresh_from_db()
    assert assistant.custom_settings == {"a": "kept"}


def test_a_bad_key_is_named_by_its_escape_and_a_bad_document_by_non_field_errors(api: APIClient) -> None:
    bad_key = api.generic(
        "POST", "/api/v1/assistants", '{"name": "A", "custom_settings": {"a\\u0000b": 1}}', "application/json"
    )
    bad_root = api.generic("POST", "/api/v1/assistants", '"\\ud83d"', "application/json")

    assert bad_key.status_code == bad_root.status_code == 400
    assert bad_key.json() == invalid({"custom_settings.a\\u0000b": UNSTORABLE})
    assert bad_root.json() == invalid({"non_field_errors": UNSTORABLE})
    assert not Assistant.objects.exists()


def test_a_document_full_of_nuls_is_answered_naming_at_most_ten(api: APIClient) -> None:
    body = json.dumps({"name": "A", "custom_settings": {f"k{i}": "\x00" for i in range(500)}})

    response = api.generic("POST", "/api/v1/assistants", body, "application/json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [f"custom_settings.k{i}" for i in range(10)]


def test_a_well_formed_surrogate_pair_is_ordinary_text(api: APIClient) -> None:
    response = api.generic(
        "POST",
        "/api/v1/assistants",
        '{"name": "\\ud83d\\ude00", "custom_settings": {"e": "\\ud83d\\ude00"}}',
        "application/json",
    )

    assert response.status_code == 201, response.content
    assert Assistant.objects.get().custom_settings == {"e": "\U0001f600"}


def test_a_refused_body_leaves_no_secret_and_no_phone_number_in_the_log(
    api: APIClient, number: Any, log_output: StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    settings_body = json.dumps({"name": "A", "llm_settings": {"api_key": SECRET, "prompt": "\x00"}})
    initiate_body = json.dumps(
        {
            "from_phone_number": "+14155550100",
            "to_phone_number": "+14155550199",
            "variables": {"token": SECRET, "phone": "+14155550123", "x": "\ud800"},
        }
    )

    created = api.generic("POST", "/api/v1/assistants", settings_body, "application/json")
    placed = api.generic("POST", "/calls/initiate", initiate_body, "application/json")

    assert (created.status_code, placed.status_code) == (400, 400)
    for written in (log_output.getvalue(), caplog.text):
        assert SECRET not in written
        for digits in ("4155550100", "4155550199", "4155550123"):
            assert digits not in written
    assert [line["status"] for line in request_lines(log_output)] == [400, 400]


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    [
        ("GET", "/api/v1/calls/sid/%00abc", "call_sid"),
        ("POST", "/api/v1/calls/CA%00/terminate", "call_sid"),
        ("POST", "/telephony/sandbox/status/%00", "token"),
        ("GET", "/telephony/sandbox/answer/abc%00def", "token"),
    ],
)
def test_a_nul_in_a_path_parameter_is_400_naming_it(
    api: APIClient, organization: Any, method: str, path: str, parameter: str
) -> None:
    CallFactory(organization=organization, call_sid="CA")

    response = api.generic(method, path)

    assert response.status_code == 400, response.content
    assert response.json() == invalid({parameter: UNSTORABLE})


def test_a_percent_encoded_surrogate_in_a_path_is_just_not_found(api: APIClient) -> None:
    # Django keeps bytes that are not UTF-8 (a surrogate's included) percent-encoded: it never becomes a surrogate.
    response = api.get("/api/v1/calls/sid/%ED%A0%80")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("customer_phone=%00", "customer_phone"),
        ("call_sid=CA%00&status=completed", "call_sid"),
        ("limit=5&%00=1", "\\u0000"),
        ("status=a&status=%00", "status"),
    ],
)
def test_a_nul_in_the_query_string_is_400_naming_the_parameter(api: APIClient, query: str, parameter: str) -> None:
    response = api.get(f"/api/v1/calls?{query}")

    assert response.status_code == 400
    assert response.json() == invalid({parameter: UNSTORABLE})


def test_a_nul_in_the_query_string_of_a_plain_django_view_is_400_too(admin_client: Any) -> None:
    response = admin_client.get("/admin/calls/call/?q=%00")

    assert response.status_code == 400
    assert response.json() == invalid({"q": UNSTORABLE})


@pytest.mark.parametrize("bad", BAD_TEXT, ids=["nul", "d800", "dfff", "dc00"])
def test_the_admin_refuses_json_with_text_no_database_stores_as_a_form_error(
    admin_client: Any, organization: Any, bad: str
) -> None:
    assistant = AssistantFactory(organization=organization, name="Base")
    definition = {**SIMPLE_FLOW, "runtime": {"say": [f"hi{bad}"]}}

    response = admin_client.post(
        "/admin/assistants/conversationflow/add/",
        {
            "organization": organization.pk,
            "name": "Flow",
            "base_assistant": assistant.pk,
            "is_active": "on",
            "definition": json.dumps(definition),
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["definition"] == [
        "A NUL character or an invalid Unicode surrogate in runtime.say[0]."
    ]
    assert not ConversationFlow.objects.exists()
