"""The caches of API keys and numbers' configuration (burki.config): every write that changes what an entry holds
takes effect on the very next request in every process, whatever path made it (service, API, admin,
QuerySet.update), because the organization's configuration version is bumped by the database in the same
transaction and checked on every use.

Each test warms a second server process's caches (tests/fakes/process.py: its own local memory, like a second
gunicorn worker), changes something from this process, and asks the other process again. PostgreSQL only: on other
databases nothing is cached.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assistants.models import Assistant, PhoneNumber
from burki.models import ApiKey, ConfigVersion, Membership, Organization
from burki.services import api_key_revoke
from telephony.models import TelephonyAccount
from tests.factories import (
    ApiKeyFactory,
    ConversationFlowFactory,
    MembershipFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    UserFactory,
)
from tests.fakes.process import OtherProcess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="nothing is cached on this database"),
]

FROM = "+14155550100"
BODY = {"from_phone_number": FROM, "to_phone_number": "+14155550199"}
VALIDATE = "/api/v1/calls/validate"


@pytest.fixture
def other() -> Iterator[OtherProcess]:
    process = OtherProcess()
    yield process
    process.close()


@pytest.fixture
def setup() -> dict[str, Any]:
    organization = OrganizationFactory(slug="cached", name="Cached")
    key = ApiKeyFactory(organization=organization)
    number = PhoneNumberFactory(organization=organization, phone_number=FROM)
    return {"organization": organization, "key": key, "number": number}


def validate(other: OtherProcess, key: Any) -> tuple[int, Any]:
    return other.request("POST", VALIDATE, token=key.raw_key, body=BODY)


def warmed(other: OtherProcess, key: Any) -> None:
    """Two requests: the first fills the other process's caches, the second is served from them."""
    for _ in range(2):
        status, body = validate(other, key)
        assert status == 200, body


def test_a_second_request_reads_neither_the_key_nor_the_number(setup: dict[str, Any], client_for: Any) -> None:
    api = client_for(setup["key"].raw_key)
    assert api.post(VALIDATE, BODY, format="json").status_code == 200

    with CaptureQueriesContext(connection) as captured:
        response = api.post(VALIDATE, BODY, format="json")

    assert response.status_code == 200, response.content
    sql = [q["sql"] for q in captured.captured_queries]
    assert not any('"burki_apikey"' in q for q in sql), sql
    assert not any('"assistants_phonenumber"' in q for q in sql), sql
    assert sum('"burki_configversion"' in q for q in sql) == 1, sql


def test_a_cache_outside_the_process_holds_the_secrets_encrypted_and_still_serves(
    setup: dict[str, Any], client_for: Any, settings: Any, tmp_path: Any
) -> None:
    # A file cache stands for Redis (CONFIG_CACHE_URL): what it stores leaves the process.
    settings.CACHES = {
        **settings.CACHES,
        "config": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)},
    }
    secret = "auth-token-that-must-never-be-stored-in-clear"
    account = setup["number"].telephony_account
    account.credentials = {**account.credentials, "auth_token": secret}
    account.save(update_fields=["credentials"])
    api = client_for(setup["key"].raw_key)
    assert api.post(VALIDATE, BODY, format="json").status_code == 200

    with CaptureQueriesContext(connection) as captured:
        response = api.post(VALIDATE, BODY, format="json")

    assert response.status_code == 200, response.content
    sql = [q["sql"] for q in captured.captured_queries]
    assert not any('"burki_apikey"' in q for q in sql), sql
    assert not any('"assistants_phonenumber"' in q for q in sql), sql
    stored = [stored_value(path) for path in tmp_path.iterdir()]
    assert len(stored) == 2  # the key's entry and the number's,
    assert not any(secret.encode() in value for value in stored)  # but not the secret,
    assert not any(setup["key"].hashed_key.encode() in value for value in stored)  # nor anything else in clear.


def stored_value(path: Any) -> bytes:
    """What a file cache keeps for an entry: its expiry (pickled), then the value pickled and compressed."""
    with path.open("rb") as file:
        pickle.load(file)  # noqa: S301
        return zlib.decompress(file.read())


def test_every_configuration_write_bumps_the_organization_version(setup: dict[str, Any]) -> None:
    organization = setup["organization"]

    def version() -> int:
        row = ConfigVersion.objects.filter(organization_id=organization.pk).first()
        return row.version if row else 0

    before = version()
    Assistant.objects.filter(organization=organization).update(name="Renamed")
    PhoneNumber.objects.filter(organization=organization).update(friendly_name="Main line")
    TelephonyAccount.objects.filter(organization=organization).update(name="Renamed account")
    Organization.objects.filter(pk=organization.pk).update(max_concurrent_calls=3)
    ApiKey.objects.filter(pk=setup["key"].pk).update(name="renamed key")
    assert version() == before + 5
    # The once-a-minute last_used_at write changes nothing cached.
    ApiKey.objects.filter(pk=setup["key"].pk).update(last_used_at=timezone.now())
    assert version() == before + 5


