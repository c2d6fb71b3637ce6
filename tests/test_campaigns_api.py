"""Campaigns through the API: settings checked, contacts imported all or nothing, the user's actions, results."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from calls.models import Suppression
from campaigns.models import Campaign, CampaignContact
from tests.factories import AssistantFactory, CallFactory, OrganizationFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db

FROM = "+14155550100"
BASE = "/api/v1/campaigns"


def create(api: Any, **fields: Any) -> Any:
    body = {"name": "Reminders", "from_numbers": [FROM], **fields}
    return api.post(BASE, body, format="json")


@pytest.fixture
def campaign(api: Any, number: Any) -> dict[str, Any]:
    response = create(api, welcome_message="Hi {{ first_name }}", max_attempts=3)
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def import_json(api: Any, campaign_id: int, contacts: list[Any]) -> Any:
    return api.post(f"{BASE}/{campaign_id}/contacts", {"contacts": contacts}, format="json")


def import_csv(api: Any, campaign_id: int, text: str | bytes, *, multipart: bool = False) -> Any:
    data = text.encode() if isinstance(text, str) else text
    if multipart:
        upload = io.BytesIO(data)
        upload.name = "contacts.csv"
        return api.post(f"{BASE}/{campaign_id}/contacts", {"file": upload}, format="multipart")
    return api.post(f"{BASE}/{campaign_id}/contacts", data, content_type="text/csv")


def contact(phone: str, **variables: Any) -> dict[str, Any]:
    return {"phone_number": phone, "variables": {"first_name": "Ann", **variables}}


# --- create ---------------------------------------------------------------------------------------------------------


def test_create_stores_a_draft_with_every_setting(api: Any, number: Any) -> None:
    response = create(
        api,
        from_numbers=["+1 (415) 555-0100"],
        agenda="Remind {{ first_name }}",
        starts_at="2030-01-01T08:00:00Z",
        ends_at="2030-01-05T22:00:00Z",
        window_days=[0, 2, 4],
        window_start="10:30",
        window_end="18:00",
        max_concurrent_calls=2,
        retry_on=["busy", "failed"],
        max_attempts=4,
        retry_delay_seconds=600,
        call_options={"machine_detection": "hangup", "ring_timeout_seconds": 20},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["from_numbers"] == [FROM]
    assert body["window_start"] == "10:30"
    assert body["progress"]["total"] == 0
    stored = Campaign.objects.get(pk=body["id"])
    assert stored.organization == number.organization
    assert stored.window_days == [0, 2, 4]
    assert stored.retry_on == ["busy", "failed"]
    assert stored.max_attempts == 4
    assert stored.call_options == {"machine_detection": "hangup", "ring_timeout_seconds": 20}
    assert stored.ends_at == datetime(2030, 1, 5, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"from_numbers": []}, "from_numbers"),
        ({"from_numbers": ["+14155550177"]}, "from_numbers"),  # not the organization's
        ({"from_numbers": [FROM, FROM]}, "from_numbers"),
        ({"from_numbers": ["911"]}, "from_numbers"),
        ({"assistant_id": 10**9}, "assistant_id"),
        ({"welcome_message": "Hi {{ name.__class__ }} {% x %} {{ a b }}"}, "welcome_message"),
        ({"window_days": [7]}, "window_days"),
        ({"window_days": []}, "window_days"),
        ({"window_days": [1, 1]}, "window_days"),
        ({"window_start": "20:00", "window_end": "09:00"}, "window_end"),
        ({"window_start": "25:00"}, "window_start"),
        ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
        ({"max_concurrent_calls": 10**6}, "max_concurrent_calls"),
        ({"retry_on": ["voicemail"]}, "retry_on"),
        ({"retry_on": ["busy", "busy"]}, "retry_on"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"retry_delay_seconds": 5}, "retry_delay_seconds"),
        ({"retry_delay_seconds": 10**8}, "retry_delay_seconds"),
        ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
        ({"ends_at": "2001-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "9999-12-31T23:00:00Z"}, "starts_at"),
        ({"window_start": "09:00:00+02:00"}, "window_start"),
        ({"call_options": {"record": "yes"}}, "call_options"),
        ({"call_options": {"dial_anything": 1}}, "call_options"),
        ({"name": ""}, "name"),
        ({"color": "red"}, "color"),
    ],
)
def test_create_refuses_invalid_settings_naming_the_field(
    api: Any, number: Any, fields: dict[str, Any], field: str
) -> None:
    response = create(api, **fields)

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Campaign.objects.exists()


def test_create_refuses_another_organizations_number_and_assistant(api: Any, number: Any) -> None:
    theirs = PhoneNumberFactory(phone_number="+14155550188")

    response = create(api, from_numbers=[theirs.phone_number], assistant_id=theirs.assistant.pk)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["from_numbers"] == ["No phone number +14155550188 in your organization."]
    assert errors["assistant_id"] == [f"No assistant {theirs.assistant.pk} in your organization."]
    assert not Campaign.objects.exists()


def test_create_refuses_an_inactive_number(api: Any, number: Any) -> None:
    number.is_active = False
    number.save()

    response = create(api)

    assert response.status_code == 400
    assert response.json()["errors"]["from_numbers"] == [f"{FROM} is inactive."]


def test_the_concurrency_cap_is_the_organizations_at_most(api: Any, number: Any) -> None:
    organization = number.organization
    organization.max_concurrent_calls = 3
    organization.save()

    assert create(api, max_concurrent_calls=4).status_code == 400
    assert create(api, max_concurrent_calls=3).status_code == 201


# --- list, get, update, delete --------------------------------------------------------------------------------------


def test_list_is_newest_first_and_filters_by_status(api: Any, number: Any) -> None:
    first = create(api, name="A").json()
    second = create(api, name="B").json()
    Campaign.objects.filter(pk=first["id"]).update(status="running")

    everything = api.get(BASE).json()
    running = api.get(BASE, {"status": "running"}).json()

    assert [item["id"] for item in everything["items"]] == [second["id"], first["id"]]
    assert everything["total"] == 2
    assert everything["items"][0]["progress"] is None
    assert [item["id"] for item in running["items"]] == [first["id"]]
    assert api.get(BASE, {"status": "nope"}).status_code == 400


def test_update_changes_a_draft_and_checks_the_whole(api: Any, campaign: dict[str, Any]) -> None:
    url = f"{BASE}/{campaign['id']}"

    changed = api.patch(url, {"window_start": "08:00", "name": "Renamed"}, format="json")
    refused = api.patch(url, {"window_end": "07:00"}, format="json")

    assert changed.status_code == 200, changed.content
    assert refused.status_code == 400
    assert "window_end" in refused.json()["errors"]
    stored = Campaign.objects.get(pk=campaign["id"])
    assert stored.name == "Renamed"
    assert stored.window_start.hour == 8
    assert stored.window_end.hour == 20


def test_update_and_delete_of_a_running_campaign_are_409(api: Any, campaign: dict[str, Any]) -> None:
    Campaign.objects.filter(pk=campaign["id"]).update(status="running")
    url = f"{BASE}/{campaign['id']}"

    patched = api.patch(url, {"name": "x"}, format="json")
    deleted = api.delete(url)

    assert patched.status_code == 409
    assert patched.json()["status"] == "running"
    assert patched.json()["campaign_id"] == campaign["id"]
    assert deleted.status_code == 409
    assert Campaign.objects.get(pk=campaign["id"]).name == "Reminders"


@pytest.mark.parametrize("status", ["draft", "completed", "canceled"])
def test_delete_removes_a_draft_or_finished_campaign_with_its_contacts(
    api: Any, campaign: dict[str, Any], status: str
) -> None:
    assert import_json(api, campaign["id"], [contact("+14155550199")]).status_code == 201
    Campaign.objects.filter(pk=campaign["id"]).update(status=status)

    response = api.delete(f"{BASE}/{campaign['id']}")

    assert response.status_code == 204
    assert not Campaign.objects.exists()
    assert not CampaignContact.objects.exists()


def test_another_organizations_campaign_is_404_everywhere(api: Any, number: Any) -> None:
    other = OrganizationFactory()
    theirs = Campaign.objects.create(organization=other, name="Theirs", from_numbers=["+14155550188"])
    url = f"{BASE}/{theirs.pk}"

    responses = [
        api.get(url),
        api.patch(url, {"name": "mine"}, format="json"),
        api.delete(url),
        api.get(f"{url}/contacts"),
        import_json(api, theirs.pk, [contact("+14155550199")]),
        api.post(f"{url}/start"),
        api.post(f"{url}/cancel"),
        api.get(f"{url}/results.csv"),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert Campaign.objects.get(pk=theirs.pk).name == "Theirs"
    assert not CampaignContact.objects.exists()


# --- contacts -------------------------------------------------------------------------------------------------------


def test_json_import_stores_each_contact_with_its_variables_and_metadata(api: Any, campaign: dict[str, Any]) -> None:
    response = import_json(
        api,
        campaign["id"],
        [
            {"phone_number": "+1 415 555 0199", "variables": {"first_name": "Ann"}, "metadata": {"crm": "a-1"}},
            {"phone_number": "+33612345678", "timezone": "Europe/Paris", "variables": {"first_name": "Luc"}},
        ],
    )

    assert response.status_code == 201, response.content
    assert response.json() == {"imported": 2, "pending": 2, "skipped": [], "total_contacts": 2}
    rows = list(
        CampaignContact.objects.order_by("line").values(
            "line", "phone_number", "timezone", "variables", "metadata", "state"
        )
    )
    assert rows == [
        {
            "line": 1,
            "phone_number": "+14155550199",
            "timezone": "",
            "variables": {"first_name": "Ann"},
            "metadata": {"crm": "a-1"},
            "state": "pending",
        },
        {
            "line": 2,
            "phone_number": "+33612345678",
            "timezone": "Europe/Paris",
            "variables": {"first_name": "Luc"},
            "metadata": {},
            "state": "pending",
        },
    ]


def test_csv_import_reads_variables_from_columns_as_body_or_upload(api: Any, campaign: dict[str, Any]) -> None:
    text = "phone_number,timezone,first_name,day\n+14155550199,,Ann,Friday\n+33612345678,Europe/Paris,Luc,\n"
    body = import_csv(api, campaign["id"], text)
    upload = import_csv(api, campaign["id"], "\ufeffphone_number,first_name\n+14155550198,Zoe\n", multipart=True)

    assert body.status_code == 201, body.content
    assert upload.status_code == 201, upload.content
    assert upload.json()["total_contacts"] == 3
    rows = {c.phone_number: c for c in CampaignContact.objects.all()}
    assert rows["+14155550199"].variables == {"first_name": "Ann", "day": "Friday"}
    assert rows["+33612345678"].variables == {"first_name": "Luc"}  # an empty cell is left out
    assert rows["+33612345678"].timezone == "Europe/Paris"
    assert rows["+14155550198"].line == 3


def test_one_refused_row_refuses_the_request_listing_each_with_line_and_reason(
    api: Any, campaign: dict[str, Any], organization: Any
) -> None:
    organization.allowed_destination_countries = ["US", "FR"]
    organization.save()
    text = (
        "phone_number,timezone,first_name\n"
        "+14155550199,,Ann\n"  # 2: fine
        "+1415555019,,Bob\n"  # 3: not a number
        "+14155550199,,Ann\n"  # 4: duplicate of line 2
        "+442079460000,,Tom\n"  # 5: country not allowed
        "+14155550197,Mars/Base,Kim\n"  # 6: zone
        "+14155550196,,\n"  # 7: no first_name
        "911,,Em\n"  # 8: emergency
        f"{FROM},,Me\n"  # 9: the campaign's own number
    )

    response = import_csv(api, campaign["id"], text)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["refused_count"] == 7
    refused = {row["line"]: row for row in body["refused"]}
    assert sorted(refused) == [3, 4, 5, 6, 7, 8, 9]
    assert refused[3]["reason"] == "Not a valid phone number."
    assert refused[4]["reason"] == "duplicate of line 2"
    assert "GB" in refused[5]["reason"]
    assert "Mars/Base" in refused[6]["reason"]
    assert refused[7]["reason"] == "welcome_message: missing variable first_name"
    assert "Emergency" in refused[8]["reason"]
    assert refused[9]["phone_number"] == FROM
    assert not CampaignContact.objects.exists()


def test_a_number_already_in_the_campaign_is_refused(api: Any, campaign: dict[str, Any]) -> None:
    assert import_json(api, campaign["id"], [contact("+14155550199")]).status_code == 201

    response = import_json(api, campaign["id"], [contact("+14155550198"), contact("+1 415 555 0199")])

    assert response.status_code == 400
    assert response.json()["refused"] == [
        {"line": 2, "phone_number": "+14155550199", "reason": "already in this campaign"}
    ]
    assert CampaignContact.objects.count() == 1


def test_a_suppressed_number_is_imported_as_skipped_and_reported(
    api: Any, campaign: dict[str, Any], organization: Any
) -> None:
    Suppression.objects.create(organization=organization, phone_number="+14155550198")
    Suppression.objects.create(organization=OrganizationFactory(), phone_number="+14155550199")

    response = import_json(api, campaign["id"], [contact("+14155550199"), contact("+14155550198")])

    assert response.status_code == 201, response.content
    assert response.json()["skipped"] == [{"line": 2, "phone_number": "+14155550198", "reason": "suppressed"}]
    assert response.json()["pending"] == 1
    states = dict(CampaignContact.objects.values_list("phone_number", "state"))
    assert states == {"+14155550199": "pending", "+14155550198": "skipped"}
    assert CampaignContact.objects.get(phone_number="+14155550198").reason == "suppressed"


def test_a_number_whose_zones_never_share_the_window_needs_a_timezone(api: Any, number: Any) -> None:
    # A toll-free number maps to every zone from Guam to Newfoundland; a two-hour window never holds in all of them.
    created = create(api, window_start="09:00", window_end="11:00").json()

    refused = import_json(api, created["id"], [{"phone_number": "+18005550100"}])
    accepted = import_json(api, created["id"], [{"phone_number": "+18005550100", "timezone": "America/Chicago"}])

    assert refused.status_code == 400
    assert "give its timezone" in refused.json()["refused"][0]["reason"]
    assert accepted.status_code == 201, accepted.content


def test_templates_of_the_numbers_assistant_are_checked_without_the_campaigns_own(api: Any, organization: Any) -> None:
    assistant = AssistantFactory(organization=organization, welcome_message="Hello {{ pet }}")
    PhoneNumberFactory(organization=organization, phone_number=FROM, assistant=assistant)
    created = create(api).json()

    refused = import_json(api, created["id"], [{"phone_number": "+14155550199"}])
    accepted = import_json(api, created["id"], [{"phone_number": "+14155550199", "variables": {"pet": "Rex"}}])

    assert refused.json()["refused"][0]["reason"] == "welcome_message: missing variable pet"
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    "item",
    [
        "+14155550199",
        {"phone_number": 14155550199},
        {"phone_number": "+14155550199", "variables": ["a"]},
        {"phone_number": "+14155550199", "variables": {"first_name": "x" * 5000}},
        {"phone_number": "+14155550199", "variables": {"first_name": "A", "n": {"a": {"b": {"c": {"d": {"e": 1}}}}}}},
        {"phone_number": "+14155550199", "metadata": "x"},
        {"phone_number": "+14155550199", "metadata": {"k": "x" * 20000}},
        {"phone_number": "+14155550199", "timezone": 5},
        {"phone_number": "+14155550199", "timezone": "../../etc/passwd"},
        {"phone_number": "+14155550199", "extra": 1},
        {"phone_number": "x" * 5000},
    ],
)
def test_malformed_json_items_are_refused_rows_never_500(api: Any, campaign: dict[str, Any], item: Any) -> None:
    response = import_json(api, campaign["id"], [contact("+14155550198"), item])

    assert response.status_code == 400, response.content
    assert [row["line"] for row in response.json()["refused"]] == [2]
    assert not CampaignContact.objects.exists()


def test_more_than_10000_contacts_is_400(api: Any, campaign: dict[str, Any]) -> None:
    rows = "".join(f"+1415555{n:04d},Ann\n" for n in range(10_001))
    as_csv = import_csv(api, campaign["id"], "phone_number,first_name\n" + rows)
    as_json = import_json(api, campaign["id"], [{"phone_number": "+14155550199"}] * 10_001)

    assert as_csv.status_code == 400
    assert "10000" in as_csv.json()["detail"]
    assert as_json.status_code == 400
    assert "contacts" in as_json.json()["errors"]
    assert not CampaignContact.objects.exists()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("phone_number,first_name\n+14155550199,Ann\n".encode("utf-16"), "NUL"),
        ("phone_number,first_name\n+14155550199,Zoë\n".encode("latin-1"), "UTF-8"),
        (b"", "empty"),
        (b"number,first_name\n+14155550199,Ann\n", "phone_number column"),
        (b"phone_number,first name\n+14155550199,Ann\n", "first name"),
        (b"phone_number,a,a\n+14155550199,1,2\n", "own name"),
        (b'phone_number,first_name\n+14155550199,"Ann\n', "malformed"),
        (b"phone_number,first_name\n+14155550199," + b"x" * 200_000 + b"\n", "malformed"),
        (b"PK\x03\x04\x14\x00\x06\x00", "NUL"),
    ],
)
def test_unreadable_csv_is_a_clear_400(api: Any, campaign: dict[str, Any], data: bytes, words: str) -> None:
    response = import_csv(api, campaign["id"], data)

    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]
    assert not CampaignContact.objects.exists()


def test_a_huge_cell_or_a_row_with_extra_cells_is_a_refused_row(api: Any, campaign: dict[str, Any]) -> None:
    text = "phone_number,first_name\n+14155550199," + "x" * 5000 + "\n+14155550198,Ann,extra\n"

    response = import_csv(api, campaign["id"], text)

    assert response.status_code == 400
    reasons = {row["line"]: row["reason"] for row in response.json()["refused"]}
    assert "longer than 1000" in reasons[2]
    assert "more cells" in reasons[3]


def test_a_body_over_16_mb_is_413(api: Any, campaign: dict[str, Any]) -> None:
    response = import_csv(api, campaign["id"], b"phone_number\n" + b"+14155550199\n" * 1_400_000)

    assert response.status_code == 413


def test_a_multipart_without_the_file_is_400(api: Any, campaign: dict[str, Any]) -> None:
    response = api.post(f"{BASE}/{campaign['id']}/contacts", {"other": "x"}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_contacts_of_a_running_campaign_cannot_be_added(api: Any, campaign: dict[str, Any]) -> None:
    Campaign.objects.filter(pk=campaign["id"]).update(status="running")

    response = import_json(api, campaign["id"], [contact("+14155550199")])

    assert response.status_code == 409
    assert not CampaignContact.objects.exists()


def test_contacts_list_is_in_import_order_and_filters_by_state(api: Any, campaign: dict[str, Any]) -> None:
    import_json(api, campaign["id"], [contact(f"+1415555019{n}") for n in range(5)])
    CampaignContact.objects.filter(line=2).update(state="completed")

    everything = api.get(f"{BASE}/{campaign['id']}/contacts", {"limit": 3}).json()
    following = api.get(f"{BASE}/{campaign['id']}/contacts", {"cursor": everything["next_cursor"]}).json()
    completed = api.get(f"{BASE}/{campaign['id']}/contacts", {"state": "completed"}).json()

    assert [c["line"] for c in everything["items"]] == [1, 2, 3]
    assert [c["line"] for c in following["items"]] == [4, 5]
    assert everything["total"] == 5
    assert [c["line"] for c in completed["items"]] == [2]


# --- actions --------------------------------------------------------------------------------------------------------


def test_start_pause_resume_cancel(api: Any, campaign: dict[str, Any]) -> None:
    url = f"{BASE}/{campaign['id']}"
    import_json(api, campaign["id"], [contact(f"+1415555019{n}") for n in range(4)])
    CampaignContact.objects.filter(line=1).update(state="dialling", attempts=1)
    CampaignContact.objects.filter(line=2).update(state="retrying", attempts=1)
    CampaignContact.objects.filter(line=3).update(state="completed", attempts=1)

    started = api.post(f"{url}/start")
    paused = api.post(f"{url}/pause")
    resumed = api.post(f"{url}/resume")
    canceled = api.post(f"{url}/cancel")

    assert [r.status_code for r in (started, paused, resumed, canceled)] == [200, 200, 200, 200]
    assert [r.json()["status"] for r in (started, paused, resumed, canceled)] == [
        "running",
        "paused",
        "running",
        "canceled",
    ]
    stored = Campaign.objects.get(pk=campaign["id"])
    assert stored.started_at is not None
    assert stored.completed_at is not None
    states = dict(CampaignContact.objects.values_list("line", "state"))
    # Waiting ones are skipped; the one being dialled finishes; the finished one stays.
    assert states == {1: "dialling", 2: "skipped", 3: "completed", 4: "skipped"}
    assert set(CampaignContact.objects.filter(state="skipped").values_list("reason", flat=True)) == {"canceled"}


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("draft", "pause"),
        ("draft", "resume"),
        ("running", "start"),
        ("running", "resume"),
        ("paused", "start"),
        ("paused", "pause"),
        ("completed", "cancel"),
        ("canceled", "cancel"),
        ("canceled", "resume"),
        ("completed", "start"),
    ],
)
def test_invalid_transitions_are_409_naming_the_status(
    api: Any, campaign: dict[str, Any], status: str, action: str
) -> None:
    import_json(api, campaign["id"], [contact("+14155550199")])
    Campaign.objects.filter(pk=campaign["id"]).update(status=status)

    response = api.post(f"{BASE}/{campaign['id']}/{action}")

    assert response.status_code == 409
    assert response.json()["status"] == status
    assert Campaign.objects.get(pk=campaign["id"]).status == status


def test_start_without_a_contact_to_call_is_409(api: Any, campaign: dict[str, Any], organization: Any) -> None:
    empty = api.post(f"{BASE}/{campaign['id']}/start")
    Suppression.objects.create(organization=organization, phone_number="+14155550199")
    import_json(api, campaign["id"], [contact("+14155550199")])
    all_suppressed = api.post(f"{BASE}/{campaign['id']}/start")

    assert empty.status_code == 409
    assert "no contact" in empty.json()["detail"]
    assert all_suppressed.status_code == 409
    assert Campaign.objects.get(pk=campaign["id"]).status == "draft"


def test_start_refuses_a_campaign_whose_number_went_inactive(api: Any, campaign: dict[str, Any], number: Any) -> None:
    import_json(api, campaign["id"], [contact("+14155550199")])
    number.is_active = False
    number.save()

    response = api.post(f"{BASE}/{campaign['id']}/start")

    assert response.status_code == 409
    assert "inactive" in response.json()["detail"]


def test_start_refuses_a_campaign_past_its_end(api: Any, campaign: dict[str, Any]) -> None:
    import_json(api, campaign["id"], [contact("+14155550199")])
    Campaign.objects.filter(pk=campaign["id"]).update(ends_at=timezone.now() - timedelta(minutes=1))

    response = api.post(f"{BASE}/{campaign['id']}/start")

    assert response.status_code == 409
    assert Campaign.objects.get(pk=campaign["id"]).status == "draft"


# --- progress and results -------------------------------------------------------------------------------------------


def test_progress_counts_states_calls_answer_rate_and_estimate(
    api: Any, campaign: dict[str, Any], organization: Any
) -> None:
    import_json(api, campaign["id"], [contact(f"+141555501{n:02d}") for n in range(10, 20)])
    contacts = list(CampaignContact.objects.order_by("line"))
    for item, (state, attempts) in zip(
        contacts,
        [("completed", 1), ("completed", 2), ("failed", 3), ("retrying", 1), ("dialling", 1), ("skipped", 0)]
        + [("pending", 0)] * 4,
        strict=True,
    ):
        item.state, item.attempts = state, attempts
        item.save()
    Campaign.objects.filter(pk=campaign["id"]).update(
        status="running", started_at=timezone.now() - timedelta(minutes=30)
    )

    progress = api.get(f"{BASE}/{campaign['id']}").json()["progress"]

    assert progress["counts"] == {
        "pending": 4,
        "dialling": 1,
        "completed": 2,
        "retrying": 1,
        "failed": 1,
        "skipped": 1,
        "expired": 0,
    }
    assert progress["total"] == 10
    assert progress["calls_placed"] == 8
    assert progress["answer_rate"] == 0.25
    assert progress["percent_done"] == 40.0
    # 3 contacts finished by calls in 30 minutes, 6 left: about an hour more.
    finish = datetime.fromisoformat(progress["estimated_finish_at"])
    assert timedelta(minutes=55) < finish - timezone.now() < timedelta(minutes=65)


def test_results_csv_has_one_row_per_contact_with_its_last_call(
    api: Any, campaign: dict[str, Any], organization: Any, number: Any
) -> None:
    import_json(api, campaign["id"], [contact("+14155550199"), contact("+14155550198")])
    call = CallFactory(
        organization=organization, assistant=number.assistant, to_number="+14155550199", status="completed", duration=42
    )
    CampaignContact.objects.filter(line=1).update(state="completed", attempts=2, last_call=call)

    response = api.get(f"{BASE}/{campaign['id']}/results.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["line"], r["phone_number"], r["state"], r["attempts"]) for r in rows] == [
        ("1", "+14155550199", "completed", "2"),
        ("2", "+14155550198", "pending", "0"),
    ]
    assert rows[0]["last_call_id"] == str(call.pk)
    assert rows[0]["call_status"] == "completed"
    assert rows[0]["call_duration"] == "42"
    assert rows[1]["last_call_id"] == ""


def test_results_csv_neutralizes_formulas(api: Any, organization: Any, number: Any) -> None:
    created = create(api).json()
    import_json(api, created["id"], [{"phone_number": "+14155550199"}])
    CampaignContact.objects.update(reason="=HYPERLINK(1)")

    response = api.get(f"{BASE}/{created['id']}/results.csv")

    assert "'=HYPERLINK(1)" in b"".join(response.streaming_content).decode()


def test_an_import_costs_the_same_queries_for_10_rows_as_for_300(api: Any, campaign: dict[str, Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(first: int, count: int) -> int:
        rows = [contact(f"+1212555{n:04d}") for n in range(first, first + count)]
        with CaptureQueriesContext(connection) as captured:
            assert import_json(api, campaign["id"], rows).status_code == 201
        # The insert itself is one COPY on PostgreSQL; SQLite's bulk insert takes a statement per hundred rows.
        return sum(not q["sql"].startswith('INSERT INTO "campaigns_campaigncontact"') for q in captured)

    assert queries(0, 10) == queries(10, 300)
    assert CampaignContact.objects.count() == 310
    assert list(CampaignContact.objects.order_by("line").values_list("line", flat=True)) == list(range(1, 311))
