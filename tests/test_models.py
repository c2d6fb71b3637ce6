from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection

from assistants.models import ConversationFlow
from assistants.validators import flow_definition_problems
from telephony.models import TelephonyAccount
from tests.factories import (
    AssistantFactory,
    ConversationFlowFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    TelephonyAccountFactory,
)

pytestmark = pytest.mark.django_db


def test_flow_definition_names_the_unknown_node_of_an_edge() -> None:
    problems = flow_definition_problems(
        {"nodes": [{"id": "greet", "type": "start"}], "edges": [{"from": "greet", "to": "nowhere"}]}
    )
    assert problems == ["Edge 0 'to' refers to unknown node id 'nowhere'."]


def test_flow_definition_names_the_duplicate_node_id() -> None:
    problems = flow_definition_problems({"nodes": [{"id": "a", "type": "start"}, {"id": "a", "type": "x"}]})
    assert problems == ["Duplicate node id 'a'."]


def test_flow_definition_requires_exactly_one_start_node() -> None:
    assert flow_definition_problems({"nodes": [{"id": "a", "type": "say"}]}) == [
        "Missing start node: exactly one node must have type 'start'."
    ]
    assert (
        "2 start nodes"
        in flow_definition_problems({"nodes": [{"id": "a", "type": "start"}, {"id": "b", "type": "start"}]})[0]
    )


def test_flow_definition_keeps_runtime_keys_as_given() -> None:
    definition = {"nodes": [{"id": "a", "type": "start", "prompt": "hi", "x": [1]}], "edges": [], "version": 3}
    flow = ConversationFlowFactory(definition=definition)
    flow.refresh_from_db()
    assert flow.definition == definition


def test_flow_with_an_invalid_definition_is_not_saved() -> None:
    assistant = AssistantFactory()
    with pytest.raises(ValidationError, match="Missing start node"):
        ConversationFlow.objects.create(
            organization=assistant.organization,
            name="x",
            base_assistant=assistant,
            definition={"nodes": [{"id": "a", "type": "x"}]},
        )
    assert ConversationFlow.objects.count() == 0


def test_flow_base_assistant_must_belong_to_the_same_organization() -> None:
    flow = ConversationFlowFactory.build(organization=OrganizationFactory(), base_assistant=AssistantFactory())
    with pytest.raises(ValidationError) as excinfo:
        flow.full_clean()
    assert "base_assistant" in excinfo.value.message_dict


def test_phone_number_relations_must_stay_inside_its_organization() -> None:
    org, other = OrganizationFactory(), OrganizationFactory()
    number = PhoneNumberFactory.build(
        organization=org,
        phone_number="+1 415 555 0142",
        telephony_account=TelephonyAccountFactory(organization=other),
        assistant=AssistantFactory(organization=other),
    )
    with pytest.raises(ValidationError) as excinfo:
        number.full_clean()
    assert set(excinfo.value.message_dict) == {"telephony_account", "assistant"}


def test_phone_number_clean_normalizes_to_e164() -> None:
    org = OrganizationFactory()
    number = PhoneNumberFactory.build(
        organization=org,
        phone_number="+1 (415) 555-0142",
        telephony_account=TelephonyAccountFactory(organization=org),
        assistant=AssistantFactory(organization=org),
    )
    number.full_clean()
    assert number.phone_number == "+14155550142"


def test_database_forbids_a_number_assigned_to_both_an_assistant_and_a_flow() -> None:
    flow = ConversationFlowFactory()
    with pytest.raises(IntegrityError):
        PhoneNumberFactory(organization=flow.organization, assistant=flow.base_assistant, flow=flow)


def test_credentials_are_encrypted_at_rest_and_decrypted_on_read() -> None:
    secret = "a-very-distinct-auth-token-1234"
    account = TelephonyAccountFactory(
        provider="twilio", credentials={"account_sid": "AC" + "1" * 32, "auth_token": secret}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM telephony_telephonyaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert secret not in stored
    assert "AC111" not in stored
    assert TelephonyAccount.objects.get(pk=account.pk).credentials["auth_token"] == secret


def test_credentials_encrypted_with_an_older_key_still_decrypt_after_rotation(settings: object) -> None:
    from cryptography.fernet import Fernet

    account = TelephonyAccountFactory(
        provider="twilio", credentials={"account_sid": "AC" + "2" * 32, "auth_token": "t"}
    )
    old_keys = list(settings.CREDENTIALS_ENCRYPTION_KEYS)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *old_keys]
    assert TelephonyAccount.objects.get(pk=account.pk).credentials["auth_token"] == "t"


def test_credentials_hint_shows_only_the_tail_of_the_identifier() -> None:
    account = TelephonyAccountFactory.build(
        provider="twilio", credentials={"account_sid": "AC" + "0" * 28 + "9876", "auth_token": "secret"}
    )
    assert account.credentials_hint == "…9876"
    assert "secret" not in repr(account)


def test_account_clean_rejects_missing_and_unknown_credential_keys() -> None:
    account = TelephonyAccountFactory.build(provider="twilio", credentials={"account_sid": "AC1", "token": "x"})
    with pytest.raises(ValidationError) as excinfo:
        account.clean()
    text = " ".join(excinfo.value.messages)
    assert "auth_token" in text
    assert "token:" in text


def test_rotate_credentials_reencrypts_with_the_newest_key_so_old_keys_can_be_dropped(settings: Any) -> None:
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    account = TelephonyAccountFactory(
        provider="twilio", credentials={"account_sid": "AC" + "3" * 32, "auth_token": "t"}
    )
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key, *settings.CREDENTIALS_ENCRYPTION_KEYS]
    out = StringIO()

    call_command("rotate_credentials", stdout=out)

    assert "1 telephony account" in out.getvalue()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key]
    assert TelephonyAccount.objects.get(pk=account.pk).credentials["auth_token"] == "t"