def test_a_key_revoked_through_the_service_is_refused_by_the_other_process(
    setup: dict[str, Any], other: OtherProcess
) -> None:
    warmed(other, setup["key"])

    api_key_revoke(api_key=setup["key"])

    assert validate(other, setup["key"])[0] == 401


def test_a_key_revoked_through_the_api_is_refused_by_the_other_process(
    setup: dict[str, Any], other: OtherProcess, client_for: Any
) -> None:
    target = ApiKeyFactory(organization=setup["organization"])
    warmed(other, target)

    response = client_for(setup["key"].raw_key).delete(f"/api/v1/api-keys/{target.pk}")
    assert response.status_code in (200, 204), response.content

    assert validate(other, target)[0] == 401


def test_a_key_revoked_with_queryset_update_is_refused_by_the_other_process(
    setup: dict[str, Any], other: OtherProcess
) -> None:
    warmed(other, setup["key"])

    ApiKey.objects.filter(pk=setup["key"].pk).update(revoked_at=timezone.now())

    assert validate(other, setup["key"])[0] == 401


def test_a_key_revoked_in_the_admin_is_refused_by_the_other_process(
    setup: dict[str, Any], other: OtherProcess, admin_client: Any
) -> None:
    warmed(other, setup["key"])

    response = admin_client.post(
        "/admin/burki/apikey/", {"action": "revoke_selected_keys", "_selected_action": [setup["key"].pk]}, follow=True
    )
    assert response.status_code == 200
    assert ApiKey.objects.get(pk=setup["key"].pk).revoked_at is not None

    assert validate(other, setup["key"])[0] == 401


def test_a_bound_key_stops_with_its_creators_membership_in_the_other_process(
    setup: dict[str, Any], other: OtherProcess
) -> None:
    user = UserFactory()
    MembershipFactory(user=user, organization=setup["organization"], role=Membership.Role.ADMIN)
    key = ApiKeyFactory(organization=setup["organization"], created_by=user, bound_to_creator=True)
    warmed(other, key)

    Membership.objects.filter(user=user).delete()

    assert validate(other, key)[0] == 401


def test_a_bound_key_stops_when_its_creator_is_deactivated_in_the_other_process(
    setup: dict[str, Any], other: OtherProcess
) -> None:
    user = UserFactory()
    MembershipFactory(user=user, organization=setup["organization"], role=Membership.Role.ADMIN)
    key = ApiKeyFactory(organization=setup["organization"], created_by=user, bound_to_creator=True)
    warmed(other, key)

    type(user).objects.filter(pk=user.pk).update(is_active=False)

    assert validate(other, key)[0] == 401


def test_a_deactivated_number_is_not_found_by_the_other_process(setup: dict[str, Any], other: OtherProcess) -> None:
    warmed(other, setup["key"])

    PhoneNumber.objects.filter(pk=setup["number"].pk).update(is_active=False)

    assert validate(other, setup["key"])[0] == 404


def test_a_number_patched_through_the_api_is_seen_by_the_other_process(
    setup: dict[str, Any], other: OtherProcess, client_for: Any
) -> None:
    warmed(other, setup["key"])
    flow = ConversationFlowFactory(organization=setup["organization"])

    response = client_for(setup["key"].raw_key).patch(
        f"/api/v1/phone-numbers/{setup['number'].pk}", {"flow_id": flow.pk, "assistant_id": None}, format="json"
    )
    assert response.status_code == 200, response.content

    status, body = validate(other, setup["key"])
    assert status == 200, body
    assert (body["flow_id"], body["assistant_id"]) == (flow.pk, flow.base_assistant_id)


def test_a_changed_assistant_is_used_by_the_other_process(setup: dict[str, Any], other: OtherProcess) -> None:
    warmed(other, setup["key"])

    Assistant.objects.filter(pk=setup["number"].assistant_id).update(welcome_message="Changed greeting.")

    status, body = validate(other, setup["key"])
    assert status == 200, body
    assert body["welcome_message"] == "Changed greeting."


def test_a_deactivated_assistant_is_refused_by_the_other_process(setup: dict[str, Any], other: OtherProcess) -> None:
    warmed(other, setup["key"])

    setup["number"].assistant.is_active = False
    setup["number"].assistant.save()

    assert validate(other, setup["key"])[0] == 409


def test_a_deactivated_account_is_refused_by_the_other_process(setup: dict[str, Any], other: OtherProcess) -> None:
    warmed(other, setup["key"])

    TelephonyAccount.objects.filter(pk=setup["number"].telephony_account_id).update(is_active=False)

    assert validate(other, setup["key"])[0] == 409


def test_a_changed_destination_policy_is_applied_by_the_other_process(
    setup: dict[str, Any], other: OtherProcess
) -> None:
    warmed(other, setup["key"])

    Organization.objects.filter(pk=setup["organization"].pk).update(allowed_destination_countries=["GB"])

    assert validate(other, setup["key"])[0] == 403
