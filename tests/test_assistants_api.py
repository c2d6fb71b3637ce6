from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from assistants.models import Assistant
from assistants.secrets import MASK, is_secret_key, keep_masked_secrets, mask_secrets
from calls.models import Call
from tests.factories import (
    AssistantFactory,
    CallFactory,
    ConversationFlowFactory,
    OrganizationFactory,
    PhoneNumberFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/assistants"
FIELDS = {
    "id",
    "organization_id",
    "name",
    "description",
    "is_active",
    "welcome_message",
    "max_call_length",
    "llm_settings",
    "tts_settings",
    "stt_settings",
    "custom_settings",
    "created_at",
    "updated_at",
}
SETTINGS = ("llm_settings", "tts_settings", "stt_settings", "custom_settings")

LLM = {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "max_tokens": 300,
    "OPENAI_API_KEY": "sk-llm-secret-value-0001",
    "fallback": {"provider": "anthropic", "apiKey": "sk-ant-fallback-secret-0002"},
}
TTS = {
    "provider": "elevenlabs",
    "voices": [{"voice_id": "rachel", "x-api-key": "eleven-secret-in-list-0003"}],
}
STT = {"provider": "deepgram", "credentials": {"user": "dg-user-secret-0004", "pass": "dg-pass-secret-0005"}}
CUSTOM = {"webhook": {"url": "https://example.com/hook", "signing_secret": "whsec-secret-0006", "Password": 987654321}}
SECRET_VALUES = [
    "sk-llm-secret-value-0001",
    "sk-ant-fallback-secret-0002",
    "eleven-secret-in-list-0003",
    "dg-user-secret-0004",
    "dg-pass-secret-0005",
    "whsec-secret-0006",
    "987654321",
]


def full_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Receptionist",
        "description": "Answers the front desk line.",
        "is_active": True,
        "welcome_message": "Hi {{ name | default('there') }}, how can I help?",
        "max_call_length": 600,
        "llm_settings": copy.deepcopy(LLM),
        "tts_settings": copy.deepcopy(TTS),
        "stt_settings": copy.deepcopy(STT),
        "custom_settings": copy.deepcopy(CUSTOM),
    }
    body.update(overrides)
    return body


def settings_of(assistant: Assistant) -> dict[str, Any]:
    return {field: getattr(assistant, field) for field in SETTINGS}


