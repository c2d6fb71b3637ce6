"""The do-not-call list's API: add one or many (JSON or CSV, all or nothing), list, read, remove (admins), and the
voice engine's opt-out with a call's stream token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from calls.models import Call, Suppression
from calls.streams import stream_token_issue
from tests.factories import ApiKeyFactory, CallFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/suppressions"
BULK = "/api/v1/suppressions/bulk"
TO = "+14155550199"
NO_PLUS = "Must start with + and the country code (E.164), e.g. +14155550100."


def add(api: Any, phone_number: Any, **body: Any) -> Any:
    return api.post(URL, {"phone_number": phone_number, **body}, format="json")


def csv_post(api: Any, text: str | bytes) -> Any:
    content = text.encode() if isinstance(text, str) else text
    return api.generic("POST", BULK, content, content_type="text/csv")


def numbers(organization: Any) -> set[str]:
    return set(Suppression.objects.filter(organization=organization).values_list("phone_number", flat=True))


# --- one number -------------------------------------------------------------------------------------------------


def test_adding_a_number_normalizes_it_and_is_a_201(api: Any, organization: Any) -> None:
    response = add(api, "+1 (415) 555-0199", reason="Asked on the phone.")

    assert response.status_code == 201, response.content
    body = response.json()
    row = Suppression.objects.get()
    assert body == {
        "id": row.pk,
        "organization_id": organization.pk,
        "phone_number": TO,
        "reason": "Asked on the phone.",
        "source": "api",
        "call_id": None,
        "created_at": body["created_at"],
    }
    assert (row.organization, row.phone_number, row.source) == (organization, TO, "api")


def test_adding_a_number_again_is_a_200_with_the_entry_as_it_was(api: Any, organization: Any) -> None:
    first = add(api, TO, reason="first").json()

    again = add(api, "+1 415 555 0199", reason="second")

    assert again.status_code == 200, again.content
    assert again.json() == first
    assert Suppression.objects.get().reason == "first"


@pytest.mark.parametrize(
    ("phone_number", "message"),
    [
        ("4155550199", NO_PLUS),
        ("+1415", "Not a valid phone number."),
        ("+1 415 abc", "Only digits after the +, with optional spaces, dashes, dots or parentheses."),
        (14155550199, "Must be a string."),
        ("+1" + "5" * 40, "Ensure this field has no more than 32 characters."),
    ],
)
def test_a_number_that_is_not_one_is_refused_as_initiate_refuses_it(
    api: Any, number: Any, phone_number: Any, message: str
) -> None:
    response = add(api, phone_number)
    dial = api.post(
        "/api/v1/calls/initiate",
        {"from_phone_number": number.phone_number, "to_phone_number": phone_number},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid request.", "errors": {"phone_number": [message]}}
    assert dial.json()["errors"]["to_phone_number"] == [message]
    assert not Suppression.objects.exists()


def test_a_reason_over_500_characters_is_refused(api: Any) -> None:
    response = add(api, TO, reason="x" * 501)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["reason"]
    assert not Suppression.objects.exists()


def test_a_suppressed_number_is_refused_by_initiate_until_an_admin_removes_it(
    api: Any, number: Any, organization: Any, client_for: Any
) -> None:
    suppression_id = add(api, TO).json()["id"]
    dial = {"from_phone_number": number.phone_number, "to_phone_number": TO}

    refused = api.post("/api/v1/calls/initiate", dial, format="json")
    member = client_for(ApiKeyFactory(organization=organization, role="member").raw_key)
    by_member = member.delete(f"{URL}/{suppression_id}")
    by_admin = api.delete(f"{URL}/{suppression_id}")
    placed = api.post("/api/v1/calls/initiate", dial, format="json")

    assert refused.status_code == 403
    assert refused.json()["limit"] == "suppressed"
    assert by_member.status_code == 403
    assert by_member.json() == {
        "detail": "This requires the admin role; you act with the member role.",
        "required_role": "admin",
    }
    assert by_admin.status_code == 204
    assert placed.status_code == 200, placed.content
    assert not Suppression.objects.exists()


def test_a_member_reads_and_adds(organization: Any, client_for: Any) -> None:
    member = client_for(ApiKeyFactory(organization=organization, role="member").raw_key)

    created = add(member, TO)
    listed = member.get(URL)
    read = member.get(f"{URL}/{created.json()['id']}")
    bulk = member.post(BULK, {"items": ["+14155550198"]}, format="json")

    assert [created.status_code, listed.status_code, read.status_code, bulk.status_code] == [201, 200, 200, 200]
    assert numbers(organization) == {TO, "+14155550198"}


def test_another_organizations_entry_is_a_404_and_stays(api: Any) -> None:
    theirs = Suppression.objects.create(organization=OrganizationFactory(), phone_number=TO)

    responses = [api.get(f"{URL}/{theirs.pk}"), api.delete(f"{URL}/{theirs.pk}")]

    assert [response.status_code for response in responses] == [404, 404]
    assert all(response.json() == {"detail": "Suppression not found."} for response in responses)
    assert Suppression.objects.filter(pk=theirs.pk).exists()
    assert api.get(URL).json()["items"] == []


def test_the_same_number_can_be_on_two_organizations_lists(api: Any, organization: Any) -> None:
    other = OrganizationFactory()
    Suppression.objects.create(organization=other, phone_number=TO, reason="theirs")

    response = add(api, TO, reason="ours")

    assert response.status_code == 201
    assert Suppression.objects.get(organization=organization).reason == "ours"


# --- the list -----------------------------------------------------------------------------------------------------


def test_the_list_is_newest_first_and_pages_by_cursor(api: Any, organization: Any) -> None:
    for last in range(5):
        Suppression.objects.create(organization=organization, phone_number=f"+1415555019{last}")

    first = api.get(URL, {"limit": 2}).json()
    second = api.get(URL, {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.get(URL, {"limit": 2, "cursor": second["next_cursor"]}).json()

    shown = [item["phone_number"] for page in (first, second, third) for item in page["items"]]
    assert shown == [f"+1415555019{last}" for last in (4, 3, 2, 1, 0)]
    assert (first["total"], first["total_is_estimate"], third["next_cursor"]) == (5, False, None)


def test_the_list_filters_by_number_and_by_source(api: Any, organization: Any) -> None:
    Suppression.objects.create(organization=organization, phone_number=TO, source="csv")
    Suppression.objects.create(organization=organization, phone_number="+14155550198", source="opt-out")

    by_number = api.get(URL, {"phone_number": "+1 415-555-0199"}).json()
    by_source = api.get(URL, {"source": "opt-out"}).json()

    assert [item["phone_number"] for item in by_number["items"]] == [TO]
    assert [item["phone_number"] for item in by_source["items"]] == ["+14155550198"]
    assert by_source["total"] == 1


@pytest.mark.parametrize(("params", "field"), [({"source": "fax"}, "source"), ({"phone_number": "12"}, "phone_number")])
def test_an_invalid_filter_is_a_400_naming_it(api: Any, params: dict[str, str], field: str) -> None:
    response = api.get(URL, params)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


# --- bulk: JSON -------------------------------------------------------------------------------------------------------


def test_bulk_adds_merges_duplicates_and_reports_numbers_already_on_the_list(api: Any, organization: Any) -> None:
    Suppression.objects.create(organization=organization, phone_number="+14155550197", reason="kept")
    items = [
        {"phone_number": TO, "reason": "asked"},
        {"phone_number": "+1 415 555 0198"},
        {"phone_number": "+1 (415) 555-0199", "reason": "again"},
        "+14155550197",
    ]

    response = api.post(BULK, {"items": items, "reason": "CRM list"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "received": 4,
        "created": 2,
        "duplicates_merged": 1,
        "already_suppressed_count": 1,
        "already_suppressed": ["+14155550197"],
    }
    rows = {row.phone_number: (row.reason, row.source) for row in Suppression.objects.all()}
    assert rows == {
        TO: ("asked", "api"),
        "+14155550198": ("CRM list", "api"),
        "+14155550197": ("kept", "api"),
    }


def test_bulk_is_all_or_nothing_and_lists_each_refused_row(api: Any, organization: Any) -> None:
    items = [
        {"phone_number": TO},
        {"phone_number": "4155550198"},
        {"phone_number": "+14155550197", "reason": "x" * 501},
        {"reason": "no number"},
        7,
        {"phone_number": "+14155550196"},
    ]

    response = api.post(BULK, {"items": items}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "4 of 6 rows refused: nothing was added. Fix them and send the whole list again."
    assert body["refused_count"] == 4
    assert body["refused"] == [
        {"line": 2, "phone_number": "4155550198", "reason": NO_PLUS},
        {"line": 3, "phone_number": "+14155550197", "reason": "reason: At most 500 characters."},
        {"line": 4, "phone_number": "", "reason": "Must be a string in E.164 format, e.g. +14155550100."},
        {"line": 5, "phone_number": "7", "reason": "Must be a string in E.164 format, e.g. +14155550100."},
    ]
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": "+14155550199"},
        {"items": []},
        ["+14155550199"],
        {"items": ["+14155550199"], "reason": 5},
    ],
)
def test_a_bulk_body_of_the_wrong_shape_is_a_400(api: Any, body: Any) -> None:
    response = api.post(BULK, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert not Suppression.objects.exists()


def test_more_than_10000_rows_are_refused_whole(api: Any) -> None:
    items = [f"+1415555{n:04d}" for n in range(10_001)]

    response = api.post(BULK, {"items": items}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Too many rows: at most 10,000 per request")
    assert not Suppression.objects.exists()


def test_a_body_over_4_mb_is_a_413(api: Any) -> None:
    response = api.post(BULK, {"items": [{"phone_number": TO, "reason": "x" * 500}] * 9000}, format="json")

    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_10000_new_numbers_are_added_in_one_request(api: Any, organization: Any) -> None:
    # Valid, distinct US numbers: +1 415 2xx xxxx.
    items = [f"+1415{2000000 + n}" for n in range(10_000)]

    response = api.post(BULK, {"items": items}, format="json")

    assert response.status_code == 200, response.content[:500]
    assert response.json()["created"] == 10_000
    assert Suppression.objects.filter(organization=organization).count() == 10_000


# --- bulk: CSV --------------------------------------------------------------------------------------------------------


def test_a_csv_body_adds_its_rows_with_source_csv(api: Any, organization: Any) -> None:
    text = "name,Phone_Number,reason\r\nAnn,+14155550199,asked twice\r\n\r\nBob,+1 415 555 0198,\r\n"

    response = csv_post(api, text)

    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2
    rows = {row.phone_number: (row.reason, row.source) for row in Suppression.objects.all()}
    assert rows == {TO: ("asked twice", "csv"), "+14155550198": ("", "csv")}


def test_a_csv_file_uploaded_as_a_form_is_read_the_same_way(api: Any, organization: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("dnc.csv", b"\xef\xbb\xbfphone_number\n+14155550199\n", content_type="text/csv")

    response = api.post(BULK, {"file": upload, "reason": "From the CRM"}, format="multipart")

    assert response.status_code == 200, response.content
    row = Suppression.objects.get()
    assert (row.phone_number, row.reason, row.source) == (TO, "From the CRM", "csv")


def test_a_form_without_a_file_is_a_400(api: Any) -> None:
    response = api.post(BULK, {"reason": "x"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["errors"] == {"file": ["Required."]}


def test_a_csv_with_a_bad_row_refuses_the_file_naming_its_line(api: Any) -> None:
    text = "phone_number,reason\n+14155550199,ok\n+1 415 555,bad\n\n+14155550198,ok\n999,emergency\n"

    response = csv_post(api, text)

    assert response.status_code == 400
    assert response.json()["refused"] == [
        {"line": 3, "phone_number": "+1 415 555", "reason": "Not a valid phone number."},
        {"line": 6, "phone_number": "999", "reason": NO_PLUS},
    ]
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "The CSV file is empty."),
        (b"number,reason\n+14155550199,x\n", "The CSV file has no phone_number column"),
        (b"phone_number\n+1415\xff\xfe\n", "The CSV file is not UTF-8 text."),
        (b"phone_number\n+14155550199\x00\n", "The CSV file holds a NUL character."),
        (b'phone_number\n"+14155550199\n', "The CSV file cannot be read"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "The CSV file"),
    ],
)
def test_a_file_that_is_not_such_a_csv_is_a_clear_400(api: Any, content: bytes, detail: str) -> None:
    response = csv_post(api, content)

    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith(detail)
    assert not Suppression.objects.exists()


def test_a_csv_of_more_than_10000_rows_is_refused_whole(api: Any) -> None:
    text = "phone_number\n" + "".join(f"+1415{2000000 + n}\n" for n in range(10_001))

    response = csv_post(api, text)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Too many rows")
    assert not Suppression.objects.exists()


def test_neither_json_nor_csv_is_a_415(api: Any) -> None:
    response = api.generic("POST", BULK, b"<rows/>", content_type="application/xml")

    assert response.status_code == 415
    assert "detail" in response.json()


# --- the voice engine's opt-out -------------------------------------------------------------------------------------


def opt_out(client_for: Any, call: Call, token: str | None = None, **body: Any) -> Any:
    return client_for(token or stream_token_issue(call)).post(f"/api/v1/calls/{call.pk}/opt-out", body, format="json")


@pytest.fixture
def live_call(organization: Any) -> Any:
    return CallFactory(organization=organization, to_number=TO, status="in-progress")


def test_an_opt_out_suppresses_the_callee_at_once(
    live_call: Call, client_for: Any, api: Any, number: Any, organization: Any
) -> None:
    response = opt_out(client_for, live_call, reason="Said: stop calling me.")
    dial = api.post(
        "/api/v1/calls/initiate", {"from_phone_number": number.phone_number, "to_phone_number": TO}, format="json"
    )

    assert response.status_code == 201, response.content
    row = Suppression.objects.get()
    assert (row.organization, row.phone_number, row.source, row.call, row.reason) == (
        organization,
        TO,
        "opt-out",
        live_call,
        "Said: stop calling me.",
    )
    assert response.json()["call_id"] == live_call.pk
    assert dial.status_code == 403
    assert dial.json()["limit"] == "suppressed"


def test_an_opt_out_is_idempotent(live_call: Call, client_for: Any) -> None:
    first = opt_out(client_for, live_call)
    again = opt_out(client_for, live_call, reason="said it again")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["reason"] == "Opted out during the call."
    assert Suppression.objects.count() == 1


def test_a_stream_token_of_another_call_cannot_opt_out_its_callee(
    live_call: Call, client_for: Any, organization: Any
) -> None:
    mine = CallFactory(organization=organization, to_number="+14155550198", status="in-progress")

    response = opt_out(client_for, live_call, token=stream_token_issue(mine))

    assert response.status_code == 404
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("credential", ["api_key", "forged", "none"])
def test_an_opt_out_needs_the_calls_own_stream_token(
    live_call: Call, client_for: Any, api_key: Any, credential: str
) -> None:
    path = f"/api/v1/calls/{live_call.pk}/opt-out"
    if credential == "none":
        from rest_framework.test import APIClient

        response = APIClient().post(path, {}, format="json")
    else:
        token = api_key.raw_key if credential == "api_key" else stream_token_issue(live_call)[:-4] + "AAAA"
        response = client_for(token).post(path, {}, format="json")

    assert response.status_code == 401
    assert not Suppression.objects.exists()


def test_a_token_minted_for_a_call_whose_secret_token_changed_opens_nothing(live_call: Call, client_for: Any) -> None:
    token = stream_token_issue(live_call)
    Call.objects.filter(pk=live_call.pk).update(token="rotated")

    assert opt_out(client_for, live_call, token=token).status_code == 401
    assert not Suppression.objects.exists()


def test_an_opt_out_just_after_the_call_ended_still_counts(live_call: Call, client_for: Any) -> None:
    Call.objects.filter(pk=live_call.pk).update(status="completed", ended_at=timezone.now() - timedelta(minutes=9))
    live_call.refresh_from_db()

    response = opt_out(client_for, live_call)

    assert response.status_code == 201, response.content
    assert Suppression.objects.get().phone_number == TO


def test_an_opt_out_long_after_the_call_ended_is_a_409(live_call: Call, client_for: Any) -> None:
    token = stream_token_issue(live_call)
    Call.objects.filter(pk=live_call.pk).update(status="completed", ended_at=timezone.now() - timedelta(minutes=11))

    with override_settings(STREAM_TOKEN_TTL=3600):
        response = opt_out(client_for, live_call, token=token)

    assert response.status_code == 409
    assert response.json()["call_id"] == live_call.pk
    assert not Suppression.objects.exists()


def test_an_expired_stream_token_is_a_401(live_call: Call, client_for: Any) -> None:
    token = stream_token_issue(live_call)

    with override_settings(STREAM_TOKEN_TTL=-1):
        response = opt_out(client_for, live_call, token=token)

    assert response.status_code == 401
    assert not Suppression.objects.exists()


def test_an_opt_out_reason_over_500_characters_is_a_400(live_call: Call, client_for: Any) -> None:
    response = opt_out(client_for, live_call, reason="x" * 501)

    assert response.status_code == 400
    assert not Suppression.objects.exists()


def test_a_bulk_add_reads_and_inserts_in_batches_not_row_by_row(api: Any, organization: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    items = [f"+1415{2000000 + n}" for n in range(2_500)]
    Suppression.objects.create(organization=organization, phone_number=items[0])

    with CaptureQueriesContext(connection) as queries:
        response = api.post(BULK, {"items": items}, format="json")

    assert response.status_code == 200, response.content[:300]
    assert response.json()["created"] == 2_499
    statements = [
        query["sql"].split(" ", 1)[0] for query in queries.captured_queries if "calls_suppression" in query["sql"]
    ]
    # One lookup of the numbers on the list per 1,000 rows; one INSERT for all on PostgreSQL (elsewhere Django's
    # bulk_create, in batches: SQLite allows 999 parameters a statement, 166 rows).
    assert statements.count("SELECT") == 3
    assert statements.count("INSERT") == (1 if connection.vendor == "postgresql" else 16)
    assert len(statements) == statements.count("SELECT") + statements.count("INSERT")