def nested(levels: int) -> dict[str, Any]:
    """A settings object whose objects nest exactly `levels` deep, itself included."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"child": value}
    return value


# --- create and read ------------------------------------------------------------------------------------------


def test_an_assistant_is_created_in_the_organization_with_everything_it_was_given(api: Any, organization: Any) -> None:
    response = api.post(URL, full_body(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["organization_id"] == organization.pk
    assert body["name"] == "Receptionist"
    assert body["max_call_length"] == 600
    assert body["llm_settings"]["model"] == "gpt-4o-mini"
    assistant = Assistant.objects.get(pk=body["id"])
    assert assistant.organization == organization
    assert (assistant.name, assistant.description, assistant.is_active, assistant.max_call_length) == (
        "Receptionist",
        "Answers the front desk line.",
        True,
        600,
    )
    assert assistant.welcome_message == "Hi {{ name | default('there') }}, how can I help?"
    assert settings_of(assistant) == {
        "llm_settings": LLM,
        "tts_settings": TTS,
        "stt_settings": STT,
        "custom_settings": CUSTOM,
    }


def test_an_assistant_created_with_only_a_name_gets_the_defaults(api: Any) -> None:
    response = api.post(URL, {"name": "Minimal"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["description"], body["welcome_message"], body["is_active"], body["max_call_length"]) == (
        "",
        "",
        True,
        1800,
    )
    assert all(body[field] == {} for field in SETTINGS)
    assistant = Assistant.objects.get(pk=body["id"])
    assert settings_of(assistant) == {field: {} for field in SETTINGS}
    assert assistant.max_call_length == 1800


def test_an_assistant_is_read_by_id(api: Any, organization: Any) -> None:
    assistant = AssistantFactory(organization=organization, name="Reader", description="Reads", max_call_length=900)

    response = api.get(f"{URL}/{assistant.pk}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert (body["id"], body["name"], body["description"], body["max_call_length"]) == (
        assistant.pk,
        "Reader",
        "Reads",
        900,
    )
    assert body["llm_settings"] == {"model": "gpt-4o-mini", "temperature": 0.3}


def test_an_unknown_assistant_is_404(api: Any) -> None:
    response = api.get(f"{URL}/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Assistant not found."}


def test_assistants_are_listed_by_name_within_the_organization_with_skip_and_limit(api: Any, organization: Any) -> None:
    for name in ("Charlie", "Alpha", "Bravo", "Delta"):
        AssistantFactory(organization=organization, name=name)
    AssistantFactory(organization=OrganizationFactory(), name="Aardvark of another organization")

    everything = api.get(URL).json()
    page = api.get(f"{URL}?skip=1&limit=2").json()

    assert [a["name"] for a in everything["items"]] == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert everything["total"] == 4
    assert [a["name"] for a in page["items"]] == ["Bravo", "Charlie"]
    assert (page["total"], page["skip"], page["limit"]) == (4, 1, 2)


@pytest.mark.parametrize(
    ("query", "names"), [("active_only=true", ["On"]), ("active_only=false", ["Off", "On"]), ("", ["Off", "On"])]
)
def test_active_only_true_lists_only_active_assistants_and_false_lists_them_all(
    api: Any, organization: Any, query: str, names: list[str]
) -> None:
    AssistantFactory(organization=organization, name="On", is_active=True)
    AssistantFactory(organization=organization, name="Off", is_active=False)

    body = api.get(f"{URL}?{query}").json()

    assert [a["name"] for a in body["items"]] == names
    assert body["total"] == len(names)


@pytest.mark.parametrize("value", ["maybe", "", "2"])
def test_an_active_only_that_is_not_a_boolean_is_400(api: Any, value: str) -> None:
    response = api.get(f"{URL}?active_only={value}")

    assert response.status_code == 400
    assert "active_only" in response.json()["errors"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "skip=-1", "limit=ten"])
def test_out_of_range_pagination_is_400(api: Any, query: str) -> None:
    response = api.get(f"{URL}?{query}")

    assert response.status_code == 400
    assert response.json()["detail"]


# --- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 42}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"welcome_message": "x" * 1001}, "welcome_message"),
        ({"max_call_length": 9}, "max_call_length"),
        ({"max_call_length": 14401}, "max_call_length"),
        ({"max_call_length": -60}, "max_call_length"),
        ({"max_call_length": "600"}, "max_call_length"),
        ({"max_call_length": True}, "max_call_length"),
    ],
)
def test_an_assistant_breaking_the_models_constraints_is_400_naming_the_field(
    api: Any, overrides: dict[str, Any], field: str
) -> None:
    response = api.post(URL, full_body(**overrides), format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}
    assert Assistant.objects.count() == 0


def test_an_assistant_without_a_name_is_400(api: Any) -> None:
    body = full_body()
    del body["name"]

    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name"}
    assert Assistant.objects.count() == 0


@pytest.mark.parametrize("field", SETTINGS)
@pytest.mark.parametrize("value", [["model", "gpt-4o"], '{"model": "gpt-4o"}', 3, None, True])
def test_settings_that_are_not_a_json_object_are_400_on_create_and_patch(
    api: Any, organization: Any, field: str, value: Any
) -> None:
    assistant = AssistantFactory(organization=organization)
    before = settings_of(assistant)

    created = api.post(URL, full_body(**{field: value}), format="json")
    patched = api.patch(f"{URL}/{assistant.pk}", {field: value}, format="json")

    for response in (created, patched):
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {field}
    assert Assistant.objects.count() == 1
    assistant.refresh_from_db()
    assert settings_of(assistant) == before


def test_settings_of_exactly_16_kb_are_accepted_and_one_byte_more_is_400(api: Any, organization: Any) -> None:
    # {"x":"…"} is 8 bytes of JSON around the value.
    at_limit = {"x": "a" * (16 * 1024 - 8)}
    over = {"x": "a" * (16 * 1024 - 7)}

    accepted = api.post(URL, full_body(custom_settings=at_limit), format="json")
    refused = api.post(URL, full_body(name="Too big", custom_settings=over), format="json")

    assert accepted.status_code == 201, accepted.content
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"custom_settings": ["At most 16384 bytes as JSON."]}
    assert list(Assistant.objects.values_list("name", flat=True)) == ["Receptionist"]


def test_the_16_kb_limit_counts_bytes_not_characters(api: Any) -> None:
    # 6000 three-byte characters: 6000 characters, 18000 bytes.
    response = api.post(URL, full_body(llm_settings={"prompt": "€" * 6000}), format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"llm_settings"}


def test_oversize_settings_in_a_patch_are_400_and_leave_the_stored_ones(api: Any, organization: Any) -> None:
    assistant = AssistantFactory(organization=organization)

    response = api.patch(f"{URL}/{assistant.pk}", {"tts_settings": {"x": "a" * 20000}}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"tts_settings"}
    assistant.refresh_from_db()
    assert assistant.tts_settings == {}


def test_settings_nested_six_levels_are_accepted_and_seven_are_400(api: Any) -> None:
    accepted = api.post(URL, full_body(stt_settings=nested(6)), format="json")
    refused = api.post(URL, full_body(name="Deep", stt_settings=nested(7)), format="json")
    in_a_list = api.post(URL, full_body(name="Deep list", stt_settings={"a": [[[[[[1]]]]]]}), format="json")

    assert accepted.status_code == 201, accepted.content
    assert Assistant.objects.get(pk=accepted.json()["id"]).stt_settings == nested(6)
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"stt_settings": ["Objects and lists may nest at most 6 levels deep."]}
    assert in_a_list.status_code == 400
    assert list(Assistant.objects.values_list("name", flat=True)) == ["Receptionist"]


def test_settings_nested_hundreds_of_levels_deep_are_400_not_a_crash(api: Any) -> None:
    body = '{"name": "Abyss", "llm_settings": {"a": ' + "[" * 600 + "]" * 600 + "}}"

    response = api.post(URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"llm_settings": ["Objects and lists may nest at most 6 levels deep."]}
    assert Assistant.objects.count() == 0


# --- secrets --------------------------------------------------------------------------------------------------


def test_secrets_at_any_depth_are_masked_in_create_get_and_list_responses(api: Any, organization: Any) -> None:
    created = api.post(URL, full_body(), format="json")
    assistant_id = created.json()["id"]

    read = api.get(f"{URL}/{assistant_id}")
    listed = api.get(URL)

    for response in (created, read, listed):
        assert response.status_code in (200, 201)
        for secret in SECRET_VALUES:
            assert secret.encode() not in response.content
    body = read.json()
    assert body["llm_settings"] == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "max_tokens": MASK,  # it names a token: masked, and kept when the mask comes back (below)
        "OPENAI_API_KEY": MASK,
        "fallback": {"provider": "anthropic", "apiKey": MASK},
    }
    assert body["tts_settings"]["voices"] == [{"voice_id": "rachel", "x-api-key": MASK}]
    assert body["stt_settings"] == {"provider": "deepgram", "credentials": MASK}
    assert body["custom_settings"]["webhook"] == {
        "url": "https://example.com/hook",
        "signing_secret": MASK,
        "Password": MASK,
    }
    assert listed.json()["items"][0]["llm_settings"] == body["llm_settings"]
    # The secrets themselves are stored as given.
    assert settings_of(Assistant.objects.get(pk=assistant_id))["llm_settings"] == LLM


def test_a_round_trip_that_sends_the_masks_back_keeps_the_stored_secrets(api: Any) -> None:
    assistant_id = api.post(URL, full_body(), format="json").json()["id"]
    body = api.get(f"{URL}/{assistant_id}").json()
    body["name"] = "Renamed"
    body["llm_settings"]["model"] = "gpt-4o"
    body["tts_settings"]["voices"][0]["voice_id"] = "adam"

    response = api.patch(f"{URL}/{assistant_id}", body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["llm_settings"]["OPENAI_API_KEY"] == MASK
    assistant = Assistant.objects.get(pk=assistant_id)
    assert assistant.name == "Renamed"
    assert assistant.llm_settings == {**LLM, "model": "gpt-4o"}
    assert assistant.tts_settings == {
        "provider": "elevenlabs",
        "voices": [{"voice_id": "adam", "x-api-key": "eleven-secret-in-list-0003"}],
    }
    assert assistant.stt_settings == STT
    assert assistant.custom_settings == CUSTOM


def test_a_new_secret_value_replaces_the_stored_one(api: Any) -> None:
    assistant_id = api.post(URL, full_body(), format="json").json()["id"]
    new_llm = {**LLM, "OPENAI_API_KEY": "sk-rotated-0007", "fallback": {"provider": "anthropic", "apiKey": MASK}}

    response = api.patch(f"{URL}/{assistant_id}", {"llm_settings": new_llm}, format="json")

    assert response.status_code == 200, response.content
    assert b"sk-rotated-0007" not in response.content
    assert Assistant.objects.get(pk=assistant_id).llm_settings == {
        **LLM,
        "OPENAI_API_KEY": "sk-rotated-0007",
        "fallback": {"provider": "anthropic", "apiKey": "sk-ant-fallback-secret-0002"},
    }


def test_a_settings_object_in_a_patch_replaces_the_stored_one_whole(api: Any) -> None:
    assistant_id = api.post(URL, full_body(), format="json").json()["id"]

    response = api.patch(f"{URL}/{assistant_id}", {"llm_settings": {"model": "gpt-4o"}}, format="json")

    assert response.status_code == 200
    assistant = Assistant.objects.get(pk=assistant_id)
    assert assistant.llm_settings == {"model": "gpt-4o"}
    assert assistant.tts_settings == TTS


def test_sending_the_mask_where_no_secret_is_stored_is_400_naming_the_path(api: Any, organization: Any) -> None:
    assistant = AssistantFactory(organization=organization)

    created = api.post(URL, full_body(llm_settings={"api_key": MASK}), format="json")
    patched = api.patch(
        f"{URL}/{assistant.pk}", {"tts_settings": {"voices": [{"voice_id": "adam", "api_key": MASK}]}}, format="json"
    )

    assert created.status_code == 400
    assert created.json()["errors"] == {
        "llm_settings": ["'api_key' is the mask, but no secret is stored there: send the secret itself."]
    }
    assert patched.status_code == 400
    assert "'voices[0].api_key'" in patched.json()["errors"]["tts_settings"][0]
    assert Assistant.objects.count() == 1
    assistant.refresh_from_db()
    assert assistant.tts_settings == {}


# --- update ---------------------------------------------------------------------------------------------------


def test_an_assistant_is_patched_and_what_the_patch_omits_is_kept(api: Any, organization: Any) -> None:
    assistant = AssistantFactory(
        organization=organization, name="Before", description="Kept", welcome_message="Hello {{name}}"
    )

    response = api.patch(
        f"{URL}/{assistant.pk}",
        {"name": "After", "is_active": False, "max_call_length": 120, "stt_settings": {"language": "fr"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "After"
    assistant.refresh_from_db()
    assert (assistant.name, assistant.is_active, assistant.max_call_length) == ("After", False, 120)
    assert (assistant.description, assistant.welcome_message) == ("Kept", "Hello {{name}}")
    assert assistant.stt_settings == {"language": "fr"}
    assert assistant.llm_settings == {"model": "gpt-4o-mini", "temperature": 0.3}


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": None}, {"max_call_length": 5}, {"description": "x" * 2001}, {"is_active": "perhaps"}],
)
def test_an_invalid_patch_is_400_and_changes_nothing(api: Any, organization: Any, body: dict[str, Any]) -> None:
    assistant = AssistantFactory(organization=organization, name="Unchanged", max_call_length=300)

    response = api.patch(f"{URL}/{assistant.pk}", body, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(body)
    assistant.refresh_from_db()
    assert (assistant.name, assistant.max_call_length, assistant.description) == ("Unchanged", 300, "")


# --- delete ---------------------------------------------------------------------------------------------------


def test_deleting_an_unused_assistant_is_204_and_its_calls_keep_their_history(api: Any, organization: Any) -> None:
    assistant = AssistantFactory(organization=organization)
    call = CallFactory(organization=organization, assistant=assistant)

    response = api.delete(f"{URL}/{assistant.pk}")

    assert response.status_code == 204
    assert not Assistant.objects.filter(pk=assistant.pk).exists()
    call = Call.objects.get(pk=call.pk)
    assert call.assistant_id is None


def test_deleting_an_assistant_used_by_phone_numbers_is_409_naming_them(api: Any, organization: Any) -> None:
    assistant = AssistantFactory(organization=organization)
    PhoneNumberFactory(organization=organization, phone_number="+14155550111", assistant=assistant)
    PhoneNumberFactory(organization=organization, phone_number="+14155550100", assistant=assistant)

    response = api.delete(f"{URL}/{assistant.pk}")

    assert response.status_code == 409
    assert set(response.json()) == {"detail"}
    assert response.json()["detail"] == (
        "This assistant is still used by 2 phone number(s): +14155550100, +14155550111. Reassign or delete them first."
    )
    assert Assistant.objects.filter(pk=assistant.pk).exists()


def test_deleting_an_assistant_used_by_a_flow_is_409_naming_the_flow(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization, name="Night shift")
    PhoneNumberFactory(organization=organization, phone_number="+14155550122", assistant=flow.base_assistant)

    response = api.delete(f"{URL}/{flow.base_assistant_id}")

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "'Night shift'" in detail
    assert "+14155550122" in detail
    assert Assistant.objects.filter(pk=flow.base_assistant_id).exists()


# --- other organizations --------------------------------------------------------------------------------------


def test_another_organizations_assistant_is_404_on_every_method_reveals_nothing_and_stays_unchanged(api: Any) -> None:
    foreign = AssistantFactory(
        organization=OrganizationFactory(),
        name="Their hidden assistant",
        llm_settings={"model": "their-model", "api_key": "their-key"},
    )
    before = Assistant.objects.filter(pk=foreign.pk).values().get()

    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(
            f"{URL}/{foreign.pk}", {"name": "Taken over", "llm_settings": {}}, format="json"
        )
        assert response.status_code == 404, method
        assert response.json() == {"detail": "Assistant not found."}
        for leaked in ("hidden", "their-model", "their-key"):
            assert leaked.encode() not in response.content

    assert Assistant.objects.filter(pk=foreign.pk).values().get() == before
    assert "Their hidden assistant" not in api.get(URL).content.decode()


# --- the secrets module ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "OPENAI_API_KEY",
        "apiKey",
        "x-api-key",
        "client_secret",
        "SECRET",
        "auth_token",
        "refreshToken",
        "password",
        "db_PASSWORD",
        "private_key",
        "Private Key",
        "credentials",
        "gcp_credentials",
    ],
)
def test_a_key_ending_in_a_secret_word_is_secret(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        # A secret word anywhere in the name, in any case: what people actually call their secrets.
        "Authorization",
        "Proxy-Authorization",
        "X-Auth",
        "oauth",
        "bearer",
        "BearerToken",
        "keys",
        "secret_value",
        "token_url",
        "passwordHash",
        "credential",
        # Masked too, though not secrets: the price of the broad rule (a masked value sent back is kept).
        "max_tokens",
        "token_limit",
        "secretary",
        "api_key_id",
        "keyword",
        "author",
    ],
)
def test_a_key_containing_a_secret_word_anywhere_is_secret(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["model", "voice", "provider", "temperature", "language", "url", ""])
def test_other_keys_are_not_secret(name: str) -> None:
    assert not is_secret_key(name)


HEADERS = {
    "url": "https://crm.example.com/hook",
    "headers": {
        "Authorization": "Bearer crm-token-0008",
        "X-Custom-Auth-Scheme": "ignored name",
        "X-Forward": "Basic dXNlcjpjcm0tcGFzcy0wMDA5",
        "Cookie": "session=crm-cookie-0010",
        "Accept": "application/json",
    },
    "extra_http_headers": [
        {"name": "X-Api-Key", "value": "crm-key-in-pair-0011"},
        {"name": "Accept", "value": "text/plain"},
    ],
    "fallback_header_value": "Bearer crm-token-in-list-0012",
    "notes": ["Bearer crm-token-in-list-0013", "Basic rules: be brief", "Bearer of good news"],
}


def test_authorization_like_header_values_are_masked_wherever_they_are_kept() -> None:
    assert mask_secrets(HEADERS) == {
        "url": "https://crm.example.com/hook",
        "headers": {
            "Authorization": MASK,
            "X-Custom-Auth-Scheme": MASK,
            "X-Forward": MASK,
            "Cookie": MASK,
            "Accept": "application/json",
        },
        "extra_http_headers": [{"name": "X-Api-Key", "value": MASK}, {"name": "Accept", "value": "text/plain"}],
        "fallback_header_value": MASK,
        # A bearer credential is a secret anywhere; outside headers, other text that starts like a scheme is text.
        "notes": [MASK, "Basic rules: be brief", "Bearer of good news"],
    }


def test_masked_header_values_sent_back_keep_the_stored_ones() -> None:
    kept, unmatched = keep_masked_secrets(json.loads(json.dumps(mask_secrets(HEADERS))), HEADERS)

    assert kept == HEADERS
    assert unmatched == []


def test_the_mask_sent_where_a_bearer_credential_is_no_longer_stored_is_kept_as_text() -> None:
    # Only a secret's key makes a mask with nothing stored an error; a value is a secret by what is stored.
    kept, unmatched = keep_masked_secrets({"notes": [MASK], "hint": MASK}, {"notes": ["plain"], "hint": "plain"})

    assert kept == {"notes": [MASK], "hint": MASK}
    assert unmatched == []


def test_header_secrets_in_assistant_settings_never_leave_the_api_and_survive_a_round_trip(api: Any) -> None:
    created = api.post(URL, full_body(custom_settings=copy.deepcopy(HEADERS)), format="json")
    assistant_id = created.json()["id"]
    read = api.get(f"{URL}/{assistant_id}")
    body = read.json()
    body["custom_settings"]["url"] = "https://crm.example.com/hook/v2"

    patched = api.patch(f"{URL}/{assistant_id}", body, format="json")

    for response in (created, read, patched):
        assert response.status_code in (200, 201), response.content
        for secret in ("crm-token-0008", "dXNlcjpjcm0tcGFzcy0wMDA5", "crm-cookie", "crm-key", "crm-token-in-list"):
            assert secret.encode() not in response.content
    assert Assistant.objects.get(pk=assistant_id).custom_settings == {
        **HEADERS,
        "url": "https://crm.example.com/hook/v2",
    }


def test_mask_secrets_masks_every_secret_at_any_depth_and_leaves_the_input_alone() -> None:
    value = {
        "api_key": "k",
        "count_token": None,
        "credentials": {"user": "u"},
        "items": [{"password": 1}, "plain", [{"secret": ["a"]}]],
        "model": "m",
    }
    original = copy.deepcopy(value)

    assert mask_secrets(value) == {
        "api_key": MASK,
        "count_token": MASK,
        "credentials": MASK,
        "items": [{"password": MASK}, "plain", [{"secret": MASK}]],
        "model": "m",
    }
    assert value == original


def test_keep_masked_secrets_takes_the_stored_value_for_each_mask_by_path() -> None:
    stored = {"api_key": "old", "nested": {"token": {"a": 1}}, "list": [{"password": "p0"}, {"password": "p1"}]}
    submitted = {
        "api_key": MASK,
        "nested": {"token": MASK, "extra": 2},
        "list": [{"password": "new"}, {"password": MASK}],
        "label": MASK,
    }

    kept, unmatched = keep_masked_secrets(submitted, stored)

    assert kept == {
        "api_key": "old",
        "nested": {"token": {"a": 1}, "extra": 2},
        "list": [{"password": "new"}, {"password": "p1"}],
        # Not a secret's name: the mask is just a string here.
        "label": MASK,
    }
    assert unmatched == []


def test_keep_masked_secrets_reports_masks_with_nothing_stored_and_drops_them() -> None:
    kept, unmatched = keep_masked_secrets(
        {"api_key": MASK, "list": [{"token": MASK}], "deep": {"secret": MASK}}, {"list": [], "deep": "not an object"}
    )

    assert kept == {"list": [{}], "deep": {}}
    assert unmatched == ["api_key", "list[0].token", "deep.secret"]


def test_masking_then_keeping_gives_back_exactly_what_was_stored() -> None:
    stored = {**LLM, "tts": copy.deepcopy(TTS), "stt": copy.deepcopy(STT)}

    kept, unmatched = keep_masked_secrets(json.loads(json.dumps(mask_secrets(stored))), stored)

    assert kept == stored
    assert unmatched == []
